"""Manifest media types and the questions asked of them (is it an index? what does it reference?).

Owns the vocabulary shared by the client and the server. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from berth.errors import InvalidArgument

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "INDEX_TYPES",
    "MANIFEST_ACCEPT",
    "MANIFEST_TYPES",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Descriptor",
    "ParsedManifest",
    "parse_manifest",
]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
# What a client accepts, in Docker's order of preference.
MANIFEST_ACCEPT = (OCI_INDEX, DOCKER_LIST, DOCKER_MANIFEST, OCI_MANIFEST)


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest says about a blob or a child manifest."""

    media_type: str
    digest: str
    size: int
    platform: tuple[str, str, str] | None = None  # (os, architecture, variant)
    artifact_type: str = ""
    annotations: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                               "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class ParsedManifest:
    """A manifest or index reduced to what distribution needs."""

    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    artifact_type: str
    annotations: tuple[tuple[str, str], ...]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def references(self) -> tuple[Descriptor, ...]:
        """Everything this manifest needs to exist in the repository (subject excluded)."""
        return ((self.config,) if self.config else ()) + self.layers + self.manifests


def _descriptor(raw: Any) -> Descriptor:
    if not isinstance(raw, dict):
        raise InvalidArgument("descriptor is not an object")
    try:
        platform = raw.get("platform")
        plat = None
        if isinstance(platform, dict):
            plat = (str(platform.get("os", "")), str(platform.get("architecture", "")),
                    str(platform.get("variant", "")))
        ann = raw.get("annotations") or {}
        return Descriptor(str(raw["mediaType"]), str(raw["digest"]), int(raw["size"]), plat,
                          str(raw.get("artifactType", "")),
                          tuple(sorted((str(k), str(v)) for k, v in ann.items())))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise InvalidArgument(f"invalid descriptor: {e}") from e


def parse_manifest(body: bytes, content_type: str = "") -> ParsedManifest:
    """Parse a manifest or index; the media type comes from the body, else ``content_type``."""
    try:
        data = json.loads(body)
    except ValueError as e:
        raise InvalidArgument(f"manifest is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise InvalidArgument("manifest is not a JSON object")
    media = str(data.get("mediaType") or "")
    if not media:
        ct = content_type.split(";")[0].strip()
        if ct in INDEX_TYPES or ct in MANIFEST_TYPES:
            media = ct
        else:
            media = OCI_INDEX if "manifests" in data else OCI_MANIFEST
    if media not in INDEX_TYPES and media not in MANIFEST_TYPES:
        raise InvalidArgument(f"unsupported manifest media type {media}")
    if data.get("schemaVersion") != 2:
        raise InvalidArgument("unsupported manifest schema version")
    ann = data.get("annotations") or {}
    manifests: tuple[Descriptor, ...] = ()
    layers: tuple[Descriptor, ...] = ()
    config: Descriptor | None = None
    if media in INDEX_TYPES:
        manifests = tuple(_descriptor(d) for d in data.get("manifests") or [])
    else:
        config = _descriptor(data.get("config"))
        layers = tuple(_descriptor(d) for d in data.get("layers") or [])
    subject = _descriptor(data["subject"]) if data.get("subject") else None
    artifact = str(data.get("artifactType") or (config.media_type if config else ""))
    return ParsedManifest(media, config, layers, manifests, subject, artifact,
                          tuple(sorted((str(k), str(v)) for k, v in ann.items())))
