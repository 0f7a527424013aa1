"""A Docker Registry v2 / OCI distribution client for one registry host.

Owns the endpoint choice (HTTPS with certs.d CAs; plain HTTP only where ``tls`` allows it),
the ping, authentication (bearer tokens per scope from the challenge's realm, or basic
auth), and the calls pull and push are made of: manifests by tag or digest, blob
download with digest verification, existence checks, cross-repository mounts and uploads.
Registry failures become ``berth.errors`` classes with Docker's wording. It must not write
images or know about the local store beyond the byte sinks it is handed.

Vocabulary: ``host`` is ``name[:port]``; ``repo`` is the path inside it (``library/busybox``).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from berth.errors import (
    BerthError,
    Internal,
    InvalidArgument,
    NotFound,
    Unauthorized,
    Unavailable,
)
from berth.registry.auth import Challenge, Credentials, parse_challenges
from berth.registry.media import MANIFEST_ACCEPT
from berth.registry.tls import RegistryOptions, allows_plain_http, ssl_context

__all__ = ["Manifest", "RegistryClient", "digest_of"]

_CHUNK = 1 << 20
_RESUMES = 3
_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=15, sock_read=120)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes


def _registry_errors(body: bytes) -> str:
    """The spec's ``{"errors":[{code,message}]}`` as Docker prints it: ``code: message``."""
    try:
        errs = json.loads(body).get("errors") or []
        return ", ".join(f"{str(e.get('code', '')).lower()}: {e.get('message', '')}"
                         for e in errs) or body.decode(errors="replace")[:200]
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:200]


class RegistryClient:
    """One registry host; use as ``async with RegistryClient(host, opts, creds) as c``."""

    def __init__(self, host: str, opts: RegistryOptions, creds: Credentials | None = None) -> None:
        self.host = host
        self._opts = opts
        self._creds = creds or Credentials()
        self._session: aiohttp.ClientSession | None = None
        self._base = ""
        self._ssl: ssl.SSLContext | bool = True
        self._challenge: Challenge | None = None
        self._tokens: dict[str, str] = {}

    async def __aenter__(self) -> RegistryClient:
        self._session = aiohttp.ClientSession(timeout=_TIMEOUT, auto_decompress=False)
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise Internal("registry client used outside its context")
        return self._session

    # -- ping and endpoint choice --------------------------------------------------------

    async def ping(self) -> None:
        """``GET /v2/``: pick https or http, remember the auth challenge."""
        plain_ok = allows_plain_http(self.host, self._opts)
        attempts: list[tuple[str, ssl.SSLContext | bool]] = []
        # Like Docker, an insecure (or loopback) registry gets TLS without verification,
        # unless certs.d holds a CA for it: then the CA is what the user asked to trust.
        verify = not plain_ok or (self._opts.certs_dir / self.host).is_dir()
        try:
            attempts.append((f"https://{self.host}", ssl_context(self.host, self._opts, verify)))
        except (OSError, ssl.SSLError) as e:
            raise InvalidArgument(f"certificates for {self.host}: {e}") from e
        if plain_ok and not verify:
            attempts.append((f"http://{self.host}", False))
        last: Exception | None = None
        for base, ctx in attempts:
            try:
                async with self.session.get(f"{base}/v2/", ssl=ctx) as resp:
                    await resp.read()
                    if resp.status not in (200, 401):
                        raise Internal(f"Get \"{base}/v2/\": unexpected status {resp.status}")
                    self._base, self._ssl = base, ctx
                    if resp.status == 401:
                        self._challenge = self._pick(resp.headers.getall("WWW-Authenticate", []))
                    return
            except (aiohttp.ClientError, OSError, ssl.SSLError) as e:
                last = e
        if isinstance(last, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
            raise Unavailable(f"Get \"https://{self.host}/v2/\": tls: failed to verify "
                              f"certificate: {last}")
        raise Unavailable(f"Get \"{attempts[-1][0]}/v2/\": {self._describe(last)}")

    @staticmethod
    def _describe(err: Exception | None) -> str:
        if isinstance(err, aiohttp.ClientConnectorError):
            reason = ("connection refused" if err.os_error.errno == errno.ECONNREFUSED
                      else err.os_error.strerror or str(err))
            return f"dial tcp {err.host}:{err.port}: connect: {reason.lower()}"
        return str(err)

    @staticmethod
    def _pick(headers: list[str]) -> Challenge | None:
        challenges = [c for h in headers for c in parse_challenges(h)]
        for scheme in ("bearer", "basic"):
            for c in challenges:
                if c.scheme == scheme:
                    return c
        return None

    # -- authentication --------------------------------------------------------------------

    async def _token(self, scope: str) -> str:
        assert self._challenge is not None
        realm = self._challenge.get("realm")
        if not realm:
            raise Unauthorized(f"{self.host}: bearer challenge without realm")
        params = {"scope": scope} if scope else {}
        if self._challenge.get("service"):
            params["service"] = self._challenge.get("service")
        auth = None
        if self._creds.username:
            auth = aiohttp.BasicAuth(self._creds.username, self._creds.password)
        try:
            async with self.session.get(realm, params=params, auth=auth, ssl=self._ssl) as resp:
                body = await resp.read()
                if resp.status in (401, 403):
                    raise Unauthorized(f"Get \"{realm}\": unauthorized: {_registry_errors(body)}")
                if resp.status != 200:
                    raise Internal(f"token server answered {resp.status}")
        except aiohttp.ClientError as e:
            raise Unavailable(f"Get \"{realm}\": {e}") from e
        data = json.loads(body)
        token = str(data.get("token") or data.get("access_token") or "")
        if not token:
            raise Unauthorized(f"{self.host}: token server sent no token")
        return token

    async def _auth_header(self, scope: str) -> dict[str, str]:
        if self._challenge is None:
            return {}
        if self._challenge.scheme == "basic":
            if not self._creds.username:
                return {}
            raw = f"{self._creds.username}:{self._creds.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if scope not in self._tokens:
            self._tokens[scope] = await self._token(scope)
        return {"Authorization": "Bearer " + self._tokens[scope]}

    async def login(self) -> None:
        """Check the credentials: ping, then authenticate with no scope (Docker's login)."""
        await self.ping()
        if self._challenge is None:
            return
        if self._challenge.scheme == "basic":
            async with self.session.get(f"{self._base}/v2/", ssl=self._ssl,
                                        headers=await self._auth_header("")) as resp:
                await resp.read()
                if resp.status == 401:
                    raise Unauthorized(f"login attempt to {self._base}/v2/ failed with status: "
                                       "401 Unauthorized")
        else:
            await self._token("")

    # -- requests --------------------------------------------------------------------------

    async def request(self, method: str, path: str, scope: str, *,
                      headers: dict[str, str] | None = None, data: Any = None,
                      params: dict[str, str] | None = None,
                      allow: tuple[int, ...] = ()) -> aiohttp.ClientResponse:
        """Send one request (absolute ``path`` URLs allowed); caller releases the response.

        A 401 with a fresh challenge refreshes the token once, when the body can be resent.
        """
        if not self._base:
            await self.ping()
        url = path if path.startswith(("http://", "https://")) else self._base + path
        for attempt in (0, 1):
            hdrs = {**(headers or {}), **await self._auth_header(scope)}
            try:
                resp = await self.session.request(method, url, headers=hdrs, data=data,
                                                  params=params, ssl=self._ssl,
                                                  allow_redirects=True)
            except (aiohttp.ClientError, OSError) as e:
                raise Unavailable(f"{method} \"{url}\": {self._describe(e)}") from e
            if resp.status == 401 and attempt == 0 and (data is None or isinstance(data, bytes)):
                challenge = self._pick(resp.headers.getall("WWW-Authenticate", []))
                resp.release()
                if challenge is not None and (self._challenge is None or
                                              challenge.scheme != self._challenge.scheme or
                                              self._challenge.scheme == "bearer"):
                    self._challenge = challenge
                    self._tokens.pop(scope, None)
                    if self._creds.empty and challenge.scheme == "basic":
                        break
                    continue
                break
            if resp.status < 400 or resp.status in allow:
                return resp
            body = await resp.read()
            resp.release()
            raise self._error(resp.status, method, url, body)
        raise Unauthorized(f"{method} \"{url}\": no basic auth credentials"
                           if self._creds.empty else
                           f"{method} \"{url}\": unauthorized: authentication required")

    def _error(self, status: int, method: str, url: str, body: bytes) -> BerthError:
        text = _registry_errors(body)
        if status == 401:
            return Unauthorized(f"{method} \"{url}\": unauthorized: {text}")
        if status == 403:
            return Unauthorized(f"{method} \"{url}\": denied: {text}")
        if status == 404:
            return NotFound(text)
        if status in (400, 405, 413, 416):
            return InvalidArgument(f"{method} \"{url}\": {text}")
        return Internal(f"{method} \"{url}\": received unexpected HTTP status: {status}: {text}")

    # -- manifests -------------------------------------------------------------------------

    async def get_manifest(self, repo: str, reference: str) -> Manifest:
        """GET a manifest by tag or digest; the body's digest is verified."""
        try:
            resp = await self.request("GET", f"/v2/{repo}/manifests/{reference}",
                                      f"repository:{repo}:pull",
                                      headers={"Accept": ", ".join(MANIFEST_ACCEPT)})
        except NotFound as e:
            raise NotFound(f"manifest for {self.host}/{repo}:{reference} not found: "
                           f"manifest unknown: {e}") from e
        try:
            body = await resp.read()
        finally:
            resp.release()
        digest = digest_of(body)
        expected = reference if reference.startswith("sha256:") else resp.headers.get(
            "Docker-Content-Digest", digest)
        if expected != digest:
            raise InvalidArgument(f"manifest verification failed for digest {expected}")
        media = resp.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            media = str(json.loads(body).get("mediaType") or media)
        except (ValueError, AttributeError) as e:
            raise InvalidArgument(f"{self.host}/{repo}: manifest is not JSON") from e
        return Manifest(digest, media, body)

    async def put_manifest(self, repo: str, reference: str, media_type: str, body: bytes) -> str:
        resp = await self.request("PUT", f"/v2/{repo}/manifests/{reference}",
                                  f"repository:{repo}:pull,push",
                                  headers={"Content-Type": media_type}, data=body)
        resp.release()
        digest = digest_of(body)
        sent = resp.headers.get("Docker-Content-Digest", digest)
        if sent != digest:
            raise InvalidArgument(f"registry says manifest digest is {sent}, expected {digest}")
        return digest

    # -- blobs -----------------------------------------------------------------------------

    async def fetch_blob(self, repo: str, digest: str, size: int,
                         write: Callable[[bytes], object],
                         on_progress: Callable[[int], None]) -> None:
        """Stream a blob into ``write``; raises when its digest is not ``digest``.

        A download cut off part-way is resumed where it stopped (``Range``), up to
        :data:`_RESUMES` times, when the registry answers with that range (206); a registry
        that ignores ranges makes the cut final, since ``write`` cannot be rewound.
        """
        h = hashlib.sha256()
        done = 0
        for attempt in range(_RESUMES + 1):
            headers = {"Range": f"bytes={done}-"} if done else None
            resp = await self.request("GET", f"/v2/{repo}/blobs/{digest}",
                                      f"repository:{repo}:pull", headers=headers)
            try:
                if done and not (resp.status == 206 and resp.headers.get(
                        "Content-Range", "").startswith(f"bytes {done}-")):
                    raise Unavailable(f"downloading {digest}: connection lost after {done} bytes "
                                      "and the registry cannot resume it")
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    h.update(chunk)
                    write(chunk)
                    done += len(chunk)
                    on_progress(done)
                break
            except (aiohttp.ClientError, OSError) as e:
                if attempt == _RESUMES or (size and done >= size):
                    raise Unavailable(f"downloading {digest}: {e}") from e
            finally:
                resp.release()
        actual = "sha256:" + h.hexdigest()
        if actual != digest:
            raise InvalidArgument(f"filesystem layer verification failed for digest {digest}")
        if size and done != size:
            raise InvalidArgument(f"blob {digest}: size {done} does not match {size}")

    async def read_blob(self, repo: str, digest: str) -> bytes:
        parts: list[bytes] = []
        await self.fetch_blob(repo, digest, 0, parts.append, lambda _: None)
        return b"".join(parts)

    async def blob_exists(self, repo: str, digest: str) -> bool:
        resp = await self.request("HEAD", f"/v2/{repo}/blobs/{digest}",
                                  f"repository:{repo}:pull,push", allow=(404,))
        resp.release()
        return resp.status == 200

    async def mount_blob(self, repo: str, digest: str, source: str) -> str | None:
        """Try a cross-repository mount; returns None when mounted, else the upload URL."""
        resp = await self.request("POST", f"/v2/{repo}/blobs/uploads/",
                                  f"repository:{repo}:pull,push",
                                  params={"mount": digest, "from": source})
        resp.release()
        if resp.status == 201:
            return None
        return self._location(resp)

    def _location(self, resp: aiohttp.ClientResponse) -> str:
        loc = resp.headers.get("Location", "")
        if not loc:
            raise Internal(f"{self.host}: upload started without a Location")
        return loc if loc.startswith(("http://", "https://")) else self._base + loc

    async def upload_blob(self, repo: str, digest: str, size: int,
                          chunks_from: Callable[[int], AsyncIterator[bytes]],
                          location: str | None = None) -> None:
        """POST an upload (unless ``location`` is given), PATCH the bytes, PUT ``?digest=``.

        ``chunks_from(offset)`` yields the blob from ``offset`` on. A PATCH cut off part-way
        is resumed from what the registry says it holds (GET on the upload: ``Range``), up to
        :data:`_RESUMES` times.
        """
        scope = f"repository:{repo}:pull,push"
        if location is None:
            resp = await self.request("POST", f"/v2/{repo}/blobs/uploads/", scope)
            resp.release()
            location = self._location(resp)
        offset = 0
        for attempt in range(_RESUMES + 1):
            headers = {"Content-Type": "application/octet-stream"}
            if offset:
                headers["Content-Range"] = f"{offset}-{max(size - 1, offset)}"
            try:
                resp = await self.request("PATCH", location, scope, data=chunks_from(offset),
                                          headers=headers)
            except Unavailable:
                if attempt == _RESUMES:
                    raise
                offset = await self._upload_offset(location, scope)
                continue
            resp.release()
            location = self._location(resp)
            break
        sep = "&" if "?" in location else "?"
        resp = await self.request("PUT", f"{location}{sep}digest={digest}", scope, data=b"",
                                  headers={"Content-Type": "application/octet-stream"})
        resp.release()

    async def _upload_offset(self, location: str, scope: str) -> int:
        """How many bytes of an upload the registry holds (its ``Range: 0-N`` answer)."""
        resp = await self.request("GET", location, scope)
        resp.release()
        rng = resp.headers.get("Range", "")
        try:
            return int(rng.removeprefix("bytes=").split("-")[1]) + 1 if rng else 0
        except (IndexError, ValueError) as e:
            raise Unavailable(f"upload status: bad Range header {rng!r}") from e
