#!/bin/sh
# Checks systemd/cofferd.service and systemd/cofferd.socket with
# `systemd-analyze verify --user`, on copies whose ExecStart points at a
# real executable (the repository's ExecStart is a placeholder that
# `coffer autostart enable` rewrites). Fails on any complaint about the
# units, not only on errors: systemd merely warns about unknown keys.
#
# Usage: scripts/verify-units.sh   (from anywhere; exits 0 when clean)
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "verify-units: systemd-analyze is not installed; cannot check the units" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -m 0700 "$work/run" "$work/units"

exe=$(command -v true)
case $exe in
/*) ;;
*) exe=/bin/true ;;
esac

sed "s|^ExecStart=.*|ExecStart=$exe|" "$repo/systemd/cofferd.service" >"$work/units/cofferd.service"
cp "$repo/systemd/cofferd.socket" "$work/units/cofferd.socket"
if ! grep -q "^ExecStart=$exe\$" "$work/units/cofferd.service"; then
    echo "verify-units: cofferd.service has no ExecStart= line to rewrite" >&2
    exit 1
fi

# A user manager needs a runtime directory; a private one stands in for
# /run/user/UID so that this works in containers and as root.
status=0
XDG_RUNTIME_DIR="$work/run" SYSTEMD_LOG_COLOR=0 \
    systemd-analyze --user verify --man=no \
    "$work/units/cofferd.service" "$work/units/cofferd.socket" \
    >"$work/out" 2>&1 || status=$?

# Lines about other units installed on the host are not ours to judge.
complaints=$(grep -E "cofferd|$work" "$work/out" || true)
if [ "$status" -ne 0 ] || [ -n "$complaints" ]; then
    echo "verify-units: systemd-analyze verify failed (exit $status):" >&2
    cat "$work/out" >&2
    exit 1
fi
echo "verify-units: cofferd.service and cofferd.socket verified ($(systemd-analyze --version | head -n 1))"
