"""The few rtnetlink requests a container start makes, packed by hand on a raw netlink socket.

Owns: a link's index by name, a veth pair created enslaved and up with its peer in another
network namespace, an IPv4 address, a link brought up, a default route. Everything else
(bridges, dumps, deletes at leisure) stays with pyroute2 in ``links``: these five are on every
bridge-networked start, where pyroute2 spends 1-3 ms of Python per request against ~0.1 ms
of kernel work (bench/README.md).

A socket belongs to the network namespace of the thread that opened it, so opening one on
a thread that joined a container's namespace (``netns.run_in``) configures that namespace.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

__all__ = ["RtnlSocket"]

_NLMSG_ERROR = 2
_RTM_NEWLINK, _RTM_GETLINK, _RTM_NEWADDR, _RTM_NEWROUTE = 16, 18, 20, 24
_F_REQUEST, _F_ACK, _F_REPLACE, _F_EXCL, _F_CREATE = 0x1, 0x4, 0x100, 0x200, 0x400
_IFF_UP = 0x1
_IFLA_ADDRESS, _IFLA_IFNAME, _IFLA_MASTER, _IFLA_LINKINFO, _IFLA_NET_NS_FD = 1, 3, 10, 18, 28
_IFLA_INFO_KIND, _IFLA_INFO_DATA, _VETH_INFO_PEER = 1, 2, 1
_IFA_ADDRESS, _IFA_LOCAL, _IFA_BROADCAST = 1, 2, 4
_RTA_OIF, _RTA_GATEWAY = 4, 5
_RT_TABLE_MAIN, _RTPROT_BOOT, _RT_SCOPE_UNIVERSE, _RTN_UNICAST = 254, 3, 0, 1

_NLMSGHDR = struct.Struct("=IHHII")     # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")   # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBi")    # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")    # family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTATTR = struct.Struct("=HH")


def _attr(kind: int, payload: bytes) -> bytes:
    data = _RTATTR.pack(_RTATTR.size + len(payload), kind) + payload
    return data + b"\0" * (-len(data) % 4)


def _name(text: str) -> bytes:
    return text.encode() + b"\0"


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


class RtnlSocket:
    """One NETLINK_ROUTE socket; each request waits for its acknowledgement (errors raise
    OSError with the kernel's errno)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                   socket.NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._seq = 0

    def __enter__(self) -> RtnlSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def _request(self, kind: int, flags: int, body: bytes) -> bytes:
        """Send one request; return the payload of its answer (b"" for a plain ack)."""
        self._seq += 1
        seq = self._seq
        self._sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, _F_REQUEST | _F_ACK | flags, seq, 0)
                        + body)
        answer = b""
        while True:
            data = self._sock.recv(65536)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, mtype, _, mseq, _ = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    raise OSError(0, "malformed netlink message")
                payload = data[offset + _NLMSGHDR.size:offset + length]
                offset += (length + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == _NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", payload)
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return answer
                answer = payload  # a reply (RTM_NEWLINK for a get), then the ack

    def link_index(self, name: str) -> int:
        reply = self._request(_RTM_GETLINK, 0, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
                              + _attr(_IFLA_IFNAME, _name(name)))
        if len(reply) < _IFINFOMSG.size:
            raise OSError(0, f"no link answer for {name}")
        return int(_IFINFOMSG.unpack_from(reply)[2])

    def add_veth(self, name: str, master: int, peer: str, peer_mac: str, peer_netns_fd: int) -> None:
        """``name`` enslaved to ``master`` and up; ``peer`` created inside the namespace of
        ``peer_netns_fd`` with ``peer_mac`` (down: its namespace's owner brings it up)."""
        peer_info = (_IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(_IFLA_IFNAME, _name(peer))
                     + _attr(_IFLA_ADDRESS, _mac(peer_mac))
                     + _attr(_IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd)))
        linkinfo = (_attr(_IFLA_INFO_KIND, b"veth\0")
                    + _attr(_IFLA_INFO_DATA, _attr(_VETH_INFO_PEER, peer_info)))
        body = (_IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, _IFF_UP, _IFF_UP) + _attr(_IFLA_IFNAME, _name(name))
                + _attr(_IFLA_MASTER, struct.pack("=I", master)) + _attr(_IFLA_LINKINFO, linkinfo))
        self._request(_RTM_NEWLINK, _F_CREATE | _F_EXCL, body)

    def set_up(self, index: int) -> None:
        self._request(_RTM_NEWLINK, 0, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, _IFF_UP, _IFF_UP))

    def add_address(self, index: int, address: ipaddress.IPv4Interface) -> None:
        packed = address.ip.packed
        body = (_IFADDRMSG.pack(socket.AF_INET, address.network.prefixlen, 0, _RT_SCOPE_UNIVERSE, index)
                + _attr(_IFA_LOCAL, packed) + _attr(_IFA_ADDRESS, packed)
                + _attr(_IFA_BROADCAST, address.network.broadcast_address.packed))
        self._request(_RTM_NEWADDR, _F_CREATE | _F_EXCL, body)

    def replace_default_route(self, gateway: ipaddress.IPv4Address, index: int) -> None:
        body = (_RTMSG.pack(socket.AF_INET, 0, 0, 0, _RT_TABLE_MAIN, _RTPROT_BOOT, _RT_SCOPE_UNIVERSE,
                            _RTN_UNICAST, 0)
                + _attr(_RTA_GATEWAY, gateway.packed) + _attr(_RTA_OIF, struct.pack("=I", index)))
        self._request(_RTM_NEWROUTE, _F_CREATE | _F_REPLACE, body)
