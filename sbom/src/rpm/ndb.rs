//! A reader of rpm's own "ndb" package database, `Packages.db` (SUSE; rpm's
//! lib/backend/ndb/rpmpkg.c). All numbers are little-endian.
//!
//! * A 32-byte header: magic `RpmP`, version 0, generation, the number of 4 KiB slot pages,
//!   the next package index.
//! * The slot pages follow (the header takes the first two 16-byte slots of page 0): each
//!   slot is magic `Slot`, package index, block offset, block count; a block offset of 0
//!   marks a free slot.
//! * A blob starts at block offset × 16: magic `BlbS`, package index, generation, length;
//!   the header blob; zero padding to a 16-byte block; and a 12-byte tail: the Adler-32 of
//!   everything from the blob's magic to the padding's end, the length again, magic `BlbE`.
//!
//! Each blob's index, length, tail and checksum are verified; a blob that fails is reported
//! and skipped.

const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const BLOB_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const TAIL_MAGIC: u32 = u32::from_le_bytes(*b"BlbE");
const PAGE_SIZE: usize = 4096;
const BLOCK: usize = 16;
const BLOB_HEAD: usize = 16;
const BLOB_TAIL: usize = 12;

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// Adler-32 (RFC 1950, section 8.2).
fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in bytes.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Calls `blob` with every package header in the ndb database in `data`, or with the reason
/// one could not be read; fails when the file header or the slot pages are not ndb.
pub(super) fn for_each_blob(data: &[u8], blob: &mut super::BlobSink<'_>) -> Result<(), String> {
    if le32(data, 0) != Some(HEADER_MAGIC) {
        return Err("not an ndb database".to_owned());
    }
    if le32(data, 4) != Some(0) {
        return Err(format!("ndb version {}", le32(data, 4).unwrap_or_default()));
    }
    let slot_pages = le32(data, 12).unwrap_or_default() as usize;
    let slots_end = slot_pages
        .checked_mul(PAGE_SIZE)
        .filter(|&end| slot_pages > 0 && end <= data.len())
        .ok_or_else(|| format!("{slot_pages} slot pages in a file of {} bytes", data.len()))?;
    // Blobs do not overlap in a sound file; slots naming one blob many times would make
    // the checksum work quadratic.
    let mut budget = data.len();
    for slot in data[32..slots_end].chunks_exact(16) {
        if le32(slot, 0) != Some(SLOT_MAGIC) {
            return Err("bad slot magic".to_owned());
        }
        let index = le32(slot, 4).unwrap_or_default();
        let offset = le32(slot, 8).unwrap_or_default() as usize;
        let blocks = le32(slot, 12).unwrap_or_default() as usize;
        if offset == 0 {
            continue;
        }
        budget = budget
            .checked_sub(blocks.saturating_mul(BLOCK))
            .ok_or("the slots name more bytes than the file")?;
        match read_blob(data, index, offset, blocks) {
            Ok(bytes) => blob(Ok(bytes)),
            Err(e) => blob(Err(format!("package {index}: {e}"))),
        }
    }
    Ok(())
}

/// The verified header blob of package `index` at block `offset`, `blocks` long.
fn read_blob(data: &[u8], index: u32, offset: usize, blocks: usize) -> Result<&[u8], String> {
    let start = offset.checked_mul(BLOCK).ok_or("offset overflows")?;
    let whole = blocks
        .checked_mul(BLOCK)
        .and_then(|len| data.get(start..start.checked_add(len)?))
        .ok_or("blob runs past the file")?;
    if whole.len() < BLOB_HEAD + BLOB_TAIL {
        return Err("blob shorter than its head and tail".to_owned());
    }
    if le32(whole, 0) != Some(BLOB_MAGIC) {
        return Err("bad blob magic".to_owned());
    }
    if le32(whole, 4) != Some(index) {
        return Err("blob of another package".to_owned());
    }
    let length = le32(whole, 12).unwrap_or_default() as usize;
    if (BLOB_HEAD + length + BLOB_TAIL).div_ceil(BLOCK) != blocks {
        return Err(format!(
            "blob length {length} does not fill {blocks} blocks"
        ));
    }
    let tail = whole.len() - BLOB_TAIL;
    if le32(whole, tail + 4) != Some(length as u32) || le32(whole, tail + 8) != Some(TAIL_MAGIC) {
        return Err("bad blob tail".to_owned());
    }
    if le32(whole, tail) != Some(adler32(&whole[..tail])) {
        return Err("blob checksum mismatch".to_owned());
    }
    Ok(&whole[BLOB_HEAD..BLOB_HEAD + length])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_matches_rfc_1950() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let long = vec![0xffu8; 100_000];
        // Computed with zlib.adler32.
        assert_eq!(adler32(&long), 0x149a_302c);
    }

    /// An ndb file with one blob at block 256 and `slots` slots all naming it.
    fn with_slots(blob: &[u8], slots: usize) -> Vec<u8> {
        let mut file = Vec::new();
        for n in [HEADER_MAGIC, 0, 1, 1, 2, 0, 0, 0] {
            file.extend_from_slice(&n.to_le_bytes());
        }
        let blocks = (BLOB_HEAD + blob.len() + BLOB_TAIL).div_ceil(BLOCK) as u32;
        for i in 0..PAGE_SIZE / 16 - 2 {
            let used = i < slots;
            for n in [SLOT_MAGIC, 1, if used { 256 } else { 0 }, blocks] {
                file.extend_from_slice(&n.to_le_bytes());
            }
        }
        let start = file.len();
        for n in [BLOB_MAGIC, 1, 1, blob.len() as u32] {
            file.extend_from_slice(&n.to_le_bytes());
        }
        file.extend_from_slice(blob);
        file.resize(start + blocks as usize * BLOCK - BLOB_TAIL, 0);
        let sum = adler32(&file[start..]);
        for n in [sum, blob.len() as u32, TAIL_MAGIC] {
            file.extend_from_slice(&n.to_le_bytes());
        }
        file
    }

    #[test]
    fn reads_verified_blobs_once_each() {
        let blob = [7u8; 2000];
        let file = with_slots(&blob, 1);
        let mut found = Vec::new();
        for_each_blob(&file, &mut |b| found.push(b.map(<[u8]>::to_vec))).unwrap();
        assert_eq!(found, [Ok(blob.to_vec())]);

        let mut damaged = file.clone();
        damaged[PAGE_SIZE + 100] ^= 1;
        let mut found = Vec::new();
        for_each_blob(&damaged, &mut |b| found.push(b.map(<[u8]>::to_vec))).unwrap();
        assert_eq!(found, [Err("package 1: blob checksum mismatch".to_owned())]);

        // Slots naming one blob over and over: refused before the work grows.
        let repeated = with_slots(&blob, 200);
        assert!(for_each_blob(&repeated, &mut |_| {}).is_err());
    }

    #[test]
    fn refuses_what_is_not_ndb() {
        let mut nothing = |_: Result<&[u8], String>| {};
        assert!(for_each_blob(b"", &mut nothing).is_err());
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"RpmP");
        header[12..16].copy_from_slice(&1u32.to_le_bytes());
        assert!(for_each_blob(&header, &mut nothing).is_err());
        header[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(for_each_blob(&header, &mut nothing).is_err());
    }
}
