#!/usr/bin/env bash
# Install what the tests need (host packages, Prometheus, the package with its test extras)
# and run the whole test suite. Extra arguments go to pytest, e.g. ./deploy/test.sh -k engine
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export SVC_VENV=${SVC_VENV:-/opt/svc/venv}
SVC_EXTRAS=test SVC_EDITABLE=1 SVC_EXTRA_PACKAGES="prometheus systemd curl fuse3 docker-registry skopeo" "$repo/deploy/install.sh"
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
