#!/usr/bin/env bash
# Runs every certa test: installs what the tests need when it is missing
# (OpenSSL's command line, SoftHSM 2, pkcs11-tool from OpenSC, pkilint), then
# checks formatting and lints and runs the whole test suite, SoftHSM tests
# included. Works as root or with sudo on Debian and Ubuntu.
set -euo pipefail
cd "$(dirname "$0")"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v softhsm2-util >/dev/null || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null || missing+=(opensc)
command -v python3 >/dev/null || missing+=(python3 python3-pip)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "test.sh: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if ! command -v lint_pkix_cert >/dev/null; then
    echo "test.sh: installing pkilint"
    python3 -m pip install --quiet pkilint || python3 -m pip install --quiet --break-system-packages pkilint
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
