"""The engine's own doors: the unix socket is 0660 root:berth (non-members are refused, members
get in), TCP only with mutual TLS (the docker CLI with a client certificate works, without one
it is refused), and a non-loopback TCP address without --tlsverify is refused at start."""

from __future__ import annotations

import datetime
import grp
import ipaddress
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from berth.testing.cgroups import session_cgroup_name
from berth.testing.cleanup import cleanup_daemon_leftovers
from berth.testing.netcleanup import cleanup_network_leftovers
from tests.conftest import network_flags, stop_process

pytestmark = pytest.mark.root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _cert(name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False,
          server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
         .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


@dataclass
class TLSDaemon:
    base: Path
    sock: Path
    port: int
    proc: subprocess.Popen[bytes]

    def docker(self, *args: str,
               env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_CONFIG"] = str(self.base / "docker-config")
        env.update(env_extra or {})
        return subprocess.run(["docker", *args], env=env, capture_output=True, timeout=60)


def _berthd(base: Path, *flags: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "berth.daemon.main", "--data-root", str(base / "data"),
           "--exec-root", str(base / "exec"), "--pidfile", str(base / "berthd.pid"),
           "--cgroup-parent", session_cgroup_name("test", base.name), *network_flags(base),
           "--metrics-addr", "", *flags]
    log = open(base / "berthd.log", "ab")  # noqa: SIM115 - closed with the process below
    try:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


@pytest.fixture(scope="module")
def tls_daemon() -> Iterator[TLSDaemon]:
    base = Path(tempfile.mkdtemp(prefix="berth-doors-"))
    os.chmod(base, 0o755)  # only the socket's own mode may decide who gets in
    ca_key, server_key, client_key = _key(), _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test CA")])
    _write(base / "ca", ca_key, _cert("berth test CA", ca_key, ca_name, ca_key, ca=True))
    _write(base / "server", server_key, _cert("localhost", server_key, ca_name, ca_key, server=True))
    _write(base / "client", client_key, _cert("client", client_key, ca_name, ca_key))
    port = _free_port()
    sock = base / "berth.sock"
    proc = _berthd(base, "-H", f"unix://{sock}", "-H", f"tcp://127.0.0.1:{port}", "--tlsverify",
                   "--tlscacert", str(base / "ca.pem"), "--tlscert", str(base / "server.pem"),
                   "--tlskey", str(base / "server.key"))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, (base / "berthd.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield TLSDaemon(base, sock, port, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        leftovers = cleanup_daemon_leftovers(base / "data", base / "exec",
                                             session_cgroup_name("test", base.name))
        leftovers += cleanup_network_leftovers(base / "data", network_flags(base)[1])
        shutil.rmtree(base, ignore_errors=True)
    assert not leftovers, f"berth left these behind: {leftovers}"


def _tls_args(d: TLSDaemon, with_client_cert: bool) -> list[str]:
    args = ["-H", f"tcp://127.0.0.1:{d.port}", "--tlsverify", "--tlscacert", str(d.base / "ca.pem")]
    if with_client_cert:
        args += ["--tlscert", str(d.base / "client.pem"), "--tlskey", str(d.base / "client.key")]
    return args


def test_tcp_with_client_certificate_works(tls_daemon: TLSDaemon) -> None:
    res = tls_daemon.docker(*_tls_args(tls_daemon, True), "ps")
    assert res.returncode == 0, res.stderr
    assert b"CONTAINER ID" in res.stdout
    ver = tls_daemon.docker(*_tls_args(tls_daemon, True), "version", "--format", "{{.Server.Version}}")
    assert ver.returncode == 0 and ver.stdout.strip(), ver.stderr


def test_tcp_without_client_certificate_is_refused(tls_daemon: TLSDaemon) -> None:
    res = tls_daemon.docker(*_tls_args(tls_daemon, False), "ps")
    assert res.returncode != 0
    assert b"CONTAINER ID" not in res.stdout
    # TLS 1.3: the server's "certificate required" alert reaches the client as a reset.
    assert b"error during connect" in res.stderr, res.stderr
    plain = tls_daemon.docker("-H", f"tcp://127.0.0.1:{tls_daemon.port}", "ps")
    assert plain.returncode != 0 and b"CONTAINER ID" not in plain.stdout


def test_socket_is_0660_root_group_and_refuses_non_members(tls_daemon: TLSDaemon) -> None:
    st = tls_daemon.sock.stat()
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_uid == 0
    group = grp.getgrgid(st.st_gid)
    assert group.gr_name == "berth"  # created by berthd when missing
    host = f"unix://{tls_daemon.sock}"
    base = ["setpriv", "--reuid", "65534", "--regid", "65534"]
    env = {"PATH": os.environ["PATH"], "DOCKER_CONFIG": str(tls_daemon.base / "docker-config-nobody")}
    outsider = subprocess.run([*base, "--clear-groups", "docker", "-H", host, "ps"], env=env,
                              capture_output=True, timeout=60)
    assert outsider.returncode != 0
    assert b"permission denied" in outsider.stderr.lower(), outsider.stderr
    member = subprocess.run([*base, f"--groups={st.st_gid}", "docker", "-H", host, "ps"], env=env,
                            capture_output=True, timeout=60)
    assert member.returncode == 0, member.stderr


def test_non_loopback_tcp_without_tlsverify_is_refused(tmp_path: Path) -> None:
    proc = _berthd(tmp_path, "-H", f"unix://{tmp_path}/b.sock", "-H", f"tcp://0.0.0.0:{_free_port()}")
    try:
        assert proc.wait(30) == 1
    finally:  # a daemon that wrongly started is stopped and leaves nothing behind
        stop_process(proc)
        cleanup_daemon_leftovers(tmp_path / "data", tmp_path / "exec",
                                 session_cgroup_name("test", tmp_path.name))
        cleanup_network_leftovers(tmp_path / "data", network_flags(tmp_path)[1])
    log = (tmp_path / "berthd.log").read_text()
    assert "without --tlsverify" in log
    assert not (tmp_path / "b.sock").exists()
