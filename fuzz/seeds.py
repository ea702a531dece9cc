#!/usr/bin/env python3
"""Writes the fuzz seed corpora from the verifier's conformance test vectors.

    fuzz/seeds.py [OUT]        (OUT defaults to fuzz/seeds)

OUT/bundle_verify/: every conformance bundle.sigstore.json, as it is.
OUT/der_parsers/:   every DER certificate and RFC 3161 timestamp found in those bundles and in
                    the trusted roots (the conformance ones and the embedded public-good one),
                    including the certificates inside Rekor entry bodies, plus every
                    checkpoint envelope (signed-note text).

Seeds are named by the SHA-1 of their contents, so the same bytes are written once and a
second run changes nothing. Only the standard library is used.
"""

import base64
import binascii
import hashlib
import json
import pathlib
import re
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
CONFORMANCE = REPO / "verifier/tests/data/conformance"
ROOTS = [REPO / "verifier/src/trusted_root/sigstore-public-good.json"]
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


def write(directory: pathlib.Path, seeds, suffix: str) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (directory / (hashlib.sha1(seed).hexdigest() + suffix)).write_bytes(seed)
    return len(seeds)


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
    print(f"{out}: {n_bundles} bundles; {n_ders} DER values and {n_notes} notes")


if __name__ == "__main__":
    main()
