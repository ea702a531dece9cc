#!/usr/bin/env bash
# vouch quick start: build vouch, write a small image into an OCI layout (the embedded default
# store: no registry needed), generate a key pair, sign the image, verify it, write SLSA
# provenance for it, attest it and verify the attestation against a Rego policy, then show
# that a tampered image fails verification and why.
#
# Needs only Rust, bash, coreutils, tar and gzip. Work files go to $WORK (default: a new
# temporary directory), which is printed at the end.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/vouch-quickstart.XXXXXX")}
mkdir -p "$WORK"

# Bold headings only for a terminal; a log gets plain text.
if [ -t 1 ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi
run() { printf '$ %s\n' "$*"; "$@"; }

# VOUCH_BIN=path uses a vouch already built; otherwise cargo builds it, or finds it up to date.
if [ -n "${VOUCH_BIN:-}" ]; then
  vouch=$VOUCH_BIN
  say "Using $vouch"
else
  say "Building vouch (the first build compiles its dependencies: a few minutes on 2 cores)"
  (cd "$repo" && cargo build -p vouch)
  target_dir=${CARGO_TARGET_DIR:-$repo/target}
  vouch="$target_dir/debug/vouch"
fi
vouch() { "$vouch" "$@"; }

# write_blob LAYOUT FILE: stores FILE as a blob of LAYOUT, prints "sha256:<hex> <size>".
write_blob() {
  local hex size
  hex=$(sha256sum "$2" | cut -d' ' -f1)
  size=$(stat -c %s "$2")
  mkdir -p "$1/blobs/sha256"
  cp "$2" "$1/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

# make_image LAYOUT GREETING: writes a one-layer linux/amd64 image whose /hello.txt holds
# GREETING into the OCI layout LAYOUT (creating it), and prints the manifest's "digest size".
make_image() {
  local layout=$1 scratch
  scratch=$(mktemp -d)
  mkdir -p "$scratch/rootfs" "$layout/blobs/sha256"
  printf '%s\n' "$2" > "$scratch/rootfs/hello.txt"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$scratch/rootfs" -cf "$scratch/layer.tar" .
  local diff_id
  diff_id="sha256:$(sha256sum "$scratch/layer.tar" | cut -d' ' -f1)"
  gzip -n -c "$scratch/layer.tar" > "$scratch/layer.tar.gz"
  local layer config manifest
  read -r layer_digest layer_size < <(write_blob "$layout" "$scratch/layer.tar.gz")
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["cat","/hello.txt"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$diff_id" > "$scratch/config.json"
  read -r config_digest config_size < <(write_blob "$layout" "$scratch/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$layer_size" > "$scratch/manifest.json"
  write_blob "$layout" "$scratch/manifest.json"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  rm -rf "$scratch"
}

# index_entry DIGEST SIZE TAG: one index.json entry naming a manifest.
index_entry() {
  printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}' "$1" "$2" "$3"
}

say "Writing a sample image into the OCI layout $WORK/image"
rm -rf "$WORK/image"
read -r image_digest image_size < <(make_image "$WORK/image" "hello from vouch")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' \
  "$(index_entry "$image_digest" "$image_size" v1)" > "$WORK/image/index.json"
echo "oci:$WORK/image:v1 is $image_digest"

say "Generating a key pair (the password comes from VOUCH_PASSWORD, else the terminal)"
export VOUCH_PASSWORD=${VOUCH_PASSWORD:-quickstart-password}
run vouch generate-key-pair --output-key-prefix "$WORK/cosign" --force

say "Signing the image"
run vouch sign --key "$WORK/cosign.key" -a release=quickstart "oci:$WORK/image:v1"
sig_tag="sha256-${image_digest#sha256:}.sig"

say "Verifying it"
run vouch verify --key "$WORK/cosign.pub" -a release=quickstart "oci:$WORK/image:v1"

say "Writing SLSA provenance for it (outside CI, the build facts are given as flags)"
run vouch provenance --builder-id https://ci.example/builders/quickstart \
  --source-uri git+https://git.example/hello@refs/heads/main \
  --source-digest gitCommit=0123456789abcdef0123456789abcdef01234567 \
  --output-file "$WORK/provenance.json" --force "oci:$WORK/image:v1"

say "Attesting the provenance (a signed DSSE envelope in the image's .att tag)"
run vouch attest --key "$WORK/cosign.key" --predicate "$WORK/provenance.json" \
  --type slsaprovenance1 --replace "oci:$WORK/image:v1"

say "Verifying the attestation against a Rego policy on its builder and source"
cat > "$WORK/policy.rego" <<'REGO'
package signature
import rego.v1

deny contains msg if {
	builder := input.predicate.runDetails.builder.id
	builder != "https://ci.example/builders/quickstart"
	msg := sprintf("built by %s, not the quickstart builder", [builder])
}

deny contains msg if {
	some dependency in input.predicate.buildDefinition.resolvedDependencies
	not startswith(dependency.uri, "git+https://git.example/")
	msg := sprintf("source %s is not on git.example", [dependency.uri])
}
REGO
run vouch verify-attestation --key "$WORK/cosign.pub" --type slsaprovenance1 \
  --policy "$WORK/policy.rego" "oci:$WORK/image:v1"

say "Deciding it with a trust policy: signed by the key with release=quickstart, and provenance that passes the Rego policy"
cat > "$WORK/trust.yaml" <<'YAML'
apiVersion: vouch.dev/v1
kind: TrustPolicy
authorities:
  release: {key: {path: cosign.pub}}
scopes:
  - images: ["**"]
    authorities: [release]
    annotations: {release: quickstart}
    attestations:
      - type: https://slsa.dev/provenance/v1
        rego: policy.rego
YAML
run vouch policy lint "$WORK/trust.yaml"
run vouch verify --policy "$WORK/trust.yaml" "oci:$WORK/image:v1"

say "Tampering: a different image under the same tag, with the original signature copied to it"
rm -rf "$WORK/tampered"
cp -r "$WORK/image" "$WORK/tampered"
read -r bad_digest bad_size < <(make_image "$WORK/tampered" "hello from an attacker")
sig_entry=$(grep -o "{[^{}]*\"digest\":\"sha256:[0-9a-f]*\",\"size\":[0-9]*,\"annotations\":{\"org.opencontainers.image.ref.name\":\"$sig_tag\"}}" "$WORK/image/index.json")
sig_digest=$(sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' <<<"$sig_entry")
sig_size=$(sed -n 's/.*"size":\([0-9]*\).*/\1/p' <<<"$sig_entry")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
  "$(index_entry "$bad_digest" "$bad_size" v1)" \
  "$(index_entry "$sig_digest" "$sig_size" "sha256-${bad_digest#sha256:}.sig")" > "$WORK/tampered/index.json"
echo "oci:$WORK/tampered:v1 is $bad_digest, carrying the signature made for $image_digest"

say "Verifying the tampered image (this must fail)"
set +e
run vouch verify --key "$WORK/cosign.pub" "oci:$WORK/tampered:v1"
status=$?
set -e
if [ "$status" -ne 1 ]; then
  echo "quickstart: expected exit 1 (denied) from the tampered image, got $status" >&2
  exit 1
fi
set +e
run vouch verify --policy "$WORK/trust.yaml" "oci:$WORK/tampered:v1"
policy_status=$?
set -e
if [ "$policy_status" -ne 1 ]; then
  echo "quickstart: expected exit 1 (denied) from the trust policy on the tampered image, got $policy_status" >&2
  exit 1
fi
say "Done: the tampered image was denied (exit $status), by the key and by the trust policy. Files are in $WORK"
