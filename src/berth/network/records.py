"""Networks, endpoints and sandboxes in berth.db (component ``network``).

Schema (component ``network``, version 1)::

    networks  (id TEXT PK (64 hex), name TEXT UNIQUE, created TEXT RFC3339Nano, data TEXT JSON:
               {Driver, Bridge, Subnet, Gateway, Internal, Attachable, Labels, Options, Predefined})
    endpoints (network_id TEXT, container_id TEXT, data TEXT JSON:
               {EndpointID, Name, Address "ip/prefix", Mac, Aliases, Ifname, RequestedIP, ConfigMac},
               PK (network_id, container_id))    -- IPAM: the addresses in use are the
               -- rows' Address; as in Docker an address is held only while the container runs
               -- (reserved by setup at start, released by teardown at exit): RequestedIP
               -- (--ip) and ConfigMac (--mac-address) are what a start asks for again
    sandboxes (container_id TEXT PK, data TEXT JSON: {Netns, Ports: [[cport, proto, hip, hport]]})
               -- one row per container whose network namespace berthd plumbed and that has
               -- not been torn down: what reconciliation at start compares with reality.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.network.ipam import Subnet
from berth.network.ports import PortMapping
from berth.store.metadata import Database, Migration

__all__ = ["Endpoint", "Network", "NetworkRecords", "Sandbox"]

_MIGRATIONS = (
    Migration(1, (
        "CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, created TEXT NOT NULL,"
        " data TEXT NOT NULL)",
        "CREATE TABLE endpoints (network_id TEXT NOT NULL, container_id TEXT NOT NULL, data TEXT NOT NULL,"
        " PRIMARY KEY (network_id, container_id))",
        "CREATE TABLE sandboxes (container_id TEXT PRIMARY KEY, data TEXT NOT NULL)",
    )),
)


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    created: str
    driver: str                       # bridge | host | null
    bridge: str = ""
    subnet: Subnet | None = None
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    predefined: bool = False
    user_subnet: bool = False


@dataclass(frozen=True)
class Endpoint:
    network_id: str
    container_id: str
    endpoint_id: str
    name: str                          # container name, for DNS
    address: ipaddress.IPv4Interface | None
    mac: str
    aliases: tuple[str, ...] = ()
    ifname: str = ""
    requested_ip: str = ""             # --ip / IPAMConfig.IPv4Address, asked for at every start
    config_mac: str = ""               # --mac-address; else the MAC follows the address
    links: tuple[str, ...] = ()        # --link name:alias on a user network: DNS aliases for this one


@dataclass(frozen=True)
class Sandbox:
    container_id: str
    netns: Path | None
    ports: tuple[PortMapping, ...] = ()


def _net_from(row: Any) -> Network:
    d = json.loads(row["data"])
    subnet = None
    if d.get("Subnet"):
        subnet = Subnet(ipaddress.IPv4Network(d["Subnet"]), ipaddress.IPv4Address(d["Gateway"]))
    return Network(id=row["id"], name=row["name"], created=row["created"], driver=d["Driver"],
                   bridge=d.get("Bridge", ""), subnet=subnet, internal=bool(d.get("Internal")),
                   attachable=bool(d.get("Attachable")), labels=d.get("Labels") or {},
                   options=d.get("Options") or {}, predefined=bool(d.get("Predefined")),
                   user_subnet=bool(d.get("UserSubnet")))


def _net_data(n: Network) -> str:
    return json.dumps({
        "Driver": n.driver, "Bridge": n.bridge,
        "Subnet": str(n.subnet.network) if n.subnet else "",
        "Gateway": str(n.subnet.gateway) if n.subnet else "", "Internal": n.internal,
        "Attachable": n.attachable, "Labels": n.labels, "Options": n.options,
        "Predefined": n.predefined, "UserSubnet": n.user_subnet})


def _ep_from(row: Any) -> Endpoint:
    d = json.loads(row["data"])
    return Endpoint(network_id=row["network_id"], container_id=row["container_id"],
                    endpoint_id=d["EndpointID"], name=d["Name"],
                    address=ipaddress.IPv4Interface(d["Address"]) if d.get("Address") else None,
                    mac=d.get("Mac", ""), aliases=tuple(d.get("Aliases") or ()), ifname=d.get("Ifname", ""),
                    requested_ip=d.get("RequestedIP", ""), config_mac=d.get("ConfigMac", ""),
                    links=tuple(d.get("Links") or ()))


def _ep_data(e: Endpoint) -> str:
    return json.dumps({"EndpointID": e.endpoint_id, "Name": e.name,
                       "Address": str(e.address) if e.address else "", "Mac": e.mac,
                       "Aliases": list(e.aliases), "Ifname": e.ifname, "RequestedIP": e.requested_ip,
                       "ConfigMac": e.config_mac, "Links": list(e.links)})


class NetworkRecords:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.migrate("network", _MIGRATIONS)
        # The networks table changes only through this object (berthd is the one writer), and
        # every start, stop and ps reads it several times: decoded once, kept until a change.
        self._networks: tuple[Network, ...] | None = None

    def networks(self) -> list[Network]:
        if self._networks is None:
            rows = self._db.query("SELECT * FROM networks ORDER BY created")
            self._networks = tuple(_net_from(r) for r in rows)
        return list(self._networks)

    def put_network(self, n: Network) -> None:
        self._networks = None
        with self._db.transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO networks(id, name, created, data) VALUES (?,?,?,?)",
                       (n.id, n.name, n.created, _net_data(n)))
        self._networks = None

    def delete_network(self, network_id: str) -> None:
        self._networks = None
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM endpoints WHERE network_id = ?", (network_id,))
            tx.execute("DELETE FROM networks WHERE id = ?", (network_id,))
        self._networks = None

    def endpoints(self, network_id: str | None = None, container_id: str | None = None) -> list[Endpoint]:
        sql, args = "SELECT * FROM endpoints WHERE 1=1", []
        if network_id:
            sql += " AND network_id = ?"
            args.append(network_id)
        if container_id:
            sql += " AND container_id = ?"
            args.append(container_id)
        return [_ep_from(r) for r in self._db.query(sql + " ORDER BY rowid", args)]

    def put_endpoint(self, e: Endpoint, durable: bool = True) -> None:
        """``durable=False`` for the address a start reserves and a stop releases: the
        network service's restore releases every address of a container not plumbed."""
        with self._db.transaction(durable=durable) as tx:
            tx.execute("INSERT OR REPLACE INTO endpoints(network_id, container_id, data) VALUES (?,?,?)",
                       (e.network_id, e.container_id, _ep_data(e)))

    def delete_endpoint(self, network_id: str, container_id: str, durable: bool = True) -> None:
        with self._db.transaction(durable=durable) as tx:
            tx.execute("DELETE FROM endpoints WHERE network_id = ? AND container_id = ?",
                       (network_id, container_id))

    def sandboxes(self) -> list[Sandbox]:
        out = []
        for r in self._db.query("SELECT * FROM sandboxes"):
            d = json.loads(r["data"])
            out.append(Sandbox(r["container_id"], Path(d["Netns"]) if d.get("Netns") else None,
                               tuple(PortMapping(int(p[0]), p[1], p[2], int(p[3])) for p in d["Ports"])))
        return out

    def put_sandbox(self, s: Sandbox) -> None:
        data = json.dumps({"Netns": str(s.netns) if s.netns else "",
                           "Ports": [[p.container_port, p.proto, p.host_ip, p.host_port] for p in s.ports]})
        # Running state, never synced: after a power loss no sandbox survives, and the
        # network service's restore drops every sandbox row of a container not running.
        with self._db.transaction(durable=False) as tx:
            tx.execute("INSERT OR REPLACE INTO sandboxes(container_id, data) VALUES (?,?)",
                       (s.container_id, data))

    def delete_sandbox(self, container_id: str) -> None:
        with self._db.transaction(durable=False) as tx:
            tx.execute("DELETE FROM sandboxes WHERE container_id = ?", (container_id,))
