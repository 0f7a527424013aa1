"""The registry client resumes a blob download that was cut off, when the registry serves ranges."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from aiohttp import web

from berth.errors import Unavailable
from berth.registry.client import RegistryClient
from berth.registry.tls import RegistryOptions

BLOB = bytes(range(256)) * 4096  # 1 MiB
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


async def _serve(cut_first: int, honour_range: bool) -> tuple[web.AppRunner, int, list[str]]:
    seen: list[str] = []

    async def v2(request: web.Request) -> web.Response:
        return web.Response(text="{}", content_type="application/json")

    async def blob(request: web.Request) -> web.StreamResponse:
        rng = request.headers.get("Range", "")
        seen.append(rng)
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng and honour_range else 0
        status = 206 if start else 200
        resp = web.StreamResponse(status=status)
        resp.content_length = len(BLOB) - start
        if start:
            resp.headers["Content-Range"] = f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"
        await resp.prepare(request)
        if len(seen) == 1:
            # First request: send part of the blob, then drop the connection.
            await resp.write(BLOB[:cut_first])
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write(BLOB[start:])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/v2/", v2)
    app.router.add_get(f"/v2/repo/blobs/{DIGEST}", blob)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port, seen


async def _download(port: int) -> bytes:
    parts: list[bytes] = []
    async with RegistryClient(f"127.0.0.1:{port}", RegistryOptions(certs_dir=Path("/nonexistent"))) as reg:
        await reg.fetch_blob("repo", DIGEST, len(BLOB), parts.append, lambda _n: None)
    return b"".join(parts)


def test_cut_download_is_resumed_with_range() -> None:
    async def scenario() -> tuple[bytes, list[str]]:
        runner, port, seen = await _serve(cut_first=300_000, honour_range=True)
        try:
            return await _download(port), seen
        finally:
            await runner.cleanup()

    data, seen = asyncio.run(scenario())
    assert data == BLOB
    assert seen[0] == ""
    assert seen[1].startswith("bytes=") and int(seen[1][6:].split("-")[0]) > 0


def test_cut_download_without_range_support_fails_clearly() -> None:
    async def scenario() -> None:
        runner, port, _ = await _serve(cut_first=300_000, honour_range=False)
        try:
            await _download(port)
        finally:
            await runner.cleanup()

    with pytest.raises(Unavailable, match="cannot resume"):
        asyncio.run(scenario())


def test_cut_upload_is_resumed_from_the_registry_offset() -> None:
    received = bytearray()
    patches: list[str] = []

    async def v2(request: web.Request) -> web.Response:
        return web.Response(text="{}", content_type="application/json")

    async def start(request: web.Request) -> web.Response:
        return web.Response(status=202, headers={"Location": "/v2/repo/blobs/uploads/u1",
                                                 "Range": "0-0"})

    async def patch(request: web.Request) -> web.Response:
        patches.append(request.headers.get("Content-Range", ""))
        first = len(patches) == 1
        async for chunk in request.content.iter_chunked(65536):
            received.extend(chunk)
            if first and len(received) >= 200_000:
                # A registry that keeps what it got, then loses the connection.
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
        return web.Response(status=202, headers={"Location": "/v2/repo/blobs/uploads/u1",
                                                 "Range": f"0-{len(received) - 1}"})

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"Range": f"0-{len(received) - 1}",
                                                 "Docker-Upload-UUID": "u1"})

    async def put(request: web.Request) -> web.Response:
        ok = "sha256:" + hashlib.sha256(received).hexdigest() == request.query["digest"]
        return web.Response(status=201 if ok else 400,
                            headers={"Location": f"/v2/repo/blobs/{DIGEST}"})

    async def chunks_from(offset: int):  # type: ignore[no-untyped-def]
        for i in range(offset, len(BLOB), 65536):
            yield BLOB[i:i + 65536]
            await asyncio.sleep(0)

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/v2/", v2)
        app.router.add_post("/v2/repo/blobs/uploads/", start)
        app.router.add_patch("/v2/repo/blobs/uploads/u1", patch)
        app.router.add_get("/v2/repo/blobs/uploads/u1", status)
        app.router.add_put("/v2/repo/blobs/uploads/u1", put)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with RegistryClient(f"127.0.0.1:{port}",
                                      RegistryOptions(certs_dir=Path("/nonexistent"))) as reg:
                await reg.upload_blob("repo", DIGEST, len(BLOB), chunks_from)
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    assert bytes(received) == BLOB
    assert len(patches) == 2 and patches[0] == ""
    start_offset = int(patches[1].split("-")[0])
    assert 200_000 <= start_offset < len(BLOB)
