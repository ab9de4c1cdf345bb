"""Raw rtnetlink requests for the container start path: a handful of fixed messages, no library.

Rule: only what every bridge container's start and removal sends (a veth pair made straight into the
container's namespace, a bridge port's hairpin mode, an address, a link up, a default route, a link
removed), each request acknowledged or raised as OSError with the kernel's errno. pyroute2's IPRoute
costs ~0.5 ms of CPU to open and a few more per call in its asyncio core: 6 ms per start, more than
the two CNI plugin processes it replaced. Everything else (the bridge itself, overlays) stays with
pyroute2 (nlns.py). Formats: linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h.
"""

from __future__ import annotations

import errno
import ipaddress
import itertools
import os
import socket
import struct

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_NEWROUTE = 20, 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLA_F_NESTED = 1 << 15

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_PROTINFO, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 12, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4  # hairpin
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_OIF, RTA_GATEWAY = 4, 5
IFF_UP = 0x1
AF_BRIDGE = 7
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg
_seq = itertools.count(1)
TIMEOUT = 30.0  # the kernel answers within the send; only a wedged one takes longer


def attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def nested(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def name(s: str) -> bytes:
    """An interface name as the kernel reads it: NUL-terminated."""
    return s.encode() + b"\0"


def ifinfo(index: int = 0, flags: int = 0, change: int = 0, family: int = socket.AF_UNSPEC) -> bytes:
    return _IFINFO.pack(family, 0, index, flags, change)


class Rtnl:
    """One NETLINK_ROUTE socket (a namespace's, from nlns.netlink_socket_in, or this process's)."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        kind = socket.SOCK_RAW | socket.SOCK_CLOEXEC
        self.sock = sock or socket.socket(socket.AF_NETLINK, kind, socket.NETLINK_ROUTE)
        try:
            self.sock.settimeout(TIMEOUT)
            self.sock.bind((0, 0))
        except OSError:
            self.sock.close()
            raise

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def request(self, kind: int, body: bytes, flags: int = 0) -> bytes:
        """Send one request; the reply's body (for a GET) or b"" once acknowledged."""
        seq = next(_seq)
        self.sock.send(_HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0) + body)
        reply = b""
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, mtype, _, mseq, _ = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    raise OSError(0, "malformed netlink reply")
                payload = data[offset + _HEADER.size : offset + length]
                offset += (length + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", payload)
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return reply
                reply = payload  # a GET answers first, then acknowledges

    def index_of(self, ifname: str) -> int:
        return self.link(ifname)[0]

    def link(self, ifname: str) -> tuple[int, int]:
        """The link's index and flags (IFF_UP, ...)."""
        body = self.request(RTM_GETLINK, ifinfo() + attr(IFLA_IFNAME, name(ifname)))
        if len(body) < _IFINFO.size:
            raise OSError(0, f"no answer for link {ifname}")
        _, _, index, flags, _ = _IFINFO.unpack_from(body)
        return int(index), int(flags)

    def add_veth(self, host_end: str, master: int, peer: str, peer_ns_fd: int, peer_mac: bytes) -> None:
        """The pair, the host end a port of `master` and up, the peer in the namespace of `peer_ns_fd`."""
        peer_msg = ifinfo() + attr(IFLA_IFNAME, name(peer)) + attr(IFLA_NET_NS_FD, struct.pack("=I", peer_ns_fd))
        peer_msg += attr(IFLA_ADDRESS, peer_mac)
        info = nested(
            IFLA_LINKINFO, attr(IFLA_INFO_KIND, b"veth"), nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg))
        )
        body = ifinfo(flags=IFF_UP, change=IFF_UP) + attr(IFLA_IFNAME, name(host_end))
        body += attr(IFLA_MASTER, struct.pack("=I", master)) + info
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL)

    def set_hairpin(self, index: int) -> None:
        body = ifinfo(index, family=AF_BRIDGE) + nested(IFLA_PROTINFO, attr(IFLA_BRPORT_MODE, b"\1"))
        self.request(RTM_SETLINK, body)

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, ifinfo(index, IFF_UP, IFF_UP))

    def add_address(self, index: int, address: ipaddress.IPv4Interface) -> None:
        ip = address.ip.packed
        body = _IFADDR.pack(socket.AF_INET, address.network.prefixlen, 0, RT_SCOPE_UNIVERSE, index)
        body += attr(IFA_LOCAL, ip) + attr(IFA_ADDRESS, ip)
        if address.network.prefixlen < 31:
            body += attr(IFA_BROADCAST, address.network.broadcast_address.packed)
        self.request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL)

    def add_default_route(self, index: int, gateway: ipaddress.IPv4Address) -> None:
        body = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
        body += attr(RTA_GATEWAY, gateway.packed) + attr(RTA_OIF, struct.pack("=I", index))
        self.request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL)

    def delete_link(self, ifname: str) -> bool:
        """Remove the link called `ifname`; False if there is none."""
        try:
            self.request(RTM_DELLINK, ifinfo() + attr(IFLA_IFNAME, name(ifname)))
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True
