"""Docker's merge of a create request's ``Config`` with the image's config. Pure.

Must not validate the result or produce a runtime spec (specgen.py does that).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["DEFAULT_PATH_ENV", "merge_image_config"]

DEFAULT_PATH_ENV: Final = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_SCALARS: Final = ("User", "WorkingDir", "StopSignal", "Shell", "OnBuild")
_HEALTH_DURATIONS: Final = ("Interval", "Timeout", "StartPeriod", "StartInterval")


def _key(env: str) -> str:
    return env.partition("=")[0]


def merge_image_config(config: Mapping[str, Any], image_config: Mapping[str, Any]) -> dict[str, Any]:
    """The container Config Docker would store: ``config`` filled in from ``image_config``.

    - Env: the container's entries, then the image's whose key the container did not set;
      null when neither has any (the process still gets a default PATH: specgen adds it).
    - Entrypoint/Cmd: an Entrypoint given in the request replaces the image's and drops the
      image's Cmd unless Cmd is also given; otherwise both default to the image's.
      ``Entrypoint: [""]`` (``--entrypoint ""``) clears the image's entrypoint.
    - User, WorkingDir, StopSignal, Shell, OnBuild: the image's when not given.
    - ExposedPorts, Volumes: union, null when both are empty; Labels: the image's overridden
      by the container's.
    - Healthcheck: the image's, with the container's non-empty fields taking precedence.
    """
    out: dict[str, Any] = copy.deepcopy(dict(config))
    image = image_config or {}

    env = [str(e) for e in out.get("Env") or []]
    seen = {_key(e) for e in env}
    env += [str(e) for e in image.get("Env") or [] if _key(str(e)) not in seen]
    # As dockerd: an image and a request without any leave Config.Env null (not a PATH).
    out["Env"] = env or None

    entrypoint = out.get("Entrypoint")
    if entrypoint == [""]:
        entrypoint = []
        out["Entrypoint"] = []
    if not entrypoint:
        if not out.get("Cmd"):
            out["Cmd"] = copy.deepcopy(image.get("Cmd"))
        if out.get("Entrypoint") is None:
            out["Entrypoint"] = copy.deepcopy(image.get("Entrypoint"))

    for key in _SCALARS:
        if not out.get(key) and image.get(key):
            out[key] = copy.deepcopy(image[key])

    for key in ("ExposedPorts", "Volumes"):
        merged = dict(image.get(key) or {})
        merged.update(out.get(key) or {})
        if merged or key in out:
            out[key] = merged or None  # dockerd shows null, not {}, when neither has any

    labels = dict(image.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels

    image_hc = image.get("Healthcheck")
    hc = out.get("Healthcheck")
    if hc is None:
        if image_hc is not None:
            out["Healthcheck"] = copy.deepcopy(image_hc)
    elif image_hc is not None:
        merged_hc = dict(image_hc)
        if hc.get("Test"):
            merged_hc["Test"] = hc["Test"]
        for key in (*_HEALTH_DURATIONS, "Retries"):
            if hc.get(key):
                merged_hc[key] = hc[key]
        out["Healthcheck"] = merged_hc
    return out
