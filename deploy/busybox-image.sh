#!/usr/bin/env bash
# Build a small image (a root filesystem tarball) from the host's static busybox:
#   deploy/busybox-image.sh OUT.tar     then: svc image import OUT.tar busybox
# It has /bin (busybox and its applets), /etc/passwd and /etc/group, and /www/index.html for httpd demos.
set -euo pipefail
out=${1:?usage: busybox-image.sh OUT.tar}
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { echo "busybox-image.sh: busybox is not installed (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/www" "$root/root"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
echo "hello from svc on $(hostname)" > "$root/www/index.html"
chmod 1777 "$root/tmp"
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$out" .
