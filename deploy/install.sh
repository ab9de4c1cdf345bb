#!/usr/bin/env bash
# Install svc on Debian 12 or 64-bit Raspberry Pi OS, as root: the host packages it drives,
# the Python package in a virtual environment, and `svc`/`svcd` on PATH.
#   SVC_VENV       where the virtual environment goes (default /opt/svc/venv)
#   SVC_EXTRAS     pip extras to add, e.g. "test"
#   SVC_EDITABLE=1 install the checkout in editable mode (development)
#   SVC_BIN_DIR    where the `svc` and `svcd` links go (default /usr/local/bin)
# With --systemd, also install the units (svcd-manager, svcd-node, svc-up); enable the ones you want.
set -euo pipefail
units=0
for arg in "$@"; do
    case "$arg" in
        --systemd) units=1 ;;
        *) echo "install.sh: unknown option $arg (use --systemd)" >&2; exit 2 ;;
    esac
done
repo=$(cd "$(dirname "$0")/.." && pwd -P)
venv=${SVC_VENV:-/opt/svc/venv}
python=${PYTHON:-python3}

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (it installs packages and creates cgroups and network namespaces)" >&2
    exit 1
fi

packages="runc crun conmon containernetworking-plugins busybox-static tini iproute2 iptables nftables ca-certificates"
packages="$packages ${SVC_EXTRA_PACKAGES:-}"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    missing="$missing python3-venv"
fi
if [ -n "$missing" ]; then
    echo "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
spec="$repo"
[ -n "${SVC_EXTRAS:-}" ] && spec="$repo[${SVC_EXTRAS}]"
bin_dir=${SVC_BIN_DIR:-/usr/local/bin}
# Install only when needed: an editable install of this checkout already runs its code (so
# `up.sh` after `test.sh` keeps it), and a copy is current while the sources hash the same.
# Which checkout the venv runs is asked from / with -P (no current directory on sys.path): from
# inside a checkout, `import svc` finds that checkout's files whatever the venv holds, and an
# editable install of a clone since deleted would pass for current.
stamp="$venv/.svc-source"
sources="pyproject.toml svc svcd manager node"
[ "${SVC_EDITABLE:-0}" = 1 ] && sources=pyproject.toml  # editable: only the dependencies can go stale
source_hash=$(cd "$repo" && find $sources -name '*.py' -o -name '*.toml' |
    LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
installed_from() {
    (cd / && "$venv/bin/python" -P -c \
        'import os, svc, svcd; print(os.path.dirname(os.path.dirname(os.path.realpath(svc.__file__))))' \
        2>/dev/null) || true
}
from=$(installed_from)
want="${SVC_EDITABLE:-0}:${SVC_EXTRAS:-}:$source_hash"
if [ "$from" = "$repo" ] && [ "${SVC_EXTRAS:-}" = "" ]; then
    :  # this checkout, editable: nothing to do
elif [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ "$from" = "$repo" ]; then
    :  # already installed from this checkout and these sources
elif [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ "${SVC_EDITABLE:-0}" = 0 ] && [ -n "$from" ]; then
    :  # a copy (not editable) of these sources: where they were copied from does not matter
elif [ "${SVC_EDITABLE:-0}" = 1 ]; then
    # compat: a .pth naming the checkout, not an import hook that every process (every `svc` command)
    # loads with pathlib and fnmatch before it runs (~10 ms).
    "$venv/bin/pip" install -q --disable-pip-version-check -e "$spec" --config-settings editable_mode=compat
    echo "$want" > "$stamp"
else
    "$venv/bin/pip" install -q --disable-pip-version-check "$spec"
    echo "$want" > "$stamp"
fi
[ -n "$(installed_from)" ] || { echo "install.sh: $venv cannot import svc after installing" >&2; exit 1; }
# Bytecode for an editable checkout too: every `svc` command is a new process, and without it
# each one compiles its modules again (where PYTHONDONTWRITEBYTECODE is set, for ever).
[ "${SVC_EDITABLE:-0}" = 1 ] && "$venv/bin/python" -m compileall -q "$repo/svc" "$repo/manager" "$repo/node" >/dev/null || true
mkdir -p "$bin_dir"
ln -sf "$venv/bin/svc" "$bin_dir/svc"
ln -sf "$venv/bin/svcd" "$bin_dir/svcd"
mkdir -p /etc/svc /var/lib/svc /run/svc
chmod 700 /var/lib/svc /run/svc
if [ "$units" = 1 ]; then
    install -m 0644 "$repo"/deploy/systemd/*.service /etc/systemd/system/
    [ -d /run/systemd/system ] && systemctl daemon-reload
    echo "systemd units installed: svcd-manager.service svcd-node.service svc-up.service (not enabled)"
fi
echo "installed: $("$venv/bin/svc" --help >/dev/null && echo svc) $("$venv/bin/svcd" --help >/dev/null && echo svcd) in $venv"
