#!/usr/bin/env bash
# Copy benchmark, one run: `vouch copy` against `skopeo copy --all` of the same image between
# two local registries (distribution 2.8, loopback), same machine, same run.
#
# The image: four layers of 25 MiB of random bytes (100 MiB that do not compress), pushed to
# registry A, then signed and attested with a key in cosign's tag layout (.sig, .att) and as
# Sigstore bundle referrers (a v3 signature and a v3 attestation). vouch copies all of that;
# skopeo copies the image only (it carries no .att tag and no referrers).
#
# Each round starts a fresh registry B (so neither tool finds blobs there, nor can mount them
# from a copy of an earlier round), then copies A -> B with each tool, alternating which goes
# first. Prints each round, the medians and the ratio vouch / skopeo (goal <= 1.0x).
#
#   bash tests/benches/copy.sh            # builds vouch (release), 7 rounds
#   VOUCH_BENCH_ROUNDS=11 bash tests/benches/copy.sh
#
# It reports; it asserts nothing about time.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
target_dir=${CARGO_TARGET_DIR:-$repo/target}
rounds=${VOUCH_BENCH_ROUNDS:-7}

for tool in umoci skopeo docker-registry python3; do
  command -v "$tool" >/dev/null || { echo "copy.sh: $tool is needed" >&2; exit 1; }
done

echo "building vouch (release)" >&2
cargo build --release --quiet -p vouch
vouch=$target_dir/release/vouch

work=$(mktemp -d "${TMPDIR:-/tmp}/vouch-copy-bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# start_registry NAME: starts a registry with its own storage; prints its address.
start_registry() {
  local name=$1
  cat > "$work/$name.yml" <<YAML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $work/$name
http:
  addr: 127.0.0.1:0
YAML
  docker-registry serve "$work/$name.yml" > "$work/$name.log" 2>&1 &
  echo $! > "$work/$name.pid"
  local addr=
  for _ in $(seq 1 200); do
    addr=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/$name.log" | head -n1)
    [ -n "$addr" ] && break
    sleep 0.05
  done
  [ -n "$addr" ] || { cat "$work/$name.log" >&2; exit 1; }
  echo "$addr"
}

a=$(start_registry a)
pids+=("$(cat "$work/a.pid")")

echo "building the 100 MiB image" >&2
umoci init --layout "$work/layout" >/dev/null
umoci new --image "$work/layout:bench"
for i in 1 2 3 4; do
  head -c $((25 * 1024 * 1024)) /dev/urandom > "$work/layer$i"
  umoci insert --image "$work/layout:bench" "$work/layer$i" "/layer$i" >/dev/null
  rm -f "$work/layer$i"
done
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:bench" "docker://$a/bench:v1"
image=$a/bench:v1

export VOUCH_PASSWORD=bench
"$vouch" generate-key-pair --output-key-prefix "$work/bench" > /dev/null
echo '{"bench":true}' > "$work/predicate.json"
"$vouch" sign --key "$work/bench.key" -y "$image" > /dev/null
"$vouch" sign --key "$work/bench.key" -y --bundle-format v3 "$image" > /dev/null
"$vouch" attest --key "$work/bench.key" -y --type custom --predicate "$work/predicate.json" "$image" > /dev/null
"$vouch" attest --key "$work/bench.key" -y --type custom --predicate "$work/predicate.json" \
  --bundle-format v3 "$image" > /dev/null

# seconds COMMAND...: the wall time of COMMAND, in seconds.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" > "$work/out" 2> "$work/err" || { echo "copy.sh: $* failed:" >&2; cat "$work/err" >&2; exit 1; }
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.3f}')"
}

results=()
for round in $(seq 1 "$rounds"); do
  b=$(start_registry "b$round")
  pid=$(cat "$work/b$round.pid")
  run_vouch() { seconds "$vouch" copy "$image" "$b/vouch:v1"; }
  run_skopeo() {
    seconds skopeo copy --all --quiet --src-tls-verify=false --dest-tls-verify=false \
      "docker://$image" "docker://$b/skopeo:v1"
  }
  if [ $((round % 2)) -eq 1 ]; then
    v=$(run_vouch); s=$(run_skopeo)
  else
    s=$(run_skopeo); v=$(run_vouch)
  fi
  echo "round $round: vouch copy ${v}s, skopeo copy --all ${s}s" >&2
  results+=("$v $s")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work/b$round"
done

# What the last vouch copy carried, as it reported it.
"$vouch" tree -o json "$image" > "$work/tree.json"
python3 - "$work/tree.json" "${results[@]}" <<'PY'
import json, statistics, sys
tree = json.load(open(sys.argv[1]))
rows = [tuple(map(float, r.split())) for r in sys.argv[2:]]
v = statistics.median(r[0] for r in rows)
s = statistics.median(r[1] for r in rows)
tags = len(tree["tags"])
referrers = len(tree["referrers"])
print(f"Copy benchmark: 100 MiB image (4 random layers) between two local registries, "
      f"{len(rows)} rounds, same run")
print(f"  vouch copy            median {v:.3f} s  (image + {tags} cosign tags + {referrers} referrers)")
print(f"  skopeo copy --all     median {s:.3f} s  (image only)")
print(f"  vouch / skopeo: {v / s:.2f}x (goal <= 1.0x)")
PY
