"""The classic builder: runs a parsed Dockerfile step by step through a ``BuildBackend``.

Owns the build's semantics: stages (``FROM … AS``, ``--target``, ``COPY --from``), ARG
scoping (global ARGs before FROM visible to FROM lines only, predefined proxy ARGs),
variable substitution per instruction, the cache (key per step, a hit skips the step),
one image per step as Docker's classic builder does (filesystem steps add a layer, the
others an ``empty_layer`` history entry), ONBUILD triggers, and the progress text
(``Step 1/7 : …``, `` ---> <id>``, `` ---> Running in <id>``, `` ---> Using cache``).
It must not touch HTTP or the services directly; file work runs in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import os
import platform
import posixpath
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from berth.build.backend import BaseImage, BuildBackend, BuildFailed, BuildOptions, Rootfs
from berth.build.cache import BuildCache, cache_key, content_checksum
from berth.build.copier import Owner, copy_sources, find_sources, lookup_owner
from berth.build.dockerfile import Dockerfile, Instruction, parse_instruction
from berth.build.metadata import apply_metadata, nop, set_env
from berth.build.shellwords import expand_word, expand_words
from berth.errors import BerthError, InvalidArgument, NotFound
from berth.timefmt import format_ns, now_ns

__all__ = ["Builder", "Emit", "plan_stages"]

Emit = Callable[[dict[str, Any]], Awaitable[None]]
_T = TypeVar("_T")

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROXY_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                        "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})
_META = frozenset({"env", "label", "expose", "cmd", "entrypoint", "user", "volume", "stopsignal",
                   "healthcheck", "onbuild", "shell", "maintainer"})
_EXPANDS = frozenset({"env", "label", "expose", "user", "volume", "stopsignal", "workdir"})
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


async def _in_thread(fn: Callable[..., _T], /, *args: Any) -> _T:
    """``asyncio.to_thread`` for build steps: when the build is cancelled (its client left),
    the thread's work finishes before the cancellation goes on, so the roots, mounts and
    temp dirs it uses are removed only after it stopped using them."""
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


@dataclass(frozen=True)
class _StagePlan:
    index: int
    name: str
    base: str
    from_ins: Instruction
    steps: tuple[Instruction, ...]


def plan_stages(df: Dockerfile, target: str) -> tuple[tuple[Instruction, ...], list[_StagePlan]]:
    """(global ARG instructions, stages up to and including ``target``)."""
    meta: list[Instruction] = []
    heads: list[Instruction] = []
    bodies: list[list[Instruction]] = []
    for ins in df.instructions:
        if ins.cmd == "from":
            heads.append(ins)
            bodies.append([])
        elif not heads:
            meta.append(ins)
        else:
            bodies[-1].append(ins)
    planned = [_StagePlan(i, h.args[2].lower() if len(h.args) == 3 else "", h.args[0], h, tuple(b))
               for i, (h, b) in enumerate(zip(heads, bodies, strict=True))]
    if target:
        names = [s.name for s in planned]
        if target.lower() not in names:
            raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")
        planned = planned[: names.index(target.lower()) + 1]
    return tuple(meta), planned


@dataclass
class _State:
    """One stage's build state: the current image and its config."""

    name: str
    image_id: str | None
    config: dict[str, Any]
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False

    @property
    def run_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = self.config.setdefault("config", {})
        return cfg

    @property
    def shell(self) -> list[str]:
        return list(self.run_config.get("Shell") or ["/bin/sh", "-c"])

    def env(self) -> dict[str, str]:
        """What substitution sees: ARGs in scope, overridden by ENV."""
        out = dict(self.args)
        for e in self.run_config.get("Env") or []:
            k, _, v = str(e).partition("=")
            out[k] = v
        return out


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _new_config(base: BaseImage | None) -> dict[str, Any]:
    cfg: dict[str, Any] = copy.deepcopy(dict(base.config)) if base else {}
    cfg.pop("rootfs", None)
    cfg.setdefault("architecture", _ARCH.get(platform.machine(), platform.machine()))
    cfg.setdefault("os", "linux")
    cfg["config"] = dict(cfg.get("config") or {})
    cfg["history"] = list(cfg.get("history") or [])
    for key in ("container", "container_config", "comment"):
        cfg.pop(key, None)
    return cfg


class Builder:
    """One build: a context directory, a parsed Dockerfile, options, a backend, a cache."""

    def __init__(self, backend: BuildBackend, cache: BuildCache, context: Path, df: Dockerfile,
                 options: BuildOptions, emit: Emit, tmp_dir: Path) -> None:
        self._b = backend
        self._cache = cache
        self._ctx = context
        self._df = df
        self._opt = options
        self._emit_raw = emit
        self._tmp = tmp_dir
        self._stages: list[_State] = []
        self._used_args: set[str] = set()
        self._pulled: dict[str, BaseImage] = {}  # one pull per reference and build, as moby
        self._step = 0
        self._total = 0

    # -- output ------------------------------------------------------------------------------

    async def _say(self, text: str) -> None:
        if not self._opt.quiet:
            await self._emit_raw({"stream": text})

    # -- driver ------------------------------------------------------------------------------

    async def run(self) -> str:
        meta, stages = plan_stages(self._df, self._opt.target)
        if self._opt.labels:
            # Docker appends --label values as one more LABEL step of the last stage.
            parts = " ".join(f'"{k}"=\'{v}\'' for k, v in sorted(self._opt.labels.items()))
            extra = Instruction(0, "label", "LABEL " + parts,
                                tuple(x for k, v in sorted(self._opt.labels.items()) for x in (k, v)))
            last = stages[-1]
            stages[-1] = _StagePlan(last.index, last.name, last.base, last.from_ins,
                                    (*last.steps, extra))
        self._total = sum(1 + len(s.steps) for s in stages)
        global_args = self._global_args(meta)
        for plan in stages:
            state = await self._from(plan, global_args)
            self._stages.append(state)
            for ins in plan.steps:
                self._step += 1
                await self._say(f"Step {self._step}/{self._total} : {ins.original}")
                await self._say("\n")
                await self._dispatch(state, ins, global_args)
        final = self._stages[-1].image_id
        if final is None:
            raise BuildFailed("No image was generated. Is your Dockerfile empty?")
        unused = sorted(k for k in self._opt.build_args
                        if k not in self._used_args and k not in PROXY_ARGS)
        if unused:
            await self._say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        return final

    def _global_args(self, meta: tuple[Instruction, ...]) -> dict[str, str]:
        out: dict[str, str] = {}
        for ins in meta:
            if ins.cmd != "arg":
                raise InvalidArgument(f"dockerfile parse error line {ins.line}: "
                                      f"{ins.cmd.upper()} before FROM")
            name, eq, default = ins.args[0].partition("=")
            value: str | None = expand_word(default, out, self._df.escape) if eq else None
            if name in self._opt.build_args and self._opt.build_args[name] is not None:
                value = self._opt.build_args[name]
                self._used_args.add(name)
            if value is not None:
                out[name] = value
        return out

    async def _from(self, plan: _StagePlan, global_args: dict[str, str]) -> _State:
        self._step += 1
        await self._say(f"Step {self._step}/{self._total} : {plan.from_ins.original}")
        await self._say("\n")
        ref = expand_word(plan.base, global_args, self._df.escape)
        base: BaseImage | None = None
        by_stage = next((s for s in self._stages if s.name and s.name == ref.lower()), None)
        if by_stage is not None:
            if by_stage.image_id is None:
                raise BuildFailed(f"stage {ref} produced no image")
            base = await _in_thread(self._b.image, by_stage.image_id)
        elif ref.lower() != "scratch":
            base = await self._base_image(ref)
        config = _new_config(base)
        state = _State(plan.name, base.id if base else None, config)
        env = list(state.run_config.get("Env") or [])
        if not any(e.startswith("PATH=") for e in env):
            state.run_config["Env"] = [*env, DEFAULT_PATH]
        await self._say(f" ---> {_short(base.id) if base else ''}\n")
        triggers = list(state.run_config.get("OnBuild") or [])
        state.run_config["OnBuild"] = None
        if triggers:
            await self._say(f"# Executing {len(triggers)} build trigger"
                            f"{'s' if len(triggers) > 1 else ''}\n")
            for text in triggers:
                ins = parse_instruction(text, plan.from_ins.line, self._df.escape)
                await self._dispatch(state, ins, global_args)
        return state

    async def _base_image(self, ref: str) -> BaseImage:
        """A FROM (or ``COPY --from``) image: local unless ``pull`` asks for a fresh copy;
        pulled when missing, as the classic builder does. An image ID is never pulled; a
        reference is pulled at most once per build (FROM and ``COPY --from`` share it)."""
        if ref in self._pulled:
            return self._pulled[ref]
        local: BaseImage | None = None
        with contextlib.suppress(NotFound):
            local = await _in_thread(self._b.image, ref)
        by_id = re.fullmatch(r"(sha256:)?[0-9a-f]{12,64}", ref) is not None
        if local is not None and (not self._opt.pull or by_id):
            return local

        async def progress(message: dict[str, Any]) -> None:
            if not self._opt.quiet:
                await self._emit_raw(message)

        try:
            self._pulled[ref] = await self._b.pull(ref, self._opt.registry_auths, progress)
            return self._pulled[ref]
        except NotFound as e:
            raise BuildFailed(f"pull access denied for {ref}, repository does not exist or "
                              f"may require 'docker login': {e}") from e
        except BerthError as e:
            raise BuildFailed(f"failed to pull {ref}: {e.message}") from e

    # -- steps ---------------------------------------------------------------------------------

    def _expand(self, state: _State, ins: Instruction) -> tuple[str, ...]:
        if ins.cmd not in _EXPANDS and ins.cmd not in ("copy", "add"):
            return ins.args
        env = state.env()
        try:
            if ins.cmd in ("env", "label"):
                return tuple(expand_word(a, env, self._df.escape) for a in ins.args)
            if ins.cmd in ("user", "workdir", "stopsignal"):
                return (expand_word(ins.args[0], env, self._df.escape),)
            if ins.exec_form:
                return tuple(expand_word(a, env, self._df.escape) for a in ins.args)
            return tuple(w for a in ins.args for w in expand_words(a, env, self._df.escape))
        except InvalidArgument as e:
            raise BuildFailed(f"failed to process \"{ins.original}\": {e}") from e

    async def _dispatch(self, state: _State, ins: Instruction, global_args: dict[str, str]) -> None:
        if ins.cmd == "arg":
            await self._arg(state, ins, global_args)
        elif ins.cmd in _META:
            args = self._expand(state, ins)
            cfg = state.run_config
            if ins.cmd == "maintainer":
                state.config["author"] = args[0]
            text = apply_metadata(ins.cmd, args, cfg, exec_form=ins.exec_form,
                                  flags=dict(ins.flags), shell=state.shell, cmd_set=state.cmd_set)
            if ins.cmd == "cmd":
                state.cmd_set = True
            await self._commit(state, text, None, "")
        elif ins.cmd == "run":
            await self._run(state, ins)
        elif ins.cmd in ("copy", "add"):
            await self._copy(state, ins)
        elif ins.cmd == "workdir":
            await self._workdir(state, ins)
        else:
            raise BuildFailed(f"unsupported instruction {ins.cmd.upper()}")

    async def _arg(self, state: _State, ins: Instruction, global_args: dict[str, str]) -> None:
        name, eq, default = ins.args[0].partition("=")
        value: str | None = expand_word(default, state.env(), self._df.escape) if eq else None
        if value is None and name in global_args:
            value = global_args[name]
        if name in self._opt.build_args and self._opt.build_args[name] is not None:
            value = self._opt.build_args[name]
            self._used_args.add(name)
        if value is not None:
            state.args[name] = value
        text = nop(state.shell, f"ARG {name}={default}" if eq else f"ARG {name}")
        await self._commit(state, text, None, "")

    async def _cached(self, state: _State, key: str) -> bool:
        if self._opt.no_cache:
            return False
        image_id = self._cache.lookup(key)
        if image_id is None or not await _in_thread(self._b.image_exists, image_id):
            return False
        image = await _in_thread(self._b.image, image_id)
        state.image_id = image.id
        config = _new_config(image)
        config["config"]["OnBuild"] = state.run_config.get("OnBuild")
        state.config = config
        await self._say(" ---> Using cache\n")
        await self._say(f" ---> {_short(image.id)}\n")
        return True

    async def _commit(self, state: _State, created_by: str, layer: Path | None, checksum: str,
                      key: str | None = None, announce: bool = True) -> None:
        """Record a step as a new image (cached unless ``key`` was already looked up)."""
        if key is None:
            key = cache_key(state.image_id or "scratch", created_by, checksum)
            if await self._cached(state, key):
                return
        entry: dict[str, Any] = {"created": format_ns(now_ns()), "created_by": created_by}
        if layer is None:
            entry["empty_layer"] = True
        state.config["history"] = [*state.config.get("history", []), entry]
        state.config["created"] = entry["created"]
        state.config["config"]["Image"] = state.image_id or ""
        image_id = await _in_thread(self._b.derive, state.image_id, state.config, layer)
        self._cache.store(key, image_id)
        state.image_id = image_id
        state.config = _new_config(await _in_thread(self._b.image, image_id))
        if announce:
            await self._say(f" ---> {_short(image_id)}\n")

    def _run_env(self, state: _State) -> tuple[list[str], list[str] | None]:
        """(container Env, the ``K=V`` build args shown in history and the cache key).

        As moby: the args are those in scope that ENV does not override; predefined proxy
        args given with --build-arg but not declared with ARG reach the process and count
        for the ``|N`` prefix, yet are neither listed nor part of the key. None: no prefix.
        """
        env = list(state.run_config.get("Env") or [])
        keys = {e.partition("=")[0] for e in env}
        shown = [f"{k}={v}" for k, v in sorted(state.args.items()) if k not in keys]
        for k, v in sorted(state.args.items()):
            if k not in keys:
                env.append(f"{k}={v}")
        hidden = False
        for k in sorted(PROXY_ARGS & set(self._opt.build_args)):
            proxy = self._opt.build_args[k]
            if proxy is not None and k not in keys and k not in state.args:
                env = set_env(env, k, proxy)
                self._used_args.add(k)
                hidden = True
        return env, (shown if shown or hidden else None)

    async def _run(self, state: _State, ins: Instruction) -> None:
        cmd = list(ins.args) if ins.exec_form else [*state.shell, ins.args[0]]
        env, shown = self._run_env(state)
        created_by = " ".join(cmd)
        if shown is not None:
            created_by = " ".join([f"|{len(shown)}", *shown, created_by])
        key = cache_key(state.image_id or "scratch", created_by,
                        f"net={self._opt.network_mode}")
        if await self._cached(state, key):
            return
        if state.image_id is None:
            raise BuildFailed("RUN needs a base image: FROM scratch has no shell")
        body: dict[str, Any] = {
            "Image": state.image_id, "Cmd": cmd, "Entrypoint": [""], "Env": env,
            "User": state.run_config.get("User") or "",
            "WorkingDir": state.run_config.get("WorkingDir") or "",
            "AttachStdout": True, "AttachStderr": True,
            "Labels": {"berth.build": "1"},
            "HostConfig": {"NetworkMode": self._opt.network_mode or "default"},
        }
        cid = await self._b.create_container(body)
        ok = False
        try:
            # Inside the try: a client gone by now (the emit fails) must not leak the container.
            await self._say(f" ---> Running in {cid[:12]}\n")
            code = await self._b.run_container(cid, self._output)
            if code != 0:
                raise BuildFailed(f"The command '{' '.join(cmd)}' returned a non-zero code: {code}",
                                  code)
            with self._b.container_changes(cid) as changes:
                layer = changes if any(os.scandir(changes)) else None
                await self._commit(state, created_by, layer, "", key=key, announce=False)
            ok = True
        finally:
            # A failed step never leaves its container behind; a good one unless rm=0.
            if not ok or self._opt.rm or self._opt.force_rm:
                await self._b.remove_container(cid)
                if ok:
                    await self._say(f"Removing intermediate container {cid[:12]}\n")
            else:
                self._b.keep_container(cid)
        await self._say(f" ---> {_short(state.image_id or '')}\n")

    async def _output(self, stream: int, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        if stream == 2:
            text = "\x1b[91m" + text + "\x1b[0m"
        await self._say(text)

    async def _workdir(self, state: _State, ins: Instruction) -> None:
        (path,) = self._expand(state, ins)
        current = state.run_config.get("WorkingDir") or "/"
        path = posixpath.normpath(posixpath.join(current, path))
        state.run_config["WorkingDir"] = path
        text = nop(state.shell, f"WORKDIR {path}")
        key = cache_key(state.image_id or "scratch", text, "")
        if await self._cached(state, key):
            return
        with self._b.rootfs(state.image_id) as root:
            await _in_thread(self._b.in_rootfs, [root], lambda paths: _mkdir_in(paths[0], path))
            layer = root.upper if any(os.scandir(root.upper)) else None
            await self._commit(state, text, layer, "", key=key)

    # -- COPY / ADD ----------------------------------------------------------------------------

    async def _source_image(self, state: _State, ins: Instruction) -> str | None:
        """The image ``--from`` names (a stage, a stage index or an image); None = context.
        An image is found like a FROM base: local, else (or with ``pull``) pulled."""
        src = ins.flag("from")
        if src is None:
            return None
        src = expand_word(src, state.env(), self._df.escape)
        for s in self._stages:
            if s is not state and s.name and s.name == src.lower():
                return s.image_id
        if src.isdigit():
            idx = int(src)
            if idx >= len(self._stages) or self._stages[idx] is state:
                raise BuildFailed(f"invalid from flag value {src}: refers to current build stage")
            return self._stages[idx].image_id
        try:
            return (await self._base_image(src)).id
        except BuildFailed as e:
            raise BuildFailed(f"invalid from flag value {src}: {e}") from e

    async def _copy(self, state: _State, ins: Instruction) -> None:
        what = ins.cmd.upper()
        words = self._expand(state, ins)
        sources, dest = list(words[:-1]), words[-1]
        chown = ins.flag("chown")
        chmod_text = ins.flag("chmod")
        chmod: int | None = None
        if chmod_text:
            try:
                chmod = int(chmod_text, 8)
            except ValueError as e:
                raise BuildFailed(f"invalid chmod parameter {chmod_text!r}") from e
        step = _CopyStep(
            what=what, dest=dest, chmod=chmod,
            chown=expand_word(chown, state.env(), self._df.escape) if chown else None,
            workdir=state.run_config.get("WorkingDir") or "/")
        from_image = await self._source_image(state, ins)
        if from_image is not None:
            with self._b.rootfs(from_image) as src_root:
                def probe(paths: list[Path]) -> tuple[list[str], str]:
                    found = find_sources(paths[0], sources, what)
                    return ([f.relative_to(paths[0]).as_posix() for f in found],
                            content_checksum(paths[0], found))

                rels, checksum = await _in_thread(self._b.in_rootfs, [src_root], probe)
                step = dataclasses.replace(step, from_image=from_image, from_root=src_root,
                                           from_rels=tuple(rels), checksum=checksum)
                await self._copy_step(state, ins, step)
            return
        urls = [s for s in sources if ins.cmd == "add" and s.startswith(("http://", "https://"))]
        locals_ = [s for s in sources if s not in urls]
        with tempfile.TemporaryDirectory(dir=self._tmp, prefix="add-") as dl_dir:
            names: list[str] = []
            paths: list[Path] = []
            for i, url in enumerate(urls):
                target = Path(dl_dir) / str(i)
                name, mtime = await _in_thread(self._b.download, url, target)
                os.chmod(target, 0o600)
                if mtime is not None:
                    os.utime(target, (mtime, mtime))
                paths.append(target)
                names.append(name)
            found = await _in_thread(find_sources, self._ctx, locals_, what) if locals_ else []
            checksum = await _in_thread(content_checksum, self._ctx, found)
            if paths:
                url_sum = await _in_thread(content_checksum, Path(dl_dir), paths)
                checksum = f"{checksum}+{url_sum}"
            step = dataclasses.replace(
                step, sources=(*found, *paths), checksum=checksum,
                names=(*(p.name for p in found), *names) if paths else None,
                archives=frozenset(found) if ins.cmd == "add" else frozenset())
            await self._copy_step(state, ins, step)

    async def _copy_step(self, state: _State, ins: Instruction, step: _CopyStep) -> None:
        count = len(step.from_rels) if step.from_root is not None else len(step.sources)
        single_dir = count == 1 and step.from_root is None and step.sources[0].is_dir()
        kind = "multi" if count > 1 else ("dir" if single_dir else "file")
        dest_abs = step.dest if step.dest.startswith("/") else posixpath.join(step.workdir, step.dest)
        text = (f"{' '.join(state.shell)} #(nop) {step.what} {kind}:{step.checksum[:64]} "
                f"in {dest_abs} ")
        extra = f"chown={step.chown} chmod={step.chmod} from={step.from_image} dest={step.dest}"
        key = cache_key(state.image_id or "scratch", text + extra, step.checksum)
        if await self._cached(state, key):
            return

        def place(paths: list[Path]) -> None:
            dest_root = paths[0]
            sources = ([paths[1] / r for r in step.from_rels] if step.from_root is not None
                       else list(step.sources))
            owner: Owner | None = lookup_owner(dest_root, step.chown) if step.chown else None
            copy_sources(sources, step.dest, dest_root, step.workdir, owner=owner, chmod=step.chmod,
                         what=step.what, names=step.names, unpack_archives=step.archives)

        with self._b.rootfs(state.image_id) as root:
            roots = [root] if step.from_root is None else [root, step.from_root]
            try:
                await _in_thread(self._b.in_rootfs, roots, place)
            except (InvalidArgument, OSError) as e:
                raise BuildFailed(f"{step.what} failed: {e}") from e
            await self._commit(state, text, root.upper, step.checksum, key=key)


@dataclass(frozen=True)
class _CopyStep:
    """One COPY/ADD after substitution: what to place where, and its content checksum."""

    what: str
    dest: str
    workdir: str
    chown: str | None
    chmod: int | None
    checksum: str = ""
    sources: tuple[Path, ...] = ()
    names: tuple[str, ...] | None = None
    archives: frozenset[Path] = frozenset()
    from_image: str | None = None
    from_root: Rootfs | None = None
    from_rels: tuple[str, ...] = ()


def _mkdir_in(root: Path, path: str) -> None:
    from berth.build.copier import scoped_path

    current = ""
    for part in [p for p in path.split("/") if p]:
        current += "/" + part
        target = scoped_path(root, current)
        if not target.exists():
            target.mkdir(mode=0o755)
            os.chmod(target, 0o755)
        elif not target.is_dir():
            raise BuildFailed(f"failed to create WORKDIR {path}: {current} is not a directory")
