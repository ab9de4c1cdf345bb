"""Addresses on the node bridge, reserved in-process the way the CNI `host-local` plugin keeps them.

Rule: the store on disk is host-local's own, so either can read what the other wrote (a container
attached by an older svc through the plugin is released here): `<data dir>/<network>/<ip>`
holds `<container id>\\r\\n<ifname>`, `last_reserved_ip.0` the last address handed out (the next search
starts after it, so a released address is not reused at once), and every change is made holding an
flock on `<data dir>/<network>/lock`, as the plugin does. The range is the plugin's default: from the
subnet's first address to the one before its broadcast, without the gateway (the first). Who holds
what is read from disk once, at the first change, and kept in memory after: this daemon is the only
writer of its run directory's store now (no plugin runs for it). Failures are RuntimeFailures naming
the store, and a reservation that could not be written completely is taken back.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import threading
from collections.abc import Iterator

from svc.errors import RuntimeFailure

LAST_RESERVED = "last_reserved_ip.0"  # .0: the first (only) range set
LOCK = "lock"
LINE_BREAK = "\r\n"


class HostLocal:
    def __init__(self, data_dir: str, network_name: str, subnet: ipaddress.IPv4Network) -> None:
        self.dir = os.path.join(data_dir, network_name)
        self.network = subnet
        self.gateway = self.network.network_address + 1
        self._lock = threading.Lock()  # flock is per open file: this keeps our own threads in line cheaply
        self._owners: dict[str, str] | None = None  # address -> its file's content, once read

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            try:
                os.makedirs(self.dir, mode=0o755, exist_ok=True)
                fd = os.open(os.path.join(self.dir, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise RuntimeFailure(f"bridge addresses in {self.dir}: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            except OSError as exc:
                raise RuntimeFailure(f"bridge addresses in {self.dir}: {exc.strerror or exc}") from None
            finally:
                os.close(fd)  # releases the flock

    def reserve(self, cid: str, ifname: str) -> ipaddress.IPv4Interface:
        """The container's address (with the subnet's prefix); the one it holds already if any."""
        with self._locked():
            held = [ip for ip in self._held_by(cid, ifname) if ipaddress.ip_address(ip) in self.network]
            if held:  # host-local refuses a second one; the same answer again is what a retried start needs
                return ipaddress.IPv4Interface(f"{held[0]}/{self.network.prefixlen}")
            first = int(self.network.network_address) + 1
            last = int(self.network.broadcast_address) - 1
            start = self._last_reserved()
            start = start + 1 if start is not None and first <= start < last else first
            for n in [*range(start, last + 1), *range(first, start)]:
                ip = ipaddress.IPv4Address(n)
                if ip == self.gateway:
                    continue
                path = os.path.join(self.dir, str(ip))
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                except FileExistsError:
                    continue
                try:
                    os.write(fd, (cid + LINE_BREAK + ifname).encode())
                except OSError:
                    os.unlink(path)  # an empty file would hold the address for no one, for good
                    raise
                finally:
                    os.close(fd)
                self._read_owners()[str(ip)] = cid + LINE_BREAK + ifname
                with open(os.path.join(self.dir, LAST_RESERVED), "w") as f:
                    f.write(str(ip))
                return ipaddress.IPv4Interface(f"{ip}/{self.network.prefixlen}")
            raise RuntimeFailure(f"no address left in {self.network} on this node's bridge")

    def release(self, cid: str, ifname: str) -> None:
        """Free what the container holds on `ifname`; nothing held is not an error."""
        with self._locked():
            for name in self._held_by(cid, ifname):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.dir, name))
                self._read_owners().pop(name, None)

    def _held_by(self, cid: str, ifname: str) -> list[str]:
        # The plugin before 0.9 wrote the id alone; since, the id and the interface.
        return [ip for ip, owner in self._read_owners().items() if owner in (cid + LINE_BREAK + ifname, cid)]

    def _read_owners(self) -> dict[str, str]:
        if self._owners is None:
            owners = {}
            for name in os.listdir(self.dir):
                if name == LOCK or name.startswith("last_reserved_ip"):
                    continue
                try:
                    with open(os.path.join(self.dir, name), "rb") as f:  # binary: keep the \r\n
                        owners[name] = f.read().decode("utf-8", "replace").strip()
                except (FileNotFoundError, IsADirectoryError):
                    continue
            self._owners = owners
        return self._owners

    def _last_reserved(self) -> int | None:
        try:
            with open(os.path.join(self.dir, LAST_RESERVED)) as f:
                return int(ipaddress.IPv4Address(f.read().strip()))
        except (FileNotFoundError, ValueError):
            return None
