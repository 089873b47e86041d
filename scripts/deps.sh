#!/bin/sh
# Install the Debian packages named as arguments that are missing.  Runs
# apt-get only when root; otherwise prints the command to run.  Idempotent
# and quiet when everything is present.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq $missing >/dev/null || { echo "deps: apt-get install$missing failed" >&2; exit 1; }
else
    echo "deps: missing packages:$missing" >&2
    echo "deps: run as root: apt-get install$missing" >&2
    exit 1
fi
