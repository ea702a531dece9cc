//! RFC 6962 Merkle tree hashes and inclusion proofs, as transparency logs (Rekor v1 and v2,
//! Certificate Transparency) use them.
//!
//! A leaf's hash is `SHA-256(0x00 || data)` and an inner node's `SHA-256(0x01 || left ||
//! right)` (RFC 6962 section 2.1, RFC 9162 section 2.1.1); the two prefixes keep a leaf from
//! passing for a node. [`verify_inclusion`] is the verification algorithm of RFC 9162
//! section 2.1.3.2, step for step.

use aws_lc_rs::digest;

use crate::VerifyError;

/// Length in bytes of every hash in the tree (SHA-256).
pub const HASH_LEN: usize = 32;

/// A leaf, node or root hash.
pub type Hash = [u8; HASH_LEN];

/// The length of an inner node's input: a prefix byte and two hashes.
const NODE_LEN: usize = 1 + 2 * HASH_LEN;

/// SHA-256 of the concatenation of `parts`. Inputs up to a node's length are gathered and
/// hashed in one call: a proof path hashes dozens of nodes, and an incremental context costs
/// more than hashing 65 bytes.
pub(crate) fn sha256(parts: &[&[u8]]) -> Hash {
    let mut out = [0u8; HASH_LEN];
    let len: usize = parts.iter().map(|part| part.len()).sum();
    if len <= NODE_LEN {
        let mut input = [0u8; NODE_LEN];
        let mut at = 0;
        for part in parts {
            input[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        out.copy_from_slice(digest::digest(&digest::SHA256, &input[..len]).as_ref());
        return out;
    }
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part);
    }
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The hash of a leaf holding `data`: `SHA-256(0x00 || data)`. For a Rekor entry `data` is
/// the entry's canonicalized body.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// The hash of an inner node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// Reads `bytes` as a hash, refusing any length but 32 with
/// [`VerifyError::InclusionHashLength`] naming `what`.
/// `what` is formatted only for the error (`format_args!` names a proof's hashes for free).
pub fn hash_from_slice(bytes: &[u8], what: impl std::fmt::Display) -> Result<Hash, VerifyError> {
    <Hash>::try_from(bytes).map_err(|_| VerifyError::InclusionHashLength {
        what: what.to_string(),
        len: bytes.len(),
    })
}

/// The number of hashes an inclusion proof for leaf `leaf_index` of a tree of `tree_size`
/// leaves has: the hashes below the point where the paths to the leaf and to the last leaf
/// part, plus one per left sibling above it. Fails with
/// [`VerifyError::InclusionIndexOutOfRange`] when the leaf is not in the tree.
pub fn inclusion_proof_len(leaf_index: u64, tree_size: u64) -> Result<usize, VerifyError> {
    if leaf_index >= tree_size {
        return Err(VerifyError::InclusionIndexOutOfRange {
            index: leaf_index,
            tree_size,
        });
    }
    let last = tree_size - 1;
    let inner = u64::BITS - (leaf_index ^ last).leading_zeros();
    let border = leaf_index.checked_shr(inner).unwrap_or(0).count_ones();
    // Both are at most 64.
    Ok((inner + border) as usize)
}

/// The root hash that `proof` leads to from leaf `leaf_index` (hash `leaf_hash`) of a tree
/// of `tree_size` leaves, by RFC 9162 section 2.1.3.2. Fails when the index is not inside
/// the tree, or when the proof is not exactly as long as the index and size need
/// ([`inclusion_proof_len`]); it never compares against a root, [`verify_inclusion`] does.
pub fn root_from_inclusion_proof(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    // Step 1 (index below size) is checked here, and the length up front so that a wrong
    // length is reported as such rather than as a root mismatch.
    let expected = inclusion_proof_len(leaf_index, tree_size)?;
    let length_error = || VerifyError::InclusionProofLength {
        index: leaf_index,
        tree_size,
        got: proof.len(),
        expected,
    };
    if proof.len() != expected {
        return Err(length_error());
    }
    // Steps 2 and 3.
    let mut f_n = leaf_index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf_hash;
    // Step 4.
    for p in proof {
        // 4a: a proof longer than the path to the root.
        if s_n == 0 {
            return Err(length_error());
        }
        if f_n & 1 == 1 || f_n == s_n {
            // 4b: `p` is a left sibling.
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                // The right border: skip the levels where the node has no right sibling.
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            // Otherwise `p` is a right sibling.
            r = node_hash(&r, p);
        }
        // 4c.
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5, first half: a proof that stops short of the root.
    if s_n != 0 {
        return Err(length_error());
    }
    Ok(r)
}

/// Verifies that `proof` proves leaf `leaf_index`, whose hash is `leaf_hash`, to be in the
/// tree of `tree_size` leaves whose root hash is `expected_root` (RFC 9162 section 2.1.3.2).
///
/// `Ok` only when the index is below the size, the proof has exactly the number of hashes the
/// index and size need, and hashing up the proof gives `expected_root`. Otherwise
/// [`VerifyError::InclusionIndexOutOfRange`], [`VerifyError::InclusionProofLength`] or
/// [`VerifyError::InclusionRootMismatch`] (with both roots in hex).
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    expected_root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof(leaf_index, tree_size, leaf_hash, proof)?;
    // Step 5, second half.
    if computed != *expected_root {
        return Err(VerifyError::InclusionRootMismatch {
            computed: vouch_keys::hex(&computed),
            expected: vouch_keys::hex(expected_root),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH(D[n]) of RFC 6962 section 2.1, written the way the RFC defines it: the largest
    /// power of two below n splits the leaves.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => sha256(&[]),
            1 => leaves[0],
            n => {
                let k = split(n);
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    /// The largest power of two smaller than n (n > 1).
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// PATH(m, D[n]) of RFC 6962 section 2.1.1: the audit path for leaf m.
    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn leaf_and_node_hashes_have_the_rfc_6962_prefixes() {
        // SHA-256 of the single byte 0x00: the leaf hash of empty data, as in RFC 6962 test
        // data (transparency-dev/merkle `rfc6962` tests).
        assert_eq!(
            vouch_keys::hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let l = leaf_hash(b"l");
        let r = leaf_hash(b"r");
        let mut concatenated = vec![0x01];
        concatenated.extend_from_slice(&l);
        concatenated.extend_from_slice(&r);
        assert_eq!(node_hash(&l, &r), sha256(&[&concatenated]));
        assert_ne!(node_hash(&l, &r), node_hash(&r, &l));
    }

    #[test]
    fn gathered_and_incremental_hashing_agree_on_either_side_of_a_node_length() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(2 * NODE_LEN).collect();
        for len in 0..=2 * NODE_LEN {
            let (a, b) = bytes[..len].split_at(len / 3);
            let expected = digest::digest(&digest::SHA256, &bytes[..len]);
            assert_eq!(sha256(&[a, b]).as_slice(), expected.as_ref(), "{len} bytes");
        }
    }

    #[test]
    fn every_leaf_of_trees_up_to_70_leaves_is_proven() {
        for n in 1..=70usize {
            let tree = leaves(n);
            let root = mth(&tree);
            for (m, leaf) in tree.iter().enumerate() {
                let proof = path(m, &tree);
                let (index, size) = (m as u64, n as u64);
                assert_eq!(inclusion_proof_len(index, size).unwrap(), proof.len());
                verify_inclusion(index, size, leaf, &proof, &root)
                    .unwrap_or_else(|e| panic!("leaf {m} of {n}: {e}"));
            }
        }
    }

    #[test]
    fn the_rfc_6962_example_tree_of_seven_leaves() {
        // RFC 6962 section 2.1.3 draws the 7-leaf tree: leaf hashes a..f of d0..d5, j of d6,
        // g = a+b, h = c+d, i = e+f, k = g+h, l = i+j. The audit path for d0 is [b, h, l],
        // for d3 [c, g, l], for d4 [f, j, k], for d6 [i, k].
        let tree = leaves(7);
        let h = |a: usize, b: usize| mth(&tree[a..b]);
        let root = mth(&tree);
        let d0 = [tree[1], h(2, 4), h(4, 7)];
        verify_inclusion(0, 7, &tree[0], &d0, &root).unwrap();
        let d3 = [tree[2], h(0, 2), h(4, 7)];
        verify_inclusion(3, 7, &tree[3], &d3, &root).unwrap();
        let d4 = [tree[5], tree[6], h(0, 4)];
        verify_inclusion(4, 7, &tree[4], &d4, &root).unwrap();
        let d6 = [h(4, 6), h(0, 4)];
        verify_inclusion(6, 7, &tree[6], &d6, &root).unwrap();
    }

    #[test]
    fn a_single_leaf_tree_needs_an_empty_proof() {
        let leaf = leaf_hash(b"only");
        verify_inclusion(0, 1, &leaf, &[], &leaf).unwrap();
        let error = verify_inclusion(0, 1, &leaf, &[leaf], &leaf).unwrap_err();
        assert!(matches!(
            error,
            VerifyError::InclusionProofLength {
                got: 1,
                expected: 0,
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            "inclusion proof: 1 hash given, but leaf 0 of a tree of size 1 needs exactly 0"
        );
    }

    #[test]
    fn an_index_outside_the_tree_is_refused() {
        let leaf = leaf_hash(b"x");
        for (index, size) in [(0, 0), (5, 5), (6, 5), (u64::MAX, u64::MAX)] {
            assert_eq!(
                verify_inclusion(index, size, &leaf, &[], &leaf),
                Err(VerifyError::InclusionIndexOutOfRange {
                    index,
                    tree_size: size
                })
            );
        }
    }

    #[test]
    fn proofs_one_hash_too_long_or_too_short_are_refused() {
        let tree = leaves(13);
        let root = mth(&tree);
        for m in 0..13 {
            let proof = path(m, &tree);
            let mut longer = proof.clone();
            longer.push(root);
            let err = verify_inclusion(m as u64, 13, &tree[m], &longer, &root).unwrap_err();
            assert!(
                matches!(err, VerifyError::InclusionProofLength { got, expected, .. } if got == expected + 1),
                "{err}"
            );
            let shorter = &proof[..proof.len() - 1];
            assert!(matches!(
                verify_inclusion(m as u64, 13, &tree[m], shorter, &root),
                Err(VerifyError::InclusionProofLength { .. })
            ));
        }
    }

    #[test]
    fn tampered_proofs_leaves_and_roots_are_refused_with_both_roots() {
        let tree = leaves(21);
        let root = mth(&tree);
        let m = 13;
        let proof = path(m, &tree);
        for i in 0..proof.len() {
            let mut tampered = proof.clone();
            tampered[i][7] ^= 0x10;
            match verify_inclusion(m as u64, 21, &tree[m], &tampered, &root) {
                Err(VerifyError::InclusionRootMismatch { computed, expected }) => {
                    assert_eq!(expected, vouch_keys::hex(&root));
                    assert_ne!(computed, expected);
                }
                other => panic!("hash {i} flipped: {other:?}"),
            }
        }
        // Another leaf, another position, another root: all fail.
        assert!(verify_inclusion(m as u64, 21, &tree[m + 1], &proof, &root).is_err());
        assert!(verify_inclusion(m as u64 + 1, 21, &tree[m], &proof, &root).is_err());
        assert!(verify_inclusion(m as u64, 21, &tree[m], &proof, &mth(&tree[..20])).is_err());
        // The proof for the same leaf in a smaller tree does not prove it in this one.
        let smaller = path(m, &tree[..20]);
        assert!(verify_inclusion(m as u64, 21, &tree[m], &smaller, &root).is_err());
        // Swapping two proof hashes changes the root.
        let mut swapped = proof.clone();
        swapped.swap(0, 1);
        assert!(verify_inclusion(m as u64, 21, &tree[m], &swapped, &root).is_err());
    }

    #[test]
    fn proof_lengths_in_huge_trees_do_not_overflow() {
        assert_eq!(inclusion_proof_len(0, u64::MAX).unwrap(), 64);
        assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX).unwrap(), 63);
        assert_eq!(inclusion_proof_len(1 << 63, u64::MAX).unwrap(), 64);
        assert_eq!(inclusion_proof_len(75_408_392, 75_408_393).unwrap(), 11);
    }

    #[test]
    fn hashes_of_the_wrong_length_are_named() {
        assert_eq!(
            hash_from_slice(&[0; 31], "root hash"),
            Err(VerifyError::InclusionHashLength {
                what: "root hash".into(),
                len: 31
            })
        );
        assert_eq!(hash_from_slice(&[7; 32], "x").unwrap(), [7; 32]);
    }
}
