#!/usr/bin/env bash
# Install what is missing and bring up a one-host svc cluster (a manager and a node, `svcd up`)
# with a demo service. Run as root on Debian 12 or 64-bit Raspberry Pi OS. Safe to run again.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/deploy/install.sh"

log=${SVC_LOG_FILE:-/var/log/svcd.log}  # without systemd, the daemon logs here
if [ -d /run/systemd/system ]; then
    install -m 0644 "$repo/deploy/systemd/svc-up.service" /etc/systemd/system/svc-up.service
    systemctl daemon-reload
    systemctl enable --now svc-up.service
elif ! svc cluster info >/dev/null 2>&1; then
    # No systemd (a container, a CI sandbox): run the daemon in the background.
    nohup svcd up >>"$log" 2>&1 &
fi

echo "waiting for the cluster..."
for _ in $(seq 1 150); do
    if svc node ls 2>/dev/null | grep -q " Ready "; then break; fi
    sleep 0.2
done
svc node ls 2>/dev/null | grep -q " Ready " || { echo "up.sh: the cluster did not come up; see $log or journalctl -u svc-up" >&2; exit 1; }

if ! svc image inspect busybox >/dev/null 2>&1; then
    tmp=$(mktemp --suffix=.tar)
    "$repo/deploy/busybox-image.sh" "$tmp"
    svc image import "$tmp" busybox >/dev/null
    rm -f "$tmp"
fi

if ! svc inspect demo >/dev/null 2>&1; then
    svc create --name demo --replicas 1 -p 8080:80 --health-cmd 'wget -q -O /dev/null http://127.0.0.1/' \
        --health-interval 2s busybox httpd -f -p 80 -h /www
fi
svc ls
cat <<'TXT'

svc is up: one manager and one node on this host, and the `demo` service on http://127.0.0.1:8080/
Try:
    svc create --name web busybox sleep 1000000
    svc scale web=5
    svc ps web
TXT
