"""Legacy container links (``--link name:alias``, ``HostConfig.Links``).

Owns what moby does with them. On the default bridge a link is checked at create (the
target must exist and not be on the host network; a ``container:`` mode is followed to the
container owning the network) and recorded by the target's full ID, so a rename keeps it;
at start the target must be running, and the linking container gets a hosts entry for the
alias, the target's hostname and name, and environment variables describing the target
(``ALIAS_PORT_<port>_<PROTO>...`` from its exposed ports, ``ALIAS_NAME``, ``ALIAS_ENV_*``
from its Config.Env). Inspect shows them as ``/target:/container/alias``. On a user-defined
network a link is only an alias that the network's DNS answers for the linking container;
it is not checked, and inspect lists it under the network's endpoint, as moby does.

A target removed while berthd runs leaves its linkers' links *dangling*, as in dockerd (whose
link index keeps the removed container): the link is stored as ``/<name at removal>:<alias>``
(an ID never starts with ``/``), inspect still shows it, every start of the linker fails with
"Cannot link to a non running container" (500), even once another container took the name.
berthd's next start re-registers a dangling link by name, as dockerd's restore does: to the
container of that name if there is one, else the link is dropped.

It must not start, stop or change containers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from berth import errors
from berth.services.container_model import Container

__all__ = ["Link", "check_running", "default_bridge", "environment", "hosts_names",
           "inspect_view", "orphan", "parse", "register", "reregister", "resolved", "without"]

_LEGACY_MODES: Final = ("bridge", "default", "")
# A stored default-bridge link whose target was removed: ``/<name>:<alias>``.
_DANGLING: Final = "/"


@dataclass(frozen=True)
class Link:
    """One link: the target (name or, once registered, full ID) and the alias it goes by."""

    target: str
    alias: str


def parse(value: str) -> Link:
    """``name[:alias]`` as moby reads it (a leading / on the name is dropped)."""
    if not value:
        raise errors.InvalidArgument("empty string specified for links")
    parts = value.split(":")
    if len(parts) > 2:
        raise errors.InvalidArgument(f"bad format for links: {value}")
    name = parts[0].removeprefix("/")
    alias = parts[1] if len(parts) == 2 else name
    return Link(name, alias.removeprefix("/"))


def default_bridge(host_config: Mapping[str, Any]) -> bool:
    """Links of this network mode are legacy links (hosts entries and environment)."""
    return str(host_config.get("NetworkMode") or "") in _LEGACY_MODES


def register(host_config: MutableMapping[str, Any], get: Callable[[str], Container]) -> None:
    """At create: check the links and record each default-bridge target by its full ID."""
    raw = [str(v) for v in host_config.get("Links") or []]
    if not raw:
        return
    links = [parse(v) for v in raw]
    mode = str(host_config.get("NetworkMode") or "")
    if mode == "host":
        raise errors.InvalidArgument("conflicting options: host type networking can't be used with "
                                     "links. This would result in undefined behavior")
    if mode.startswith("container:"):
        raise errors.InvalidArgument("conflicting options: container type network can't be used "
                                     "with links. This would result in undefined behavior")
    if not default_bridge(host_config):
        return  # an alias for the network's DNS, as given
    out = []
    for link in links:
        try:
            target = _network_owner(get(link.target), get)
        except errors.NotFound as err:
            raise errors.InvalidArgument(f"could not get container for {link.target}: {err}") from err
        if target.network_mode() == "host":
            raise errors.InvalidArgument("conflicting options: host type networking can't be used "
                                         "with links. This would result in undefined behavior")
        out.append(f"{target.id}:{link.alias}")
    host_config["Links"] = out


def _network_owner(c: Container, get: Callable[[str], Container]) -> Container:
    seen = {c.id}
    while c.network_mode().startswith("container:"):
        c = get(c.network_mode().removeprefix("container:"))
        if c.id in seen:
            break
        seen.add(c.id)
    return c


def _stored(c: Container) -> list[tuple[Link, bool]]:
    """``c``'s stored default-bridge links in order, each with whether it dangles."""
    if not default_bridge(c.host_config):
        return []
    return [(parse(str(v)), str(v).startswith(_DANGLING)) for v in c.host_config.get("Links") or []]


def resolved(c: Container, get: Callable[[str], Container]) -> list[tuple[Link, Container]]:
    """``c``'s default-bridge links whose targets are still there (not the dangling ones)."""
    out = []
    for link, dangling in _stored(c):
        if dangling:
            continue
        try:
            out.append((link, get(link.target)))
        except errors.NotFound:
            continue
    return out


def _non_running(c: Container, target_name: str, link: Link) -> errors.BerthError:
    # A plain error in moby: a 500, and the start's State.Error.
    return errors.Internal(f"Cannot link to a non running container: /{target_name} AS "
                           f"/{c.name}/{link.alias}")


def check_running(c: Container, get: Callable[[str], Container],
                  on_bridge: Callable[[Container], bool]) -> None:
    """At start: every target must be running, on the default bridge (moby's messages); a
    dangling link's target never runs again."""
    for link, dangling in _stored(c):
        if dangling:
            raise _non_running(c, link.target, link)
        try:
            target = get(link.target)
        except errors.NotFound:
            continue
        if not target.state.running:
            raise _non_running(c, target.name, link)
        if not on_bridge(target):
            raise errors.Internal(f"container {target.id} not attached to default bridge network")


def hosts_names(link: Link, target: Container) -> str:
    """The names of a hosts line for a link: alias, the target's hostname, and its name when
    that differs from the alias."""
    names = [link.alias, str(target.config.get("Hostname") or target.id[:12])]
    if link.alias != target.name:
        names.append(target.name)
    return " ".join(names)


def _ports(exposed: Mapping[str, Any] | None) -> list[tuple[int, str]]:
    out = []
    for key in exposed or {}:
        port, _, proto = str(key).partition("/")
        if port.isdigit():
            out.append((int(port), (proto or "tcp").lower()))
    # tcp first, then by protocol and number: the first is the link's default port
    return sorted(out, key=lambda p: (p[1] != "tcp", p[1], p[0]))


def environment(c: Container, link: Link, target: Container, address: str) -> list[str]:
    """The variables a default-bridge link gives ``c``, with moby's names and order: the
    default port, then each port's four, a run of consecutive ports of one protocol also
    described as a range once it ends, the link's name, and the target's own variables."""
    prefix = link.alias.upper().replace("-", "_")
    ports = _ports(target.config.get("ExposedPorts"))
    env: list[str] = []
    if ports:
        env.append(f"{prefix}_PORT={ports[0][1]}://{address}:{ports[0][0]}")
    first = last = ports[0] if ports else (0, "")
    for i, (num, proto) in enumerate(ports):
        head = f"{prefix}_PORT_{num}_{proto.upper()}"
        env += [f"{head}={proto}://{address}:{num}", f"{head}_ADDR={address}",
                f"{head}_PORT={num}", f"{head}_PROTO={proto}"]
        if (num, proto) == (last[0] + 1, last[1]):
            last = (num, proto)
            if i < len(ports) - 1:
                continue
        if last != first:
            head = f"{prefix}_PORT_{first[0]}_{first[1].upper()}"
            env += [f"{head}_START={first[1]}://{address}:{first[0]}", f"{head}_PORT_START={first[0]}",
                    f"{head}_END={last[1]}://{address}:{last[0]}", f"{head}_PORT_END={last[0]}"]
        first = last = (num, proto)
    env.append(f"{prefix}_NAME=/{c.name}/{link.alias}")
    for item in target.config.get("Env") or []:
        name, sep, value = str(item).partition("=")
        if sep and name not in ("HOME", "PATH"):
            env.append(f"{prefix}_ENV_{name}={value}")
    return env


def inspect_view(c: Container, get: Callable[[str], Container]) -> list[str] | None:
    """HostConfig.Links as inspect shows it: ``/target:/container/alias``, dangling ones by the
    name their target had (null on a user network, where the links are the endpoint's)."""
    if not default_bridge(c.host_config):
        return None
    out = []
    for link, dangling in _stored(c):
        name = link.target
        if not dangling:
            try:
                name = get(link.target).name
            except errors.NotFound:
                continue
        out.append(f"/{name}:/{c.name}/{link.alias}")
    return out or None


def orphan(host_config: Mapping[str, Any], target: Container) -> list[str] | None:
    """The default-bridge links with those to ``target``, being removed, left dangling (None:
    none links to it)."""
    if not default_bridge(host_config):
        return None
    values = [str(v) for v in host_config.get("Links") or []]
    out = [f"{_DANGLING}{target.name}:{parse(v).alias}"
           if not v.startswith(_DANGLING) and parse(v).target == target.id else v for v in values]
    return out if out != values else None


def reregister(host_config: Mapping[str, Any], ids_by_name: Mapping[str, str]) -> list[str] | None:
    """At berthd's start: dangling links pointed at the container now bearing the name, or
    dropped when none does (None: no dangling link)."""
    if not default_bridge(host_config):
        return None
    values = [str(v) for v in host_config.get("Links") or []]
    if not any(v.startswith(_DANGLING) for v in values):
        return None
    out = []
    for v in values:
        if v.startswith(_DANGLING):
            link = parse(v)
            if link.target not in ids_by_name:
                continue
            v = f"{ids_by_name[link.target]}:{link.alias}"
        out.append(v)
    return out


def without(host_config: Mapping[str, Any], alias: str) -> list[str] | None:
    """The default-bridge links but the one named ``alias`` (None: there is no such link)."""
    if not default_bridge(host_config):
        return None
    values = [str(v) for v in host_config.get("Links") or []]
    kept = [v for v in values if parse(v).alias != alias]
    return kept if len(kept) < len(values) else None
