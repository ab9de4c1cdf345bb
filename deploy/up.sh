#!/usr/bin/env bash
# Install what is missing and bring up svc on this host, with a demo workload.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/deploy/install.sh"
log=/var/log/svc-node.log
if ! svc container ls >/dev/null 2>&1; then
    nohup svcd node >>"$log" 2>&1 &
    for _ in $(seq 1 100); do svc container ls >/dev/null 2>&1 && break; sleep 0.2; done
    svc container ls >/dev/null || { echo "up.sh: the node daemon did not start; see $log" >&2; exit 1; }
fi
if ! svc image inspect busybox >/dev/null 2>&1; then
    tmp=$(mktemp --suffix=.tar)
    "$repo/deploy/busybox-image.sh" "$tmp"
    svc image import "$tmp" busybox
    rm -f "$tmp"
fi
svc container rm -f demo >/dev/null 2>&1 || true
svc container run -d --name demo -p 8080:80 busybox httpd -f -p 80 -h /www >/dev/null
svc container ls
echo "demo: curl http://127.0.0.1:8080/"
