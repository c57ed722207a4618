#!/bin/sh
# What edge-agent needs from Debian/Ubuntu, installed with apt-get when it is missing.
#   sh scripts/prerequisites.sh demo    Python's venv module only (the demo runs its own broker)
#   sh scripts/prerequisites.sh [tests] everything the test suite starts:
#   mosquitto   the MQTT broker standing in for AWS IoT Core (tests/infra/mosquitto.py)
#   samba       smbd and pdbedit for the SMB share tests (tests/infra/samba.py)
#   smbclient   Samba's client tools
#   faketime    libfaketime for the wall-clock fault test (tests/faults/test_clock.py)
#   python3-venv  `python3 -m venv` (Debian ships python3 without it)
# Nothing is installed when everything is there; as a user other than root it runs apt-get
# through sudo. It is the first command of both README lines; .ci/run runs the test line.
#
# EDGE_AGENT_SETUP_PATH: where to look for the servers (default: PATH and the sbin folders,
# where Debian puts smbd and mosquitto); the tests of this script point it elsewhere.
set -eu

lookup=${EDGE_AGENT_SETUP_PATH:-$PATH:/usr/local/sbin:/usr/sbin:/sbin}

have() {
    PATH=$lookup command -v "$1" >/dev/null 2>&1
}

for_what=${1:-tests}
case "$for_what" in
demo | tests) ;;
*)
    echo "usage: sh scripts/prerequisites.sh [demo|tests]" >&2
    exit 2
    ;;
esac

missing=""
if [ "$for_what" = tests ]; then
    have mosquitto || missing="$missing mosquitto"
    { have smbd && have pdbedit; } || missing="$missing samba"
    have smbclient || missing="$missing smbclient"
    have faketime || missing="$missing faketime"
fi
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$missing python3-venv"

if [ -z "$missing" ]; then
    exit 0
fi

say() { echo "prerequisites: $*" >&2; }

if ! command -v apt-get >/dev/null 2>&1; then
    say "missing:$missing — this script installs them with apt-get (Debian/Ubuntu);"
    say "install them with your system's package manager, then run the tests again"
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    say "missing:$missing — installing them needs root: run this as root, or install sudo"
    exit 1
fi

say "installing$missing (apt-get${as_root:+ through sudo})"
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086 # the package list is meant to split into words
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
case "$missing" in
*mosquitto* | *samba*)
    say "note: Debian may start the system services of what it installed (mosquitto, smbd);"
    say "the tests start their own on loopback ports. If you do not want them running:"
    say "  sudo systemctl disable --now mosquitto smbd nmbd"
    ;;
esac
