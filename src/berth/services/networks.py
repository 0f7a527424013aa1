"""Network use-cases: the network API (create, list, inspect, remove, prune, connect,
disconnect) and each container's network plumbing across its lifecycle.

Lifecycle of a container's networking:
- create: ``allocate`` — one endpoint (requested address, MAC, aliases) per network it joins,
  persisted, without an address;
- start: ``setup`` — each endpoint reserves an address (IPAM state is the endpoint rows that
  hold one), a netns pinned under ``<exec-root>/netns/<id>``, a veth per endpoint, published
  ports planned and the nftables table re-rendered; a ``sandboxes`` row records it;
- exit: ``teardown`` — the netns unpinned (its veths die with it), the row dropped, the
  addresses released, rules re-rendered; remove: ``release`` drops the endpoints.
Addresses are held only while running, as in Docker: a small subnet limits running
containers, not created ones.
At berthd start ``restore`` re-creates bridges and DNS responders, tears down sandboxes of
containers that are no longer running and renders the rules from what is left, so no stale
rule forwards a port to a dead address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from berth import errors, ids
from berth.network import etcfiles, ipam, links, netns, nftables, ports
from berth.network.records import Endpoint, Network, NetworkRecords, Sandbox
from berth.network.resolver import Resolver
from berth.services.container_model import Container
from berth.store.metadata import Database
from berth.timefmt import format_ns, now_ns

__all__ = ["NetworkConfig", "NetworkService", "NetworkView"]

_log = logging.getLogger("berth.networks")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_PREDEFINED = ("bridge", "host", "none")


@dataclass(frozen=True)
class NetworkConfig:
    data_root: Path
    exec_root: Path
    bridge: str                        # --bridge: the default network's interface
    bip: ipam.Subnet                   # --bip
    pools: tuple[ipam.AddressPool, ...]  # --default-address-pool
    dns_port: int = 53


@dataclass(frozen=True)
class NetworkView:
    """One read of the network state, shared by the views of many containers."""

    networks: Mapping[str, Network]               # by network ID
    endpoints: Mapping[str, tuple[Endpoint, ...]]  # by container ID, in connection order
    sandboxes: Mapping[str, Sandbox]              # by container ID


def _mac_for(ip: ipaddress.IPv4Address) -> str:
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def _link_aliases(values: Iterable[str]) -> dict[str, str]:
    """``name:alias`` links as alias -> name, lower-cased as DNS names are matched."""
    out = {}
    for value in values:
        name, _, alias = value.partition(":")
        out[(alias or name).removeprefix("/").lower()] = name.removeprefix("/").lower()
    return out


def _network_name(mode: str) -> str:
    return "bridge" if mode in ("", "default") else mode


class NetworkService:
    def __init__(self, config: NetworkConfig, db: Database) -> None:
        self._cfg = config
        self._records = NetworkRecords(db)
        self._table = nftables.table_name(config.data_root)
        self._resolvers: dict[str, Resolver] = {}
        self._lock = asyncio.Lock()
        # The ruleset last swapped in: a start/stop that changes no rule (no published port,
        # no new network) skips the nft process, ~15 ms each way (bench/README.md).
        self._applied: nftables.Ruleset | None = None
        self._upstreams = self._host_nameservers()
        # (action, network id, attributes): create, destroy, connect, disconnect
        self.on_event: Callable[[str, str, dict[str, str]], None] = lambda action, nid, attrs: None

    @property
    def table(self) -> str:
        return self._table

    @staticmethod
    def _host_nameservers() -> list[str]:
        try:
            text = Path("/etc/resolv.conf").read_text()
        except OSError:
            return []
        return [f[1] for f in (line.split() for line in text.splitlines())
                if len(f) > 1 and f[0] == "nameserver" and ":" not in f[1]]

    # ---- daemon start / stop ------------------------------------------------------------

    async def restore(self, running: set[str], recorded: set[str]) -> None:
        """Re-create predefined networks, bridges and responders; drop the sandboxes of
        containers not in ``running`` and the endpoints of containers not in ``recorded``
        (a create that died between its endpoints and its record: they would hold a
        requested address and keep ``network rm`` refusing). Holds the plumbing lock
        throughout, so containers that the restart policies start meanwhile are plumbed
        after, not torn down by, this."""
        async with self._lock:
            await self._restore_locked(running, recorded)

    async def _restore_locked(self, running: set[str], recorded: set[str]) -> None:
        nets = {n.name: n for n in self._records.networks()}
        for name, driver in (("bridge", "bridge"), ("host", "host"), ("none", "null")):
            n = nets.get(name)
            if n is None:
                n = Network(id=ids.generate_id(), name=name, created=format_ns(now_ns()), driver=driver,
                            predefined=True)
            if name == "bridge":
                n = replace(n, bridge=self._cfg.bridge, subnet=self._cfg.bip)
            self._records.put_network(n)
        for n in self._records.networks():
            if n.driver == "bridge" and n.subnet is not None:
                clash = await asyncio.to_thread(links.overlapping, n.subnet.network, n.bridge)
                if clash:
                    _log.warning("network %s (%s on %s) overlaps addresses of %s: containers may be "
                                 "unreachable; choose another --bip/--subnet", n.name, n.subnet.network,
                                 n.bridge, ", ".join(clash))
                await asyncio.to_thread(links.ensure_bridge, n.bridge, n.subnet.gateway_cidr)
                if not n.predefined:
                    await self._start_resolver(n)
        for sb in self._records.sandboxes():
            if sb.container_id not in running:
                await asyncio.to_thread(self._drop_sandbox, sb)
        for e in self._records.endpoints():
            if e.container_id not in recorded:
                self._records.delete_endpoint(e.network_id, e.container_id)
        plumbed = {sb.container_id for sb in self._records.sandboxes()}
        for cid in {e.container_id for e in self._records.endpoints() if e.address is not None} - plumbed:
            self._release_addresses(cid)  # berth before 2026-11-28 reserved at create
        self._applied = None  # reconciliation re-asserts the table whatever it held
        await self._render()

    async def close(self) -> None:
        """Stop the DNS responders; with no container left plumbed, also remove the bridges
        and the nftables table (the next start re-creates them). With running containers
        everything stays, so they keep working while berthd is down (live restore)."""
        for r in self._resolvers.values():
            r.close()
        self._resolvers.clear()
        if self._records.sandboxes():
            return
        try:
            self._applied = None
            await asyncio.to_thread(nftables.delete, self._table)
            for n in self._records.networks():
                if n.driver == "bridge" and n.bridge:
                    await asyncio.to_thread(links.delete_link, n.bridge)
        except errors.BerthError as exc:
            _log.warning("removing networking at shutdown: %s", exc)

    async def _start_resolver(self, n: Network) -> None:
        if n.subnet is None or n.id in self._resolvers:
            return
        nid = n.id

        def lookup(name: str, asker: str) -> list[ipaddress.IPv4Address] | None:
            return self._lookup(nid, name, asker)

        r = Resolver(str(n.subnet.gateway), n.subnet.network, lookup, self._upstreams,
                     port=self._cfg.dns_port)
        try:
            await r.start()
        except OSError as exc:
            _log.warning("DNS responder for network %s on %s: %s", n.name, n.subnet.gateway, exc)
            return
        self._resolvers[n.id] = r

    def _lookup(self, network_id: str, name: str, asker: str) -> list[ipaddress.IPv4Address] | None:
        live = {s.container_id for s in self._records.sandboxes()}
        found: list[ipaddress.IPv4Address] = []
        endpoints = self._records.endpoints(network_id=network_id)
        for e in endpoints:
            if e.links and e.address is not None and str(e.address.ip) == asker:
                # the asker's own --link aliases name their targets (moby's endpoint aliases)
                name = _link_aliases(e.links).get(name, name)
                break
        for e in endpoints:
            if e.address is None or e.container_id not in live:
                continue
            names = {e.name.lower(), e.container_id[:12], *(a.lower() for a in e.aliases)}
            if name in names:
                found.append(e.address.ip)
        if found:
            return found
        # Single-label names are ours to answer (NXDOMAIN); dotted names go upstream.
        return [] if "." not in name else None

    async def _render(self) -> None:
        bridges = tuple(nftables.BridgeRule(n.bridge, str(n.subnet.network), n.internal)
                        for n in self._records.networks()
                        if n.driver == "bridge" and n.subnet is not None)
        rules: list[nftables.PortRule] = []
        sandboxes = [sb for sb in self._records.sandboxes() if sb.ports]
        by_container: dict[str, list[Endpoint]] = {}
        if sandboxes:
            for e in self._records.endpoints():
                if e.address:
                    by_container.setdefault(e.container_id, []).append(e)
        for sb in sandboxes:
            eps = by_container.get(sb.container_id)
            if not eps:
                continue
            ip = str(eps[0].address.ip) if eps[0].address else ""
            rules += [nftables.PortRule(p.host_ip, p.host_port, p.proto, ip, p.container_port)
                      for p in sb.ports]
        ruleset = nftables.Ruleset(bridges, tuple(rules))
        if ruleset == self._applied:
            return
        await asyncio.to_thread(nftables.apply, self._table, ruleset)
        self._applied = ruleset

    # ---- network API --------------------------------------------------------------------

    def get(self, ref: str) -> Network:
        nets = self._records.networks()
        for n in nets:
            if n.id == ref or n.name == ref:
                return n
        matches = [n for n in nets if n.id.startswith(ref)] if ref else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise errors.NotFound(f"network {ref} is ambiguous ({len(matches)} matches found on ID prefix)")
        raise errors.NotFound(f"network {ref} not found")

    def list_networks(self, filters: Mapping[str, list[str]]) -> list[Network]:
        known = {"name", "id", "driver", "label", "type", "scope", "dangling"}
        for key in filters:
            if key not in known:
                raise errors.InvalidArgument(f"Invalid filter '{key}'")
        out = []
        for n in self._records.networks():
            if filters.get("name") and not any(v in n.name for v in filters["name"]):
                continue
            if filters.get("id") and not any(n.id.startswith(v) for v in filters["id"]):
                continue
            if filters.get("driver") and n.driver not in filters["driver"]:
                continue
            if filters.get("type"):
                kind = "builtin" if n.predefined else "custom"
                if kind not in filters["type"]:
                    continue
            if not _labels_match(n.labels, filters.get("label", [])):
                continue
            if filters.get("dangling"):
                dangling = not n.predefined and not self._records.endpoints(network_id=n.id)
                if str(dangling).lower() not in [v.lower() for v in filters["dangling"]] and \
                        not ({"1"} & set(filters["dangling"]) and dangling):
                    continue
            out.append(n)
        return out

    async def create(self, body: Mapping[str, Any]) -> tuple[Network, str]:
        name = str(body.get("Name") or "")
        if not name or not _NAME_RE.match(name):
            raise errors.InvalidArgument(f"invalid name {name!r} for network: only "
                                         "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        driver = str(body.get("Driver") or "bridge")
        if driver != "bridge":
            if driver in ("host", "null"):
                raise errors.Forbidden(f"only one instance of \"{driver}\" network is allowed")
            raise errors.NotFound(f"could not find plugin {driver} in v1 plugin registry: plugin not found")
        if body.get("EnableIPv6"):
            raise errors.InvalidArgument("IPv6 networks are not supported by berth")
        async with self._lock:
            if any(n.name == name for n in self._records.networks()):
                raise errors.Conflict(f"network with name {name} already exists")
            configs = ((body.get("IPAM") or {}).get("Config") or [])
            taken = [n.subnet.network for n in self._records.networks() if n.subnet]
            user_subnet = False
            if configs:
                cfg = configs[0]
                if not cfg.get("Subnet"):
                    raise errors.InvalidArgument("a gateway requires a subnet") if cfg.get("Gateway") \
                        else errors.InvalidArgument("IPAM config without a subnet")
                subnet = ipam.parse_subnet(str(cfg["Subnet"]), str(cfg.get("Gateway") or ""))
                for t in taken:
                    if subnet.network.overlaps(t):
                        raise errors.Forbidden("Pool overlaps with other one on this address space")
                user_subnet = True
            else:
                host = await asyncio.to_thread(links.host_networks)
                net = ipam.allocate_subnet(self._cfg.pools, [*taken, *host, self._cfg.bip.network])
                subnet = ipam.parse_subnet(str(net))
            nid = ids.generate_id()
            n = Network(id=nid, name=name, created=format_ns(now_ns()), driver="bridge",
                        bridge=str((body.get("Options") or {}).get("com.docker.network.bridge.name")
                                   or f"br-{nid[:12]}"),
                        subnet=subnet, internal=bool(body.get("Internal")),
                        attachable=bool(body.get("Attachable")),
                        labels=dict(body.get("Labels") or {}), options=dict(body.get("Options") or {}),
                        user_subnet=user_subnet)
            await asyncio.to_thread(links.ensure_bridge, n.bridge, subnet.gateway_cidr)
            try:
                self._records.put_network(n)
                await self._render()
            except BaseException:
                await asyncio.to_thread(links.delete_link, n.bridge)
                self._records.delete_network(n.id)
                raise
            await self._start_resolver(n)
        self.on_event("create", n.id, {"name": n.name, "type": n.driver})
        return n, ""

    async def remove(self, ref: str) -> Network:
        n = self.get(ref)
        if n.predefined:
            raise errors.Forbidden(f"{n.name} is a pre-defined network and cannot be removed")
        async with self._lock:
            eps = self._records.endpoints(network_id=n.id)
            if eps:
                raise errors.Forbidden(f"error while removing network: network {n.name} id {n.id} has "
                                       "active endpoints")
            r = self._resolvers.pop(n.id, None)
            if r is not None:
                r.close()
            self._records.delete_network(n.id)
            await asyncio.to_thread(links.delete_link, n.bridge)
            await self._render()
        self.on_event("destroy", n.id, {"name": n.name, "type": n.driver})
        return n

    async def prune(self, filters: Mapping[str, list[str]]) -> list[str]:
        for key in filters:
            if key not in ("label", "label!", "until"):
                raise errors.InvalidArgument(f"Invalid filter '{key}'")
        out = []
        for n in self._records.networks():
            if n.predefined or self._records.endpoints(network_id=n.id):
                continue
            if not _labels_match(n.labels, filters.get("label", [])):
                continue
            if filters.get("label!") and _labels_match(n.labels, filters["label!"]):
                continue
            with contextlib.suppress(errors.BerthError):
                await self.remove(n.id)
                out.append(n.name)
        return out

    def inspect(self, n: Network, containers: Mapping[str, Container]) -> dict[str, Any]:
        members: dict[str, Any] = {}
        live = {s.container_id for s in self._records.sandboxes()}
        for e in self._records.endpoints(network_id=n.id):
            if e.container_id not in live:
                continue
            c = containers.get(e.container_id)
            members[e.container_id] = {
                "Name": c.name if c else e.name, "EndpointID": e.endpoint_id, "MacAddress": e.mac,
                "IPv4Address": str(e.address) if e.address else "", "IPv6Address": ""}
        ipam_cfg = []
        if n.subnet is not None:
            ipam_cfg = [{"Subnet": str(n.subnet.network), "Gateway": str(n.subnet.gateway)}]
        options = dict(n.options)
        if n.name == "bridge":
            options.setdefault("com.docker.network.bridge.name", n.bridge)
            options.setdefault("com.docker.network.bridge.default_bridge", "true")
        return {
            "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local",
            "Driver": n.driver, "EnableIPv4": True, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None if n.predefined else {},
                     "Config": ipam_cfg},
            "Internal": n.internal, "Attachable": n.attachable, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": members,
            "Options": options, "Labels": n.labels,
        }

    # ---- container lifecycle ------------------------------------------------------------

    def validate_mode(self, host_config: Mapping[str, Any]) -> None:
        mode = _network_name(str(host_config.get("NetworkMode") or ""))
        if mode in ("host", "none") or mode.startswith("container:"):
            return
        self.get(mode)

    async def allocate(self, c: Container, networking: Mapping[str, Any]) -> None:
        """Endpoints for a new container, from its NetworkMode and NetworkingConfig."""
        mode = _network_name(c.network_mode())
        if mode in ("host", "none") or mode.startswith("container:"):
            if c.config.get("MacAddress") and mode != "none":
                raise errors.InvalidArgument("conflicting options: mac-address and the network mode")
            return
        n = self.get(mode)
        if n.driver != "bridge":
            return
        raw = (networking.get("EndpointsConfig") or {}) if networking else {}
        epcfgs = {_network_name(k): v for k, v in raw.items()}
        epcfg = epcfgs.get(mode) or epcfgs.get(n.name) or epcfgs.get(n.id) or {}
        # Not synced: the container's record, committed durably right after, carries them.
        await self.connect(n.id, c, epcfg, running=False, durable=False)
        for other_name, other_cfg in epcfgs.items():
            if other_name in (mode, n.name, n.id):
                continue
            await self.connect(other_name, c, other_cfg or {}, running=False, durable=False)

    async def connect(self, ref: str, c: Container, epcfg: Mapping[str, Any], running: bool,
                      durable: bool = True) -> None:
        n = self.get(ref)
        mode = _network_name(c.network_mode())
        if n.driver != "bridge":
            raise errors.Forbidden(f"container cannot be disconnected from host network or connected "
                                   f"to {n.name} network")
        # a bad request (400) as in moby, not a forbidden one
        if mode == "none":
            raise errors.InvalidArgument("container cannot be connected to multiple networks with "
                                         "one of the networks in private (none) mode")
        if mode == "host" or mode.startswith("container:"):
            raise errors.InvalidArgument("container sharing network namespace with another "
                                         "container or host cannot be connected to any other network")
        async with self._lock:
            if self._records.endpoints(network_id=n.id, container_id=c.id):
                raise errors.Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
            assert n.subnet is not None
            requested = str(((epcfg.get("IPAMConfig") or {}).get("IPv4Address")) or "")
            if requested and n.predefined:
                raise errors.InvalidArgument("user specified IP address is supported on user defined "
                                             "networks only")
            aliases = tuple(str(a) for a in (epcfg.get("Aliases") or []))
            # on the default bridge links are the container's legacy links (services/links.py)
            link_names = () if n.predefined else tuple(str(v) for v in (epcfg.get("Links") or []))
            if aliases and n.predefined:
                raise errors.InvalidArgument("network-scoped alias is supported only for containers in "
                                             "user defined networks")
            if requested:
                ipam.check_requested(n.subnet, requested)
            mac = str(epcfg.get("MacAddress") or "")
            first = not self._records.endpoints(container_id=c.id)
            if first and not mac:
                mac = str(c.config.get("MacAddress") or "")
            mac = mac.lower()
            if mac and not re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", mac):
                raise errors.InvalidArgument(f"invalid MAC address: {mac}")
            # No address yet: a stopped container holds none (as in Docker); setup reserves one.
            ep = Endpoint(network_id=n.id, container_id=c.id, endpoint_id=ids.generate_id(), name=c.name,
                          address=None, mac="", aliases=aliases,
                          ifname=f"eth{len(self._records.endpoints(container_id=c.id))}",
                          requested_ip=requested, config_mac=mac, links=link_names)
            sb = self._sandbox(c.id) if running else None
            if sb is not None and sb.netns is not None:
                ep = self._reserve(n, ep)
            self._records.put_endpoint(ep, durable=durable)
            if sb is not None and sb.netns is not None:
                assert ep.address is not None
                try:
                    await asyncio.to_thread(links.add_endpoint, links.EndpointLink(
                        n.bridge, sb.netns, ep.ifname, ep.address, ep.mac, None))
                except BaseException:
                    self._records.delete_endpoint(n.id, c.id)
                    raise
        if running:  # as moby: a stopped container's networks are reported when it starts
            self.on_event("connect", n.id, {"name": n.name, "type": n.driver, "container": c.id})

    async def disconnect(self, ref: str, c: Container, force: bool) -> None:
        n = self.get(ref)
        async with self._lock:
            eps = self._records.endpoints(network_id=n.id, container_id=c.id)
            if not eps:
                if force:
                    return
                raise errors.Forbidden(f"container {c.id} is not connected to network {n.name}")
            sb = self._sandbox(c.id)
            if sb is not None and sb.netns is not None and eps[0].ifname:
                await asyncio.to_thread(links.remove_endpoint_in_ns, sb.netns, eps[0].ifname)
            self._records.delete_endpoint(n.id, c.id)
            await self._render()
        self.on_event("disconnect", n.id, {"name": n.name, "type": n.driver, "container": c.id})

    def _sandbox(self, cid: str) -> Sandbox | None:
        for s in self._records.sandboxes():
            if s.container_id == cid:
                return s
        return None

    def netns_path(self, cid: str) -> Path:
        return self._cfg.exec_root / "netns" / cid

    async def setup(self, c: Container, others: Iterable[Container]) -> Path | None:
        """Plumb a starting container; returns the netns path for its spec (None: runtime's own)."""
        mode = _network_name(c.network_mode())
        if mode in ("host", "none") or mode.startswith("container:"):
            return None
        eps = self._records.endpoints(container_id=c.id)
        if not eps:
            return None
        path = self.netns_path(c.id)
        async with self._lock:
            taken = [p for s in self._records.sandboxes() if s.container_id != c.id for p in s.ports]
            plan = await asyncio.to_thread(ports.plan_ports, c.config, c.host_config, taken)
            await asyncio.to_thread(netns.create, path)
            try:
                nets = {n.id: n for n in self._records.networks()}
                gateway_set = False
                for i, e in enumerate(eps):
                    n = nets[e.network_id]
                    assert n.subnet is not None
                    gw = None
                    if not gateway_set and not n.internal:
                        gw, gateway_set = n.subnet.gateway, True
                    e = self._reserve(n, replace(e, ifname=f"eth{i}"))
                    assert e.address is not None
                    self._records.put_endpoint(e, durable=False)
                    await asyncio.to_thread(links.add_endpoint, links.EndpointLink(
                        n.bridge, path, e.ifname, e.address, e.mac, gw))
                self._records.put_sandbox(Sandbox(c.id, path, tuple(plan)))
                await self._render()
            except BaseException:
                self._records.delete_sandbox(c.id)
                self._release_addresses(c.id)
                await asyncio.to_thread(netns.remove, path)
                raise
        self._endpoint_events("connect", c.id)
        return path

    def _reserve(self, n: Network, e: Endpoint) -> Endpoint:
        """``e`` with an address of ``n`` (its --ip when given) and the MAC that goes with it."""
        assert n.subnet is not None
        taken = [x.address.ip for x in self._records.endpoints(network_id=n.id)
                 if x.address is not None and x.container_id != e.container_id]
        try:
            ip = ipam.allocate_address(n.subnet, taken, e.requested_ip)
        except errors.Unavailable:
            raise errors.Unavailable(f"no available IPv4 addresses on this network's address pools: "
                                     f"{n.name} ({n.id})") from None
        return replace(e, address=ipaddress.IPv4Interface(f"{ip}/{n.subnet.network.prefixlen}"),
                       mac=e.config_mac or _mac_for(ip))

    def _release_addresses(self, cid: str) -> None:
        for e in self._records.endpoints(container_id=cid):
            if e.address is not None or e.mac:
                self._records.put_endpoint(replace(e, address=None, mac=""), durable=False)

    def _drop_sandbox(self, sb: Sandbox) -> None:
        if sb.netns is not None:
            try:
                netns.remove(sb.netns)
            except errors.BerthError as exc:
                _log.warning("%s", exc)
        self._records.delete_sandbox(sb.container_id)
        self._release_addresses(sb.container_id)

    async def teardown(self, cid: str) -> None:
        async with self._lock:
            sb = self._sandbox(cid)
            if sb is None:
                path = self.netns_path(cid)
                if path.exists():
                    await asyncio.to_thread(netns.remove, path)
                return
            await asyncio.to_thread(self._drop_sandbox, sb)
            await self._render()
        self._endpoint_events("disconnect", cid)

    def _endpoint_events(self, action: str, cid: str) -> None:
        """moby reports a container's networks as connected when it starts and disconnected
        when it stops."""
        nets = {n.id: n for n in self._records.networks()}
        for e in self._records.endpoints(container_id=cid):
            n = nets.get(e.network_id)
            if n is not None:
                self.on_event(action, n.id, {"name": n.name, "type": n.driver, "container": cid})

    async def release(self, cid: str) -> None:
        """Drop a container's endpoints (its removal, or a failed create). Not synced: the
        removal of the container's record, committed durably after, carries it to disk."""
        await self.teardown(cid)
        for e in self._records.endpoints(container_id=cid):
            self._records.delete_endpoint(e.network_id, cid, durable=False)

    # ---- views --------------------------------------------------------------------------

    def bridge_address(self, cid: str) -> str | None:
        """A container's address on the default bridge, if it has one now."""
        bridge = next((n for n in self._records.networks() if n.predefined and n.name == "bridge"), None)
        if bridge is None:
            return None
        for e in self._records.endpoints(network_id=bridge.id, container_id=cid):
            if e.address is not None:
                return str(e.address.ip)
        return None

    def etc_files(self, c: Container, host_resolv: str,
                  link_hosts: Sequence[tuple[str, str]] = ()) -> tuple[str, str]:
        """(hosts, resolv.conf) text for a bridge/user-network container; ``link_hosts``:
        (names, address) of its legacy links, after the --add-host entries as in moby."""
        nets = {n.id: n for n in self._records.networks()}
        eps = self._records.endpoints(container_id=c.id)
        first = nets.get(eps[0].network_id) if eps else None
        gateway = str(first.subnet.gateway) if first and first.subnet else ""
        hc = c.host_config
        extra = [etcfiles.parse_extra_host(str(h), gateway) for h in hc.get("ExtraHosts") or []]
        extra += link_hosts
        hostname = str(c.config.get("Hostname") or c.id[:12])
        own = [(str(e.address.ip), hostname) for e in eps[:1] if e.address]
        embedded = None
        if first is not None and not first.predefined and first.subnet is not None:
            embedded = str(first.subnet.gateway)
        resolv = etcfiles.resolv_conf(host_resolv, hc.get("Dns") or [], hc.get("DnsSearch") or [],
                                      hc.get("DnsOptions") or [], embedded if not hc.get("Dns") else None)
        return etcfiles.hosts_file(extra, own), resolv

    def view(self) -> NetworkView:
        """Networks, endpoints and sandboxes as of now, read once (three queries) for a
        view of many containers (ps)."""
        eps: dict[str, list[Endpoint]] = {}
        for e in self._records.endpoints():
            eps.setdefault(e.container_id, []).append(e)
        return NetworkView({n.id: n for n in self._records.networks()},
                           {cid: tuple(v) for cid, v in eps.items()},
                           {sb.container_id: sb for sb in self._records.sandboxes()})

    def port_mappings(self, cid: str) -> tuple[ports.PortMapping, ...]:
        sb = self._sandbox(cid)
        return sb.ports if sb else ()

    def settings(self, c: Container, running: bool, view: NetworkView | None = None) -> dict[str, Any]:
        """inspect's NetworkSettings."""
        v = view or self.view()
        nets = v.networks
        mode = _network_name(c.network_mode())
        sb = v.sandboxes.get(c.id) if running else None
        mappings = sb.ports if sb else ()
        networks: dict[str, Any] = {}
        for e in v.endpoints.get(c.id, ()):
            n = nets.get(e.network_id)
            if n is None:
                continue
            live = sb is not None
            networks[n.name] = {
                "IPAMConfig": {"IPv4Address": e.requested_ip} if e.requested_ip else None,
                "Links": list(e.links) or None,
                "Aliases": list(e.aliases) or None, "MacAddress": e.mac if live else "",
                "DriverOpts": None, "NetworkID": n.id, "EndpointID": e.endpoint_id if live else "",
                "Gateway": str(n.subnet.gateway) if live and n.subnet else "",
                "IPAddress": str(e.address.ip) if live and e.address else "",
                "IPPrefixLen": e.address.network.prefixlen if live and e.address else 0,
                "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "DNSNames": [c.name, c.id[:12], *e.aliases] if not n.predefined else None,
            }
        if mode in ("host", "none"):
            n = next((n for n in nets.values() if n.name == mode), None)
            if n is not None:
                networks[mode] = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "",
                                  "DriverOpts": None, "NetworkID": n.id, "EndpointID": "", "Gateway": "",
                                  "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                                  "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}
        bridge = networks.get("bridge") or {}
        return {
            "Bridge": "", "SandboxID": c.id if sb else "",
            "SandboxKey": str(sb.netns) if sb and sb.netns else "",
            "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "Ports": ports.port_view(c.config, c.host_config, mappings) if running else {},
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": bridge.get("EndpointID", ""), "Gateway": bridge.get("Gateway", ""),
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": bridge.get("IPAddress", ""), "IPPrefixLen": bridge.get("IPPrefixLen", 0),
            "IPv6Gateway": "", "MacAddress": bridge.get("MacAddress", ""), "Networks": networks,
        }

    def summary(self, c: Container, running: bool,
                view: NetworkView | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """ps's Ports and NetworkSettings.Networks."""
        v = view or self.view()
        s = self.settings(c, running, v)
        keep = ("NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress")
        nets = {k: {f: n.get(f) for f in keep} for k, n in s["Networks"].items()}
        sb = v.sandboxes.get(c.id) if running else None
        return ports.ps_view(c.config, c.host_config, sb.ports if sb else ()), nets


def _labels_match(labels: Mapping[str, str], wanted: Iterable[str]) -> bool:
    for want in wanted:
        key, eq, value = want.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True
