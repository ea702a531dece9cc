#!/usr/bin/env python3
"""Writes the fuzz seed corpora from the verifier's conformance test vectors, and small layer
tar streams.

    fuzz/seeds.py [OUT]        (OUT defaults to fuzz/seeds)

OUT/bundle_verify/: every conformance bundle.sigstore.json, as it is.
OUT/der_parsers/:   every DER certificate and RFC 3161 timestamp found in those bundles and in
                    the trusted roots (the conformance ones and the embedded public-good one),
                    including the certificates inside Rekor entry bodies, plus every
                    checkpoint envelope (signed-note text).
OUT/read_tar/:      small tar streams written with Python's tarfile in the GNU, pax and ustar
                    formats (long names, links, whiteouts, a sparse-looking pax header), each
                    plain and gzip-compressed, and two layers the second of which whites out
                    files of the first.
OUT/signed_documents/: a selector byte and a document, for each reader of that target: the
                    DSSE envelopes and in-toto statements under attestations/tests/data (as
                    envelope, statement and provenance seeds), the conformance bundles, and
                    small manifests, log answers and Rego policies written here.
OUT/oci_layout/:    small OCI layouts as the target takes them (index.json, then each blob, split
                    by the separator line): an image with a config and a layer, its cosign
                    .sig tag, and a Sigstore bundle referrer listed in the referrers tag schema
                    (with and without its artifactType), all digests correct.
OUT/docker_config/: a WWW-Authenticate challenge line and a docker config: auths with
                    auth, username/password and identitytoken, credHelpers, credsStore.
OUT/trust_policy/:  trust policy files: every policy of policy/tests/scenarios/scenarios.yaml
                    (with its key, root and Rego paths turned into the ones the target
                    provides), the ClusterImagePolicy and containers policy.json fixtures
                    under policy/tests/data.
OUT/sbom_catalogers/: a selector byte (the path the target offers the file at) and a file,
                    from the SBOM fixtures under sbom/tests/data (dpkg status files, Python
                    metadata, npm package.json files, os-release).

Seeds are named by the SHA-1 of their contents, so the same bytes are written once and a
second run changes nothing. Only the standard library is used.
"""

import base64
import binascii
import gzip
import hashlib
import io
import json
import pathlib
import re
import sys
import tarfile

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
CONFORMANCE = REPO / "verifier/tests/data/conformance"
ROOTS = [REPO / "verifier/src/trusted_root/sigstore-public-good.json"]
# vouch_registry::layers::FUZZ_LAYER_SEPARATOR: where the read_tar target splits layers.
TAR_LAYER_SEPARATOR = b"\n--8<-- layer --8<--\n"
PEM = re.compile(r"-----BEGIN [A-Z ]+-----(.*?)-----END [A-Z ]+-----", re.S)


def der_length_ok(data: bytes) -> bool:
    """Whether `data` is exactly one DER SEQUENCE (tag 0x30, definite length)."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    first = data[1]
    if first < 0x80:
        return 2 + first == len(data)
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return False
    return 2 + count + int.from_bytes(data[2 : 2 + count], "big") == len(data)


def b64(text: str):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def collect(value, ders: set, notes: set) -> None:
    """Walks a JSON value: base64 strings that hold DER, PEM or JSON, and note envelopes."""
    if isinstance(value, dict):
        for item in value.values():
            collect(item, ders, notes)
    elif isinstance(value, list):
        for item in value:
            collect(item, ders, notes)
    elif isinstance(value, str):
        if "\n\n\u2014 " in value:
            notes.add(value.encode())
            return
        raw = b64(value) if len(value) >= 8 else None
        if raw is None:
            return
        if der_length_ok(raw):
            ders.add(raw)
            return
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return
        for block in PEM.findall(text):
            der = b64("".join(block.split()))
            if der is not None and der_length_ok(der):
                ders.add(der)
        if text.lstrip().startswith("{"):
            try:
                collect(json.loads(text), ders, notes)
            except json.JSONDecodeError:
                pass


def tar_seeds() -> set:
    """Layer tar streams of every format and member kind the layer reader interprets."""
    long = "usr/lib/" + "d" * 150 + "/long.txt"

    def stream(fmt, members, pax=None) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=fmt, pax_headers=pax or {}) as tar:
            for name, kind, data, link in members:
                info = tarfile.TarInfo(name)
                info.type = kind
                info.linkname = link
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data) if data else None)
        return out.getvalue()

    members = [
        ("etc/os-release", tarfile.REGTYPE, b"ID=debian\n", ""),
        (long, tarfile.REGTYPE, b"long", ""),
        ("var/", tarfile.DIRTYPE, b"", ""),
        ("hard.txt", tarfile.LNKTYPE, b"", long),
        ("sym.txt", tarfile.SYMTYPE, b"", "/" + "t" * 120),
        ("etc/.wh.gone", tarfile.REGTYPE, b"", ""),
        ("opt/.wh..wh..opq", tarfile.REGTYPE, b"", ""),
        ("../escape", tarfile.REGTYPE, b"x", ""),
        ("fifo", tarfile.FIFOTYPE, b"", ""),
    ]
    seeds = {
        stream(tarfile.GNU_FORMAT, members),
        stream(tarfile.PAX_FORMAT, members, {"comment": "seed"}),
        stream(tarfile.USTAR_FORMAT, [m for m in members if len(m[0]) < 100 and len(m[3]) < 100]),
        stream(
            tarfile.PAX_FORMAT,
            [("sparse", tarfile.REGTYPE, b"s" * 600, "")],
            {"GNU.sparse.name": "real/name", "GNU.sparse.realsize": "4096"},
        ),
    }
    # Two layers, as the target splits them: the second's whiteouts remove the first's files.
    lower = stream(tarfile.GNU_FORMAT, [
        ("etc/os-release", tarfile.REGTYPE, b"ID=debian\n", ""),
        ("etc/keep", tarfile.REGTYPE, b"kept", ""),
        ("opt/app/bin", tarfile.REGTYPE, b"app", ""),
    ])
    upper = stream(tarfile.GNU_FORMAT, [
        ("etc/.wh.os-release", tarfile.REGTYPE, b"", ""),
        ("opt/.wh..wh..opq", tarfile.REGTYPE, b"", ""),
        ("opt/new", tarfile.REGTYPE, b"new", ""),
    ])
    stacked = {lower + TAR_LAYER_SEPARATOR + upper,
               gzip.compress(lower, mtime=0) + TAR_LAYER_SEPARATOR + upper}
    return seeds | {gzip.compress(seed, mtime=0) for seed in seeds} | stacked


def write(directory: pathlib.Path, seeds, suffix: str) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (directory / (hashlib.sha1(seed).hexdigest() + suffix)).write_bytes(seed)
    return len(seeds)


ATTESTATIONS = REPO / "attestations/tests/data"
SBOM = REPO / "sbom/tests/data/sbom"


def document_seeds(bundles: set) -> set:
    """Selector byte + input for the signed_documents target (its `match which % 8`)."""
    seeds = set()
    for path in sorted(ATTESTATIONS.rglob("*.json")):
        data = path.read_bytes()
        seeds.add(bytes([1]) + data)  # a DSSE envelope
        seeds.add(bytes([2]) + data)  # an in-toto statement (and provenance)
    for bundle in bundles:
        seeds.add(bytes([3]) + bundle)
    seeds.add(bytes([0]) + json.dumps({"critical": {"identity": {"docker-reference": "r/a"},
              "image": {"docker-manifest-digest": "sha256:" + "a" * 64},
              "type": "cosign container image signature"}, "optional": {"k": "v"}}).encode())
    body = base64.b64encode(b'{"kind":"hashedrekord","apiVersion":"0.0.1"}').decode()
    seeds.add(bytes([4]) + json.dumps({"ab" * 32: {"body": body, "integratedTime": 1,
              "logID": "c0d2", "logIndex": 1, "verification": {"signedEntryTimestamp": "c2V0",
              "inclusionProof": {"logIndex": 1, "rootHash": "aa" * 32, "treeSize": 2,
                                 "hashes": ["bb" * 32], "checkpoint": "cp\n"}}}}).encode())
    seeds.add(bytes([5, 0]) + json.dumps({"schemaVersion": 2, "mediaType":
              "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType":
              "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "a" * 64,
              "size": 2}, "layers": []}).encode())
    seeds.add(bytes([5, 1]) + json.dumps({"schemaVersion": 2, "manifests": []}).encode())
    seeds.add(bytes([6]) + b"package signature\nimport rego.v1\ndeny contains m if { m := \"x\" }\n")
    seeds.add(bytes([6]) + b"package signature\nallow { input.predicate.ok }\n")
    return seeds


# The target's PATHS, by index, and the fixture files offered at each.
SBOM_PATHS = {
    0: ["**/var/lib/dpkg/status", "**/var/lib/opkg/status"],
    1: ["**/var/lib/dpkg/status.d/*"],
    6: ["**/etc/os-release"],
    7: ["**/METADATA", "**/PKG-INFO"],
    8: ["**/package.json"],
    11: ["**/copyright"],
}


def sbom_seeds() -> set:
    seeds = set()
    for index, patterns in SBOM_PATHS.items():
        for pattern in patterns:
            for path in sorted(SBOM.glob(pattern)):
                if path.is_file() and path.stat().st_size <= 64 * 1024:
                    seeds.add(bytes([index]) + path.read_bytes())
    return seeds


LAYOUT_SEPARATOR = b"\n--8<--\n"


def layout_seeds() -> set:
    """Layouts whose index.json names blobs that are there, by their real digests."""

    def blob(data: bytes, media_type: str) -> tuple:
        return data, {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
                      "size": len(data)}

    def js(value) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    config, config_d = blob(b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
                            "application/vnd.oci.image.config.v1+json")
    layer, layer_d = blob(b"\0" * 1024, "application/vnd.oci.image.layer.v1.tar")
    image, image_d = blob(js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                              "config": config_d, "layers": [layer_d]}),
                          "application/vnd.oci.image.manifest.v1+json")
    hexd = image_d["digest"].split(":")[1]
    payload, payload_d = blob(js({"critical": {"identity": {"docker-reference": "oci:x"},
                                               "image": {"docker-manifest-digest": image_d["digest"]},
                                               "type": "cosign container image signature"},
                                  "optional": None}),
                              "application/vnd.dev.cosign.simplesigning.v1+json")
    payload_d["annotations"] = {"dev.cosignproject.cosign/signature": "MEUCIQ=="}
    sig, sig_d = blob(js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": config_d, "layers": [payload_d]}),
                      "application/vnd.oci.image.manifest.v1+json")
    empty, empty_d = blob(b"{}", "application/vnd.oci.empty.v1+json")
    bundle, bundle_d = blob(b'{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}',
                            "application/vnd.dev.sigstore.bundle.v0.3+json")
    referrer, referrer_d = blob(js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                    "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                                    "config": empty_d, "layers": [bundle_d],
                                    "subject": image_d}),
                                "application/vnd.oci.image.manifest.v1+json")
    seeds = set()
    for typed in (True, False):
        entry = dict(referrer_d)
        if typed:
            entry["artifactType"] = "application/vnd.dev.sigstore.bundle.v0.3+json"
        tag_index, tag_index_d = blob(js({"schemaVersion": 2,
                                          "mediaType": "application/vnd.oci.image.index.v1+json",
                                          "manifests": [entry]}),
                                      "application/vnd.oci.image.index.v1+json")

        def tagged(descriptor: dict, name: str) -> dict:
            return dict(descriptor, annotations={"org.opencontainers.image.ref.name": name})

        index = js({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [tagged(image_d, "v1"), tagged(sig_d, f"sha256-{hexd}.sig"),
                                  tagged(tag_index_d, f"sha256-{hexd}")]})
        files = [index, config, layer, image, payload, sig, empty, bundle, referrer, tag_index]
        seeds.add(LAYOUT_SEPARATOR.join(files))
    # Just the image.
    index = js({"schemaVersion": 2, "manifests": [dict(image_d, annotations={"org.opencontainers.image.ref.name": "v1"})]})
    seeds.add(LAYOUT_SEPARATOR.join([index, config, layer, image]))
    return seeds


def docker_seeds() -> set:
    """Challenge lines and docker configs of every form docker writes."""
    secret = "s3cr3t-fuzz-value"  # docker_config.rs checks that no error quotes it
    auth = base64.b64encode(b"user:" + secret.encode()).decode()
    configs = [
        {"auths": {"https://index.docker.io/v1/": {"auth": auth}}},
        {"auths": {"registry.example:5000": {"username": "user", "password": secret}}},
        {"auths": {"10.0.0.1": {"identitytoken": secret}}},
        {"auths": {"registry.example:5000": {"auth": auth, "username": "user", "password": secret + "-other"}}},
        {"credHelpers": {"registry.example:5000": "ecr-login"}},
        {"credsStore": "desktop", "auths": {"docker.io": {}}},
        {},
    ]
    challenges = [
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull"',
        'Basic realm="registry"',
        'bearer realm=https://auth.example/token, service=x',
        'Bearer realm="a\\"b"',
    ]
    return {c.encode() + b"\n" + json.dumps(config).encode()
            for c in challenges for config in configs}


def policy_seeds() -> set:
    """The trust policies of the scenarios and the policy fixtures, naming the files the target
    writes (keys/k.pub, roots/root.json, policies/p.rego)."""
    seeds = set()
    lines = (REPO / "policy/tests/scenarios/scenarios.yaml").read_text().splitlines()
    block = None
    for line in lines + [""]:
        if block is not None:
            if line.startswith("    ") or not line.strip():
                block.append(line[4:])
                continue
            text = "\n".join(block).strip() + "\n"
            text = text.replace("REGISTRY", "registry.example")
            text = re.sub(r"keys/[a-z-]+\.pub", "keys/k.pub", text)
            text = re.sub(r"roots/[a-z-]+\.json", "roots/root.json", text)
            text = re.sub(r"[a-z/-]+\.rego", "policies/p.rego", text)
            seeds.add(text.encode())
            block = None
        if re.fullmatch(r"  policy: (&[a-z-]+ )?\|", line):
            block = []
    for path in sorted((REPO / "policy/tests/data").glob("*/*")):
        if path.suffix in (".yaml", ".json"):
            seeds.add(path.read_bytes())
    return seeds


def main() -> None:
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else FUZZ / "seeds"
    bundles, ders, notes = set(), set(), set()
    for path in sorted(CONFORMANCE.glob("*/bundle.sigstore.json")):
        data = path.read_bytes()
        bundles.add(data)
        try:
            collect(json.loads(data), ders, notes)
        except json.JSONDecodeError:
            pass  # bundle-malformed-json_fail: a bundle seed only
    for path in sorted(CONFORMANCE.glob("*/trusted_root.json")) + ROOTS:
        collect(json.loads(path.read_bytes()), ders, notes)
    n_bundles = write(out / "bundle_verify", bundles, ".json")
    n_ders = write(out / "der_parsers", ders, ".der")
    n_notes = write(out / "der_parsers", notes, ".txt")
    n_tars = write(out / "read_tar", tar_seeds(), ".tar")
    n_documents = write(out / "signed_documents", document_seeds(bundles), ".bin")
    n_sbom = write(out / "sbom_catalogers", sbom_seeds(), ".bin")
    n_layouts = write(out / "oci_layout", layout_seeds(), ".bin")
    n_docker = write(out / "docker_config", docker_seeds(), ".bin")
    n_policies = write(out / "trust_policy", policy_seeds(), ".yaml")
    print(f"{out}: {n_bundles} bundles; {n_ders} DER values and {n_notes} notes; {n_tars} tars; "
          f"{n_documents} documents; {n_sbom} catalogued files; {n_layouts} layouts; "
          f"{n_docker} docker configs; {n_policies} trust policies")


if __name__ == "__main__":
    main()
