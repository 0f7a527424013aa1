"""The OCI distribution HTTP API (aiohttp) over ``Storage``.

Owns routing of ``/v2/...`` paths (repository names contain slashes, so paths are matched
here rather than by the router), the spec's status codes, headers and error bodies, basic
auth against an htpasswd file and read-only mode. Must not touch files except through
``Storage``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from berth.errors import InvalidArgument
from berth.registry.media import parse_manifest
from berth.registry.server.htpasswd import Htpasswd
from berth.registry.server.storage import Storage, StorageError

__all__ = ["make_app"]

_MAX_MANIFEST = 4 << 20
_NAME = r"(?P<name>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
_ROUTES = [
    (re.compile(rf"^{_NAME}/manifests/(?P<ref>[^/]+)$"), "manifest"),
    (re.compile(rf"^{_NAME}/blobs/uploads/?$"), "uploads"),
    (re.compile(rf"^{_NAME}/blobs/uploads/(?P<uuid>[^/]+)$"), "upload"),
    (re.compile(rf"^{_NAME}/blobs/(?P<digest>[^/]+)$"), "blob"),
    (re.compile(rf"^{_NAME}/tags/list$"), "tags"),
    (re.compile(rf"^{_NAME}/referrers/(?P<digest>[^/]+)$"), "referrers"),
]
_STATUS = {
    "BLOB_UNKNOWN": 404, "BLOB_UPLOAD_INVALID": 416, "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400, "MANIFEST_BLOB_UNKNOWN": 400, "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404, "NAME_INVALID": 400, "NAME_UNKNOWN": 404, "SIZE_INVALID": 400,
    "TAG_INVALID": 400, "UNAUTHORIZED": 401, "DENIED": 403, "UNSUPPORTED": 405,
    "PAGINATION_NUMBER_INVALID": 400,
}
_BASE_HEADERS = {"Docker-Distribution-API-Version": "registry/2.0"}
_Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


def _error(code: str, message: str, detail: object = None, status: int | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return web.Response(status=status or _STATUS.get(code, 400), text=json.dumps(body),
                        content_type="application/json", headers={**_BASE_HEADERS, **(headers or {})})


def _parse_range(value: str) -> int | None:
    """Content-Range of a PATCH: ``start-end`` (some clients prefix ``bytes=``)."""
    m = re.match(r"^(?:bytes[= ])?(\d+)-(\d+)$", value.strip())
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class _Page:
    items: list[str]
    link: str | None


def _paginate(items: list[str], query: Any, path: str) -> _Page:
    last = query.get("last")
    if last:
        items = [i for i in items if i > last]
    n_raw = query.get("n")
    if n_raw is None:
        return _Page(items, None)
    if not n_raw.isdigit():
        raise StorageError("PAGINATION_NUMBER_INVALID", "invalid number of results requested")
    n = int(n_raw)
    if n == 0:
        return _Page([], None)
    page = items[:n]
    link = f'<{path}?n={n}&last={page[-1]}>; rel="next"' if len(items) > n else None
    return _Page(page, link)


class _Registry:
    def __init__(self, storage: Storage, htpasswd: Htpasswd | None, read_only: bool) -> None:
        self.storage = storage
        self.htpasswd = htpasswd
        self.read_only = read_only

    # -- front door ------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        if self.htpasswd is None:
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self.htpasswd.check(user, password)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error("UNAUTHORIZED", "authentication required", None,
                          headers={"WWW-Authenticate": 'Basic realm="berth-registry"'})
        if self.read_only and request.method not in ("GET", "HEAD"):
            return _error("UNSUPPORTED", "The operation is unsupported.", "registry is read-only")
        tail = request.match_info["tail"]
        try:
            if tail == "":
                return web.json_response({}, headers=_BASE_HEADERS)
            if tail == "_catalog" and request.method == "GET":
                page = _paginate(self.storage.repositories(), request.query, "/v2/_catalog")
                return self._json({"repositories": page.items}, page.link)
            for pattern, kind in _ROUTES:
                m = pattern.match(tail)
                if m:
                    handler: _Handler | None = getattr(self, f"_{kind}_{request.method.lower()}", None)
                    if handler is None:
                        return _error("UNSUPPORTED", "The operation is unsupported.")
                    return await handler(request, m.groupdict())
            if tail.split("/")[0] and not re.match(rf"^{_NAME}/", tail):
                return _error("NAME_INVALID", "invalid repository name", {"path": tail})
            return _error("UNSUPPORTED", "The operation is unsupported.", None, status=404)
        except StorageError as e:
            return _error(e.code, e.message, e.detail)

    @staticmethod
    def _json(body: object, link: str | None = None) -> web.Response:
        headers = dict(_BASE_HEADERS)
        if link:
            headers["Link"] = link
        return web.json_response(body, headers=headers)

    # -- blobs -----------------------------------------------------------------------------

    async def _blob_head(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        info = self.storage.blob(m["name"], m["digest"])
        resp = web.StreamResponse(status=200, headers={
            **_BASE_HEADERS, "Docker-Content-Digest": info.digest,
            "Content-Type": "application/octet-stream", "Content-Length": str(info.size)})
        await resp.prepare(request)
        await resp.write_eof()
        return resp

    async def _blob_get(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        info = self.storage.blob(m["name"], m["digest"])
        # FileResponse serves Range requests (206 + Content-Range) from the file itself.
        resp = web.FileResponse(info.path, headers={
            **_BASE_HEADERS, "Docker-Content-Digest": info.digest,
            "Content-Type": "application/octet-stream"})
        return resp

    async def _blob_delete(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        self.storage.unlink_blob(m["name"], m["digest"])
        return web.Response(status=202, headers=_BASE_HEADERS)

    # -- uploads ---------------------------------------------------------------------------

    def _upload_headers(self, name: str, uuid: str, size: int) -> dict[str, str]:
        return {**_BASE_HEADERS, "Location": f"/v2/{name}/blobs/uploads/{uuid}",
                "Range": f"0-{max(size - 1, 0)}", "Docker-Upload-UUID": uuid}

    def _created(self, name: str, digest: str) -> web.Response:
        return web.Response(status=201, headers={
            **_BASE_HEADERS, "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": digest})

    async def _write_body(self, request: web.Request, name: str, uuid: str,
                          start: int | None) -> int:
        path = self.storage.upload_data(name, uuid, start)
        with path.open("ab") as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                f.write(chunk)
            f.flush()
            await asyncio.to_thread(os.fsync, f.fileno())
        return path.stat().st_size

    async def _uploads_post(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        name = m["name"]
        mount, source = request.query.get("mount"), request.query.get("from")
        if mount and source and self.storage.mount(name, mount, source):
            return self._created(name, mount)
        uuid = self.storage.start_upload(name)
        digest = request.query.get("digest")
        if digest:
            try:
                await self._write_body(request, name, uuid, None)
                info = await asyncio.to_thread(self.storage.finish_upload, name, uuid, digest)
            except BaseException:
                self.storage.cancel_upload(name, uuid)
                raise
            return self._created(name, info.digest)
        return web.Response(status=202, headers=self._upload_headers(name, uuid, 0))

    async def _upload_get(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        size = self.storage.upload_size(m["name"], m["uuid"])
        return web.Response(status=204, headers=self._upload_headers(m["name"], m["uuid"], size))

    async def _upload_patch(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        start = None
        if "Content-Range" in request.headers:
            start = _parse_range(request.headers["Content-Range"])
            if start is None:
                return _error("BLOB_UPLOAD_INVALID", "blob upload invalid", "bad Content-Range")
        size = await self._write_body(request, m["name"], m["uuid"], start)
        return web.Response(status=202, headers=self._upload_headers(m["name"], m["uuid"], size))

    async def _upload_put(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        digest = request.query.get("digest")
        if not digest:
            return _error("DIGEST_INVALID", "provided digest did not match uploaded content",
                          "digest parameter missing")
        start = None
        if "Content-Range" in request.headers:
            start = _parse_range(request.headers["Content-Range"])
        await self._write_body(request, m["name"], m["uuid"], start)
        info = await asyncio.to_thread(self.storage.finish_upload, m["name"], m["uuid"], digest)
        return self._created(m["name"], info.digest)

    async def _upload_delete(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        self.storage.cancel_upload(m["name"], m["uuid"])
        return web.Response(status=204, headers=_BASE_HEADERS)

    # -- manifests -------------------------------------------------------------------------

    async def _manifest_get(self, request: web.Request, m: dict[str, str],
                            head: bool = False) -> web.StreamResponse:
        digest, media, body = self.storage.manifest(m["name"], m["ref"])
        headers = {**_BASE_HEADERS, "Docker-Content-Digest": digest, "Content-Type": media,
                   "Content-Length": str(len(body))}
        resp = web.StreamResponse(status=200, headers=headers)
        await resp.prepare(request)
        if not head:
            await resp.write(body)
        await resp.write_eof()
        return resp

    async def _manifest_head(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        return await self._manifest_get(request, m, head=True)

    async def _manifest_put(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        name, ref = m["name"], m["ref"]
        body = await request.content.read(_MAX_MANIFEST + 1)
        if len(body) > _MAX_MANIFEST:
            return _error("SIZE_INVALID", "manifest too large", None, status=413)
        content_type = request.headers.get("Content-Type", "")
        try:
            parsed = parse_manifest(body, content_type)
        except InvalidArgument as e:
            return _error("MANIFEST_INVALID", "manifest invalid", str(e))
        for d in parsed.references:
            try:
                self.storage.blob(name, d.digest)
            except StorageError:
                return _error("MANIFEST_BLOB_UNKNOWN", "blob unknown to registry",
                              {"digest": d.digest})
        media = content_type.split(";")[0].strip() or parsed.media_type
        if media != parsed.media_type and parsed.media_type in body.decode(errors="replace"):
            media = parsed.media_type
        digest = self.storage.put_manifest(name, media, body)
        if ref.startswith("sha256:"):
            if ref != digest:
                return _error("DIGEST_INVALID", "provided digest did not match uploaded content",
                              {"expected": ref, "actual": digest})
        else:
            self.storage.tag(name, ref, digest)
        headers = {**_BASE_HEADERS, "Location": f"/v2/{name}/manifests/{digest}",
                   "Docker-Content-Digest": digest}
        if parsed.subject is not None:
            headers["OCI-Subject"] = parsed.subject.digest
        return web.Response(status=201, headers=headers)

    async def _manifest_delete(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        self.storage.delete_manifest(m["name"], m["ref"])
        return web.Response(status=202, headers=_BASE_HEADERS)

    # -- listings --------------------------------------------------------------------------

    async def _tags_get(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        page = _paginate(self.storage.tags(m["name"]), request.query, f"/v2/{m['name']}/tags/list")
        return self._json({"name": m["name"], "tags": page.items}, page.link)

    async def _referrers_get(self, request: web.Request, m: dict[str, str]) -> web.StreamResponse:
        subject = m["digest"]
        self.storage.blob_path(subject)  # validates the digest
        want = request.query.get("artifactType")
        found = []
        for digest, media in self.storage.revisions(m["name"]) if (
                self.storage.root / "repositories" / m["name"]).is_dir() else []:
            try:
                parsed = parse_manifest(self.storage.blob_path(digest).read_bytes(), media)
            except (OSError, InvalidArgument):
                continue
            if parsed.subject is None or parsed.subject.digest != subject:
                continue
            if want and parsed.artifact_type != want:
                continue
            desc = {"mediaType": parsed.media_type, "digest": digest,
                    "size": self.storage.blob_path(digest).stat().st_size,
                    "artifactType": parsed.artifact_type}
            if parsed.annotations:
                desc["annotations"] = dict(parsed.annotations)
            found.append(desc)
        headers = {**_BASE_HEADERS, "Content-Type": "application/vnd.oci.image.index.v1+json"}
        if want:
            headers["OCI-Filters-Applied"] = "artifactType"
        body = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": sorted(found, key=lambda d: str(d["digest"]))}
        return web.Response(status=200, body=json.dumps(body).encode(), headers=headers)


def make_app(storage: Storage, htpasswd: Htpasswd | None = None,
             read_only: bool = False) -> web.Application:
    registry = _Registry(storage, htpasswd, read_only)
    app = web.Application(client_max_size=_MAX_MANIFEST + 1)
    app.router.add_route("*", "/v2/{tail:.*}", registry.dispatch)
    app.router.add_route("*", "/v2", registry.dispatch)
    return app
