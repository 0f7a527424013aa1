"""Clean-up and disk usage: ``image prune``, ``container prune``, ``system prune``, ``system df``.

Owns docker's confirmation prompts (``-f`` skips them), the order ``system prune`` runs the
pruners in (containers, networks, volumes with ``--volumes``, images, build cache), their
report texts (``Deleted Images:`` ..., ``Total reclaimed space: 1.2MB``) and ``system df``'s
summary and ``-v`` tables, computed from ``GET /system/df`` as the docker CLI computes them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from berth.cli.context import CLIContext, GoBool, make_parser
from berth.cli.formatting import IMAGE_HEADERS, image_rows, render
from berth.cli.humanize import ellipsis
from berth.cli.objects import dispatch, filters_query, parse_filters
from berth.errors import BerthError
from berth.humanize import human_duration, human_size

__all__ = ["cmd_container", "cmd_image", "cmd_system"]

_Pruner = Callable[[CLIContext, dict[str, list[str]]], tuple[int, str]]


def _confirm(ctx: CLIContext, warning: str) -> bool:
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _post(ctx: CLIContext, path: str, filters: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = ctx.client.request("POST", path, query=filters_query(filters)).json() or {}
    return out


def _prune_containers(ctx: CLIContext, filters: dict[str, list[str]]) -> tuple[int, str]:
    out = _post(ctx, "/containers/prune", filters)
    gone = out.get("ContainersDeleted") or []
    text = "Deleted Containers:\n" + "".join(i + "\n" for i in gone) if gone else ""
    return int(out.get("SpaceReclaimed") or 0), text


def _prune_networks(ctx: CLIContext, filters: dict[str, list[str]]) -> tuple[int, str]:
    out = _post(ctx, "/networks/prune", filters)
    gone = out.get("NetworksDeleted") or []
    return 0, "Deleted Networks:\n" + "".join(n + "\n" for n in gone) if gone else ""


def _prune_volumes(ctx: CLIContext, filters: dict[str, list[str]]) -> tuple[int, str]:
    out = _post(ctx, "/volumes/prune", filters)
    gone = out.get("VolumesDeleted") or []
    text = "Deleted Volumes:\n" + "".join(n + "\n" for n in gone) if gone else ""
    return int(out.get("SpaceReclaimed") or 0), text


def _prune_images(ctx: CLIContext, filters: dict[str, list[str]]) -> tuple[int, str]:
    out = _post(ctx, "/images/prune", filters)
    items = out.get("ImagesDeleted") or []
    lines = [f"untagged: {i['Untagged']}\n" if i.get("Untagged") else f"deleted: {i.get('Deleted')}\n"
             for i in items]
    return int(out.get("SpaceReclaimed") or 0), "Deleted Images:\n" + "".join(lines) if lines else ""


def _prune_build_cache(ctx: CLIContext, filters: dict[str, list[str]]) -> tuple[int, str]:
    out = _post(ctx, "/build/prune", {})
    gone = out.get("CachesDeleted") or []
    text = "Deleted build cache objects:\n" + "".join(k + "\n" for k in gone) if gone else ""
    return int(out.get("SpaceReclaimed") or 0), text


def _report(pruners: list[tuple[_Pruner, dict[str, list[str]]]], ctx: CLIContext) -> int:
    total = 0
    for prune, filters in pruners:
        try:
            space, text = prune(ctx, filters)
        except BerthError as exc:
            ctx.fail(exc)
            return 1
        total += space
        if text:
            sys.stdout.write(text + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(total, 4)}\n")
    return 0


def _image_prune(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("image prune", "Remove unused images")
    p.add_argument("-a", "--all", action=GoBool)
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    filters = parse_filters(ns.filter)
    warning = "WARNING! This will remove all dangling images."
    if ns.all:
        filters["dangling"] = ["false"]
        warning = "WARNING! This will remove all images without at least one container associated to them."
    if not ns.force and not _confirm(ctx, warning):
        return 0
    return _report([(_prune_images, filters)], ctx)


def _container_prune(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("container prune", "Remove all stopped containers")
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    filters = parse_filters(ns.filter)
    if not ns.force and not _confirm(ctx, "WARNING! This will remove all stopped containers."):
        return 0
    return _report([(_prune_containers, filters)], ctx)


def _system_prune(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("system prune", "Remove unused data")
    p.add_argument("-a", "--all", action=GoBool)
    p.add_argument("-f", "--force", action=GoBool)
    p.add_argument("--volumes", action=GoBool)
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    filters = parse_filters(ns.filter)
    items = ["all stopped containers", "all networks not used by at least one container"]
    if ns.volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append("all images without at least one container associated to them" if ns.all
                 else "all dangling images")
    items.append("unused build cache")
    warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items).rstrip("\n")
    if not ns.force and not _confirm(ctx, warning):
        return 0
    image_filters = {**filters, "dangling": ["false"]} if ns.all else dict(filters)
    pruners: list[tuple[_Pruner, dict[str, list[str]]]] = [
        (_prune_containers, filters), (_prune_networks, filters)]
    if ns.volumes:
        pruners.append((_prune_volumes, {k: v for k, v in filters.items() if k != "until"}))
    pruners += [(_prune_images, image_filters), (_prune_build_cache, {})]
    return _report(pruners, ctx)


# -- system df -------------------------------------------------------------------------------

_DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
               "Reclaimable": "RECLAIMABLE"}
_DF_DEFAULT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


def _share(part: int, total: int) -> str:
    text = human_size(part, 4)
    return f"{text} ({int(part * 100 / total)}%)" if total > 0 else text


def df_summary(usage: dict[str, Any]) -> list[dict[str, Any]]:
    """The four rows of ``docker system df``, as the docker CLI computes them."""
    images = usage.get("Images") or []
    layers = int(usage.get("LayersSize") or 0)
    used = sum(int(i.get("Size", 0)) - int(i.get("SharedSize", 0)) for i in images
               if int(i.get("Containers", 0)) > 0 and i.get("SharedSize", -1) != -1)
    containers = usage.get("Containers") or []
    active_c = [c for c in containers if c.get("State") in ("running", "paused")]
    c_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    c_free = sum(int(c.get("SizeRw") or 0) for c in containers if c not in active_c)
    volumes = usage.get("Volumes") or []
    v_sizes = [(int((v.get("UsageData") or {}).get("Size", -1)),
                int((v.get("UsageData") or {}).get("RefCount", 0))) for v in volumes]
    v_size = sum(s for s, _ in v_sizes if s > 0)
    v_free = sum(s for s, refs in v_sizes if s > 0 and refs == 0)
    cache = usage.get("BuildCache") or []
    b_size = sum(int(b.get("Size") or 0) for b in cache if not b.get("Shared"))
    b_free = sum(int(b.get("Size") or 0) for b in cache if not b.get("Shared") and not b.get("InUse"))
    return [
        {"Type": "Images", "TotalCount": str(len(images)),
         "Active": str(sum(1 for i in images if int(i.get("Containers", 0)) > 0)),
         "Size": human_size(layers, 4), "Reclaimable": _share(layers - used, layers)},
        {"Type": "Containers", "TotalCount": str(len(containers)), "Active": str(len(active_c)),
         "Size": human_size(c_size, 4), "Reclaimable": _share(c_free, c_size)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)),
         "Active": str(sum(1 for _, refs in v_sizes if refs > 0)),
         "Size": human_size(v_size, 4), "Reclaimable": _share(v_free, v_size)},
        {"Type": "Build Cache", "TotalCount": str(len(cache)),
         "Active": str(sum(1 for b in cache if b.get("InUse"))),
         "Size": human_size(b_size, 4), "Reclaimable": human_size(b_free, 4)},
    ]


def _df_verbose(usage: dict[str, Any]) -> str:
    now = time.time()
    out = ["Images space usage:\n\n"]
    rows = []
    for i in usage.get("Images") or []:
        for r in image_rows(i, trunc=True, digests=False, now=now):
            r["UniqueSize"] = human_size(max(0, int(i.get("Size", 0)) - int(i.get("SharedSize", 0))))
            rows.append(r)
    out.append(render("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                      "\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}", rows, IMAGE_HEADERS))
    out.append("\nContainers space usage:\n\n")
    crow = [{"ID": c["Id"][:12], "Image": ellipsis(str(c.get("Image", "")), 20),
             "Command": '"' + ellipsis(str(c.get("Command", "")), 20) + '"',
             "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Type") == "volume")),
             "Size": human_size(int(c.get("SizeRw") or 0)),
             "RunningFor": human_duration(now - float(c.get("Created", now))) + " ago",
             "Status": c.get("Status", ""),
             "Names": ",".join(n.removeprefix("/") for n in c.get("Names") or [])}
            for c in usage.get("Containers") or []]
    out.append(render("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}"
                      "\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}", crow,
                      {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
                       "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "RunningFor": "CREATED",
                       "Status": "STATUS", "Names": "NAMES"}))
    out.append("\nLocal Volumes space usage:\n\n")
    vrow = [{"Name": v["Name"], "Links": str((v.get("UsageData") or {}).get("RefCount", 0)),
             "Size": human_size(int((v.get("UsageData") or {}).get("Size", 0)))}
            for v in usage.get("Volumes") or []]
    out.append(render("table {{.Name}}\t{{.Links}}\t{{.Size}}", vrow,
                      {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}))
    cache = usage.get("BuildCache") or []
    total = sum(int(b.get("Size") or 0) for b in cache if not b.get("Shared"))
    out.append(f"\nBuild cache usage: {human_size(total, 4)}\n\n")
    brow = [{"ID": b["ID"], "CacheType": b.get("Type", ""), "Size": human_size(int(b.get("Size") or 0)),
             "CreatedSince": b.get("CreatedAt", ""), "LastUsedSince": b.get("LastUsedAt", ""),
             "UsageCount": str(b.get("UsageCount", 0)), "Shared": str(bool(b.get("Shared"))).lower()}
            for b in cache]
    out.append(render("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}"
                      "\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}", brow,
                      {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE",
                       "CreatedSince": "CREATED", "LastUsedSince": "LAST USED",
                       "UsageCount": "USAGE", "Shared": "SHARED"}))
    return "".join(out)


def _system_df(ctx: CLIContext, argv: list[str]) -> int:
    p = make_parser("system df", "Show docker disk usage")
    p.add_argument("-v", "--verbose", action=GoBool)
    p.add_argument("--format")
    ns = p.parse_args(argv)
    try:
        usage = ctx.client.request("GET", "/system/df").json() or {}
    except BerthError as exc:
        ctx.fail(exc)
        return 1
    if ns.verbose and not ns.format:
        sys.stdout.write(_df_verbose(usage))
        return 0
    fmt = ns.format or _DF_DEFAULT
    sys.stdout.write(render(_DF_DEFAULT if fmt == "table" else fmt, df_summary(usage), _DF_HEADERS))
    return 0


# -- group commands --------------------------------------------------------------------------


def cmd_image(ctx: CLIContext, argv: list[str]) -> int:
    """``berth image prune`` (other ``image`` subcommands are aliases in ``cli.main``)."""
    return dispatch("image", {"prune": _image_prune}, ctx, argv)


def cmd_container(ctx: CLIContext, argv: list[str]) -> int:
    """``berth container prune`` (other ``container`` subcommands are aliases in ``cli.main``)."""
    return dispatch("container", {"prune": _container_prune}, ctx, argv)


def cmd_system(ctx: CLIContext, argv: list[str]) -> int:
    """``berth system df|prune`` (``system info``/``events`` are aliases in ``cli.main``)."""
    return dispatch("system", {"df": _system_df, "prune": _system_prune}, ctx, argv)
