#!/usr/bin/env bash
# Regenerates the rpm database fixtures in this folder (see README.md). Needs Debian's
# `rpm` (rpm, rpmbuild; its sqlite backend), `db5.3-util` (db5.3_load), `sqlite3` and
# python3:  apt-get install -y rpm db5.3-util sqlite3
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Small packages built from trivial specs. `vouch-big` has a long description so that its
# header does not fit in one 4 KiB page (SQLite and Berkeley DB overflow pages); there are
# enough packages that the SQLite table needs more than one leaf page (an interior page).
spec() { # name version release epoch(or "") arch licence description-repeat
  local name=$1 version=$2 release=$3 epoch=$4 arch=$5 license=$6 repeat=$7
  {
    echo "Name: $name"
    echo "Version: $version"
    echo "Release: $release"
    [ -n "$epoch" ] && echo "Epoch: $epoch"
    echo "Summary: vouch test package $name"
    echo "License: $license"
    [ "$arch" = noarch ] && echo "BuildArch: noarch"
    echo "%description"
    for _ in $(seq "$repeat"); do
      echo "A test package for vouch's rpm database reader, repeated to make the header larger."
    done
    echo "%files"
  } > "$work/$name.spec"
  rpmbuild --quiet --define "_topdir $work/top" --define "_build_id_links none" \
    --target "$arch" -bb "$work/$name.spec" >/dev/null 2>&1
}

spec vouch-hello 1.2.3 4.fc40 2 noarch "MIT AND (Apache-2.0 OR BSD-3-Clause)" 1
spec vouch-big 10.0 1.el9 "" x86_64 "GPL-2.0-or-later" 200
spec vouch-zero-epoch 0.1 1 0 noarch "LGPL-2.1-or-later" 1
for i in $(seq -w 1 9); do
  spec "vouch-filler-$i" "1.$i" "$i" "" noarch "Apache-2.0" 10
done

db="$work/db"
mkdir -p "$db"
rpm --dbpath "$db" --initdb 2>/dev/null
rpm --dbpath "$db" -i --justdb --nodeps --noscripts --ignorearch --ignoreos \
  "$work"/top/RPMS/*/*.rpm 2>/dev/null
test ! -s "$db/rpmdb.sqlite-wal" # checkpointed: everything is in the main file
cp "$db/rpmdb.sqlite" "$here/rpmdb.sqlite"

# What rpm itself lists: name, version-release, epoch, arch, source rpm, licence.
rpm --dbpath "$db" -qa \
  --qf '%{NAME}\t%{VERSION}-%{RELEASE}\t%{EPOCH}\t%{ARCH}\t%{SOURCERPM}\t%{LICENSE}\n' \
  2>/dev/null | sed 's/(none)//g' | LC_ALL=C sort > "$here/expected.tsv"

# The same header blobs in the two older formats.
sqlite3 "$db/rpmdb.sqlite" 'select hnum, hex(blob) from Packages order by hnum' > "$work/blobs"

# Berkeley DB hash, as rpm ≤ 4.15 wrote `Packages`: key = package number (4 bytes, host
# order), value = header blob; key 0 holds the next number. Written by libdb itself, in
# both byte orders.
python3 - "$work/blobs" "$work/load-le" "$work/load-be" <<'PY'
import struct, sys
rows = [line.rstrip("\n").split("|") for line in open(sys.argv[1])]
for path, order in ((sys.argv[2], "<"), (sys.argv[3], ">")):
    with open(path, "w") as out:
        out.write("VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n")
        out.write(" " + struct.pack(order + "I", 0).hex() + "\n")
        out.write(" " + struct.pack(order + "I", len(rows) + 1).hex() + "\n")
        for number, blob in rows:
            out.write(" " + struct.pack(order + "I", int(number)).hex() + "\n")
            out.write(" " + blob.lower() + "\n")
        out.write("DATA=END\n")
PY
# With 4 KiB pages every header is on overflow pages; with 16 KiB pages the small ones are
# inline on the hash pages.
rm -f "$here/Packages" "$here/Packages.be" "$here/Packages.16k"
db5.3_load -c db_pagesize=4096 -c db_lorder=1234 -f "$work/load-le" "$here/Packages"
db5.3_load -c db_pagesize=4096 -c db_lorder=4321 -f "$work/load-be" "$here/Packages.be"
db5.3_load -c db_pagesize=16384 -c db_lorder=1234 -f "$work/load-le" "$here/Packages.16k"

# ndb, as rpm's lib/backend/ndb/rpmpkg.c writes `Packages.db` (this rpm build has no ndb
# backend, so the layout is written here): a 32-byte header and one 4 KiB slot page, then
# each blob at a 16-byte block: head (magic, index, generation, length), blob, zero pad,
# tail (Adler-32 of head+blob+pad, length, magic).
python3 - "$work/blobs" "$here/Packages.db" <<'PY'
import struct, sys, zlib
rows = [line.rstrip("\n").split("|") for line in open(sys.argv[1])]
slots, blobs = [], b""
offset = 4096 // 16  # blocks; blobs start after the slot page
for number, blob in rows:
    blob = bytes.fromhex(blob)
    head = struct.pack("<4sIII", b"BlbS", int(number), 1, len(blob))
    blocks = (16 + len(blob) + 12 + 15) // 16
    pad = b"\0" * (blocks * 16 - 16 - len(blob) - 12)
    body = head + blob + pad
    tail = struct.pack("<II4s", zlib.adler32(body), len(blob), b"BlbE")
    slots.append(struct.pack("<4sIII", b"Slot", int(number), offset, blocks))
    blobs += body + tail
    offset += blocks
header = struct.pack("<4sIIII12x", b"RpmP", 0, 1, 1, len(rows) + 1)
free = struct.pack("<4sIII", b"Slot", 0, 0, 0)
page = header + b"".join(slots) + free * (4096 // 16 - 2 - len(slots))
assert len(page) == 4096
open(sys.argv[2], "wb").write(page + blobs)
PY
echo "wrote $(wc -l < "$here/expected.tsv") packages to $here"
