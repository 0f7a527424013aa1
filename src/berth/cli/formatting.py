"""Rows for ``ps`` and ``images``: API list items -> docker's column values and headers,
and rendering through ``--format`` templates (``table``, ``json``, custom).

Owns column definitions and their docker-compatible text. Pure given ``now``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from berth.cli.humanize import ellipsis, go_quote, human_duration, human_size
from berth.cli.table import tabulate
from berth.cli.template import parse_template

__all__ = [
    "CONTAINER_HEADERS",
    "IMAGE_HEADERS",
    "container_row",
    "image_rows",
    "render",
]

CONTAINER_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
    "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
    "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
}
IMAGE_HEADERS = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
    "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
    "Containers": "CONTAINERS",
}


def _go_time(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ts))


def _ports(ports: list[Mapping[str, Any]]) -> str:
    out: list[str] = []
    for p in ports:
        spec = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            host = f"[{ip}]" if ":" in ip else ip
            spec = f"{host}:{p['PublicPort']}->{spec}"
        if spec not in out:
            out.append(spec)
    return ", ".join(out)


def container_row(item: Mapping[str, Any], *, trunc: bool, now: float) -> dict[str, Any]:
    """The ps template context for one ``GET /containers/json`` item."""
    names = [n.removeprefix("/") for n in item.get("Names") or []
             if n.count("/") <= 1]  # names with more slashes are legacy links
    cid = str(item.get("Id", ""))
    image = str(item.get("Image", ""))
    if trunc and image.startswith("sha256:"):
        image = image.removeprefix("sha256:")[:12]
    command = str(item.get("Command", ""))
    created = float(item.get("Created", 0))
    labels = item.get("Labels") or {}
    size = ""
    if item.get("SizeRootFs") is not None or item.get("SizeRw") is not None:
        size = human_size(float(item.get("SizeRw") or 0))
        if item.get("SizeRootFs"):
            size += f" (virtual {human_size(float(item['SizeRootFs']))})"
    networks = sorted((item.get("NetworkSettings") or {}).get("Networks") or {})
    mounts = [str(m.get("Name") or m.get("Source", "")) for m in item.get("Mounts") or []]
    return {
        "ID": cid[:12] if trunc else cid,
        "Image": image,
        "Command": go_quote(ellipsis(command, 20) if trunc else command),
        "CreatedAt": _go_time(created),
        "RunningFor": human_duration(now - created) + " ago",
        "Ports": _ports(item.get("Ports") or []),
        "State": str(item.get("State", "")),
        "Status": str(item.get("Status", "")),
        "Size": size,
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Mounts": ",".join(ellipsis(m, 15) if trunc else m for m in mounts),
        "Networks": ",".join(networks),
        "LocalVolumes": str(sum(1 for m in item.get("Mounts") or [] if m.get("Driver") == "local")),
        "Label": lambda key: str(labels.get(key, "")),
    }


def image_rows(item: Mapping[str, Any], *, trunc: bool, digests: bool,
               now: float) -> list[dict[str, Any]]:
    """One ps-like context per repo:tag of an image (``<none>`` when untagged), like docker."""
    iid = str(item.get("Id", ""))
    created = float(item.get("Created", 0))
    base = {
        "ID": iid.removeprefix("sha256:")[:12] if trunc else iid,
        "CreatedSince": human_duration(now - created) + " ago",
        "CreatedAt": _go_time(created),
        "Size": human_size(float(item.get("Size") or 0)),
        "SharedSize": "N/A" if (item.get("SharedSize", -1) == -1)
        else human_size(float(item["SharedSize"])),
        "Containers": "N/A" if item.get("Containers", -1) == -1 else str(item["Containers"]),
        "Digest": "<none>",
    }
    tags = [t for t in item.get("RepoTags") or [] if t != "<none>:<none>"]
    repo_digests = [d for d in item.get("RepoDigests") or [] if d != "<none>@<none>"]
    digest_by_repo = {d.split("@")[0]: d.split("@")[1] for d in repo_digests if "@" in d}
    rows: list[dict[str, Any]] = []
    for tag in tags:
        repo, _, t = tag.rpartition(":")
        rows.append({**base, "Repository": repo, "Tag": t,
                     "Digest": digest_by_repo.get(repo, "<none>")})
    if not rows:
        if digests and repo_digests:
            for repo, digest in digest_by_repo.items():
                rows.append({**base, "Repository": repo, "Tag": "<none>", "Digest": digest})
        else:
            rows.append({**base, "Repository": "<none>", "Tag": "<none>"})
    return rows


def render(fmt: str, rows: list[dict[str, Any]], headers: Mapping[str, str]) -> str:
    """Render ``rows`` with a docker ``--format`` value (``table ...``, ``json`` or a template)."""
    if fmt == "json":
        return "".join(json.dumps({k: v for k, v in r.items() if not callable(v)},
                                  ensure_ascii=False, separators=(",", ":")) + "\n"
                       for r in rows)
    is_table = fmt.startswith("table")
    body = fmt[len("table"):].lstrip() if is_table else fmt
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    template = parse_template(body)
    lines = [template.render(r) for r in rows]
    if not is_table:
        return "".join(line + "\n" for line in lines)
    header = template.render({k: v for k, v in headers.items()})
    return tabulate([header, *lines])
