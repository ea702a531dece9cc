"""Validates a CycloneDX JSON document with cyclonedx-python-lib's strict JSON validator,
against the schema of the specVersion the document declares:

    validate_cyclonedx.py FILE

Exit 0 when valid, 1 when not (or when the specVersion is not a CycloneDX version), with one
line saying which on standard output.
"""

import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def main(path: str) -> int:
    with open(path, encoding="utf-8") as file:
        text = file.read()
    spec = json.loads(text).get("specVersion")
    try:
        version = SchemaVersion.from_version(str(spec))
    except ValueError:
        print(f"{path}: specVersion {spec!r} is not a CycloneDX version")
        return 1
    error = JsonStrictValidator(version).validate_str(text)
    if error is not None:
        print(f"{path}: not valid CycloneDX {spec}: {error}")
        return 1
    print(f"{path}: valid CycloneDX {spec}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: validate_cyclonedx.py FILE", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
