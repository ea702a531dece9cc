#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 600) on one core, from the seed corpora
# that fuzz/seeds.py writes from the conformance test vectors.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (targets: bundle_verify der_parsers read_tar
#                                          signed_documents sbom_catalogers oci_layout
#                                          docker_config trust_policy;
#                                          default all)
#
# Works on stable Rust: RUSTC_BOOTSTRAP=1 lets stable rustc take the nightly-only
# -Zsanitizer=address flag that cargo-fuzz passes. Set FUZZ_SANITIZER=none to build without
# AddressSanitizer (faster; a panic is still caught). Extra libFuzzer flags can be given in
# FUZZ_ARGS. New corpus entries go to fuzz/corpus/<target>/, crashes to fuzz/artifacts/<target>/,
# each run's log to fuzz/logs/<target>.log (all three ignored by git).
set -euo pipefail

SECONDS_PER_TARGET=${1:-600}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(bundle_verify der_parsers read_tar signed_documents sbom_catalogers oci_layout docker_config trust_policy)

FUZZ=$(cd "$(dirname "$0")" && pwd)
cd "$FUZZ"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

python3 "$FUZZ/seeds.py" "$FUZZ/seeds"
mkdir -p "$FUZZ/logs"

status=0
for target in "${TARGETS[@]}"; do
    case $target in
        bundle_verify) dict=bundle.dict ;;
        der_parsers) dict=der.dict ;;
        read_tar) dict=tar.dict ;;
        signed_documents) dict=bundle.dict ;;
        sbom_catalogers) dict=sbom.dict ;;
        oci_layout) dict=layout.dict ;;
        docker_config) dict=docker.dict ;;
        trust_policy) dict=policy.dict ;;
        *) echo "unknown target $target" >&2; exit 2 ;;
    esac
    mkdir -p "corpus/$target"
    echo "== $target: ${SECONDS_PER_TARGET}s" >&2
    # One fuzzing process (libFuzzer's default; -jobs/-workers would fork children that log
    # to fuzz-N.log instead). -rss_limit_mb leaves room for ASan's shadow memory.
    # shellcheck disable=SC2086
    if ! cargo fuzz run --sanitizer "${FUZZ_SANITIZER:-address}" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -dict="$dict" -max_total_time="$SECONDS_PER_TARGET" \
        -rss_limit_mb=4096 -print_final_stats=1 ${FUZZ_ARGS:-} \
        2>&1 | tee "logs/$target.log"; then
        status=1
        echo "== $target: FAILED (see fuzz/artifacts/$target/)" >&2
    fi
    runs=$(grep -aEo 'Done [0-9]+ runs' "logs/$target.log" | tail -1 || true)
    echo "== $target: ${runs:-no final count}" >&2
done
exit $status
