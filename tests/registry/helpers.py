"""Test helpers: registry servers (berth's and Distribution's) on 127.0.0.1, a test CA, htpasswd."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DISTRIBUTION = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    root: Path
    log: Path
    tls: bool = False

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"registry exited {proc.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"registry did not listen: {log.read_text()}")


def start_berth_registry(base: Path, *args: str, port: int | None = None,
                         root: Path | None = None) -> Server:
    port = port or free_port()
    root = root or base / "root"
    log = base / f"registry-{port}.log"
    cmd = [sys.executable, "-m", "berth.cli.main", "registry", "serve",
           "--listen", f"127.0.0.1:{port}", "--root", str(root), *args]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    _wait_port(port, proc, log)
    return Server(proc, port, root, log, tls="--tls-cert" in args)


def start_distribution(base: Path, htpasswd: Path | None = None) -> Server:
    port = free_port()
    root = base / "dist-root"
    root.mkdir(parents=True, exist_ok=True)
    cfg = base / "dist.yml"
    auth = ""
    if htpasswd:
        auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}")
    log = base / "dist.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([DISTRIBUTION, "serve", str(cfg)], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
    _wait_port(port, proc, log)
    return Server(proc, port, root, log)


@dataclass
class TestCA:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_ca(base: Path, name: str = "ca") -> TestCA:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"berth test {name}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    d = base / name
    d.mkdir(parents=True, exist_ok=True)
    out = TestCA(d / "ca.crt", d / "server.crt", d / "server.key")
    out.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.server_key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return out


def make_htpasswd(path: Path, user: str, password: str) -> Path:
    from berth.registry.server.htpasswd import hash_password

    path.write_text(f"{user}:{hash_password(password, rounds=4)}\n")
    return path


def push_test_image(url: str, repo: str, tag: str, arch: str = "amd64",
                    message: str = "hello from the registry",
                    auth: tuple[str, str] | None = None,
                    verify: str | bool = True) -> tuple[str, bytes]:
    """Push a busybox image (its CMD echoes ``message``) with plain HTTP calls.

    Returns (manifest digest, manifest bytes)."""
    import gzip
    import hashlib
    import io
    import json
    import tarfile

    import requests

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = Path("/bin/busybox").read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        note = message.encode()
        info = tarfile.TarInfo("etc/message")
        info.size = len(note)
        tar.addfile(info, io.BytesIO(note))
    layer = gzip.compress(raw.getvalue(), mtime=0)

    def d(b: bytes) -> str:
        return "sha256:" + hashlib.sha256(b).hexdigest()

    config = json.dumps({"architecture": arch, "os": "linux",
                         "config": {"Cmd": ["/bin/busybox", "echo", message]},
                         "rootfs": {"type": "layers", "diff_ids": [d(raw.getvalue())]}}).encode()
    for blob in (layer, config):
        # POST then PUT: Distribution 2.8 ignores a monolithic POST ?digest= body.
        r = requests.post(f"{url}/v2/{repo}/blobs/uploads/", auth=auth, verify=verify)
        r.raise_for_status()
        loc = r.headers["Location"]
        loc = loc if loc.startswith("http") else url + loc
        r = requests.put(loc, params={"digest": d(blob)}, data=blob, auth=auth, verify=verify)
        r.raise_for_status()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": d(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": d(layer), "size": len(layer)}]}).encode()
    r = requests.put(f"{url}/v2/{repo}/manifests/{tag}", data=manifest, auth=auth, verify=verify,
                     headers={
        "Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
    r.raise_for_status()
    return d(manifest), manifest
