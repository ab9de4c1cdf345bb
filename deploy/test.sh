#!/usr/bin/env bash
# Install what the tests need (host packages, Prometheus, the package with its test extras)
# and run the whole test suite. Extra arguments go to pytest, e.g. ./deploy/test.sh -k engine
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export SVC_VENV=${SVC_VENV:-/opt/svc/venv}
# gcc and libc6-dev: the static UDP responder test_mesh_udp_cluster builds (busybox's nc has no -u);
# iperf3: bench/overlay_bench.py's throughput.
SVC_EXTRAS=test SVC_EDITABLE=1 SVC_EXTRA_PACKAGES="prometheus systemd curl fuse3 docker-registry skopeo gcc libc6-dev iperf3" \
    "$repo/deploy/install.sh"
# The docker CLI alone, for tests/integration/test_docker_cli.py: Debian's docker.io holds the docker 20.10
# CLI and dockerd; the package is fetched, not installed, and only usr/bin/docker kept (no dockerd,
# containerd or iptables rules on the test host). Without it that test skips.
docker_cli=/opt/svc/docker-cli/docker
if [ ! -x "$docker_cli" ]; then
    cache=/var/cache/svc/docker-cli
    mkdir -p "$cache" && rm -rf "$cache"/docker.io_*.deb "$cache/x"
    if (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root docker.io) &&
        dpkg-deb -x "$cache"/docker.io_*.deb "$cache/x"; then
        install -D -m 0755 "$cache/x/usr/bin/docker" "$docker_cli"
    else
        echo "warning: could not fetch the docker CLI; tests/integration/test_docker_cli.py will skip" >&2
    fi
    rm -rf "$cache/x"
fi
# Prometheus and docker-registry from Debian start services of their own where systemd runs;
# the tests start their own.
for unit in prometheus docker-registry; do
    command -v systemctl >/dev/null && systemctl disable --now "$unit" >/dev/null 2>&1 || true
done
cd "$repo"
"$SVC_VENV/bin/ruff" check . 
"$SVC_VENV/bin/mypy" --no-error-summary || { echo "mypy found type errors" >&2; exit 1; }
contracts=$("$SVC_VENV/bin/lint-imports" --no-cache 2>&1) || { echo "$contracts" >&2; echo "an import contract is broken" >&2; exit 1; }
exec "$SVC_VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
