"""skopeo (an independent client) copies images into and out of berth registry serve."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.registry.helpers import make_ca, make_htpasswd, start_berth_registry
from tests.registry.layout import write_layout

SKOPEO = shutil.which("skopeo")
pytestmark = pytest.mark.skipif(SKOPEO is None, reason="skopeo not installed (make deps)")


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SKOPEO or "skopeo", "--insecure-policy", *args], capture_output=True,
                          text=True, timeout=120)


def _roundtrip(scratch, server, src_flags: list[str], dst_flags: list[str]) -> None:
    digest = write_layout(scratch / "src", extra_layers=2)
    ref = f"docker://{server.host}/team/app:v1"
    out = _skopeo("copy", *dst_flags, "oci:" + str(scratch / "src") + ":latest", ref)
    assert out.returncode == 0, out.stderr
    out = _skopeo("inspect", *[f.replace("--dest-", "--") for f in dst_flags], ref)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["Digest"] == digest and len(info["Layers"]) == 3
    out = _skopeo("copy", *src_flags, ref, "oci:" + str(scratch / "back") + ":v1")
    assert out.returncode == 0, out.stderr
    index = json.loads((scratch / "back" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest


def test_skopeo_plain_http(scratch, servers):
    s = start_berth_registry(scratch)
    servers.append(s)
    _roundtrip(scratch, s, ["--src-tls-verify=false"], ["--dest-tls-verify=false"])


def test_skopeo_tls_and_auth(scratch, servers):
    ca = make_ca(scratch)
    certs = scratch / "certs"
    certs.mkdir()
    shutil.copy(ca.ca_cert, certs / "ca.crt")
    htp = make_htpasswd(scratch / "htpasswd", "bob", "pw123")
    s = start_berth_registry(scratch, "--tls-cert", str(ca.server_cert), "--tls-key",
                             str(ca.server_key), "--htpasswd", str(htp))
    servers.append(s)
    # Without credentials the push is refused.
    write_layout(scratch / "noauth")
    out = _skopeo("copy", f"--dest-cert-dir={certs}", "oci:" + str(scratch / "noauth") + ":latest",
                  f"docker://{s.host}/team/app:v1")
    assert out.returncode != 0 and "unauthorized" in out.stderr.lower()
    # Without the CA, TLS verification fails.
    out = _skopeo("inspect", "--creds=bob:pw123", f"docker://{s.host}/team/app:v1")
    assert out.returncode != 0 and "certificate" in out.stderr.lower()
    _roundtrip(scratch, s, [f"--src-cert-dir={certs}", "--src-creds=bob:pw123"],
               [f"--dest-cert-dir={certs}", "--dest-creds=bob:pw123"])
