"""The monitoring web server of a real berthd: /metrics, the JSON history API, and the
dashboard in headless Chromium (Debian's chromium + chromium-driver, driven by selenium),
which must show the running containers and charts whose data grows."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _json(url: str) -> Any:
    status, body = _get(url)
    assert status == 200, body
    return json.loads(body)


@pytest.fixture
def two_containers(daemon: Daemon) -> Iterator[tuple[str, str]]:
    names = (f"dash-{uuid.uuid4().hex[:8]}", f"dash-{uuid.uuid4().hex[:8]}")
    try:
        r = daemon.docker("run", "-d", "--name", names[0], "-m", "48m", "busybox", "sh", "-c",
                          "while :; do :; done")
        assert r.returncode == 0, r.stderr
        r = daemon.docker("run", "-d", "--name", names[1], "busybox", "sleep", "600")
        assert r.returncode == 0, r.stderr
        yield names
    finally:
        daemon.docker("rm", "-f", *names)


def test_metrics_and_history_api(daemon: Daemon, two_containers: tuple[str, str]) -> None:
    busy, idle = two_containers
    time.sleep(2.2)
    status, body = _get(daemon.metrics_url + "/metrics")
    assert status == 200
    text = body.decode()
    cid = json.loads(daemon.docker("inspect", busy).stdout)[0]["Id"]
    labels = f'{{id="{cid}",image="busybox",name="{busy}"}}'

    def metric(name: str) -> float:
        line = next(x for x in text.splitlines() if x.startswith(name + labels))
        return float(line.split()[-1])

    assert metric("container_cpu_usage_seconds_total") > 0.5
    assert metric("container_spec_memory_limit_bytes") == 48 * 2**20
    assert metric("container_processes") == 1
    for name in ("container_memory_usage_bytes", "container_memory_working_set_bytes",
                 "container_network_receive_bytes_total", "container_fs_reads_bytes_total",
                 "container_processes", "machine_cpu_cores", "machine_memory_bytes"):
        assert f"# TYPE {name} " in text, name
    summary = _json(daemon.metrics_url + "/api/v1/summary")
    rows = {c["name"]: c for c in summary["containers"]}
    assert rows[busy]["state"] == "running" and rows[busy]["limits"]["memory"] == 48 * 2**20
    assert rows[busy]["latest"]["cpu"] > 30 and rows[idle]["latest"]["cpu"] < 30
    assert summary["collector"]["history_points"] >= 900 and summary["host"]["cpus"] >= 1
    hist = _json(f"{daemon.metrics_url}/api/v1/history/{busy}")
    assert hist["key"] == cid and len(hist["points"]) >= 2
    last_t = hist["points"][-1]["t"]
    time.sleep(1.2)
    newer = _json(f"{daemon.metrics_url}/api/v1/history/{cid[:12]}?since={last_t}")["points"]
    assert newer and all(p["t"] > last_t for p in newer)
    assert len(_json(daemon.metrics_url + "/api/v1/history/host")["points"]) >= 2
    # bad input: unknown container, bad since, paths outside the static dir
    status, body = _get(daemon.metrics_url + "/api/v1/history/nosuchthing")
    assert status == 404 and json.loads(body) == {"message": "No such container: nosuchthing"}
    assert _get(daemon.metrics_url + "/api/v1/history/host?since=soon")[0] == 400
    assert _get(daemon.metrics_url + "/static/..%2f..%2fserver.py")[0] == 404
    assert _get(daemon.metrics_url + "/static/app.js")[0] == 200


@pytest.mark.skipif(shutil.which("chromedriver") is None, reason="needs Debian's chromium-driver (make deps)")
def test_dashboard_in_headless_chromium(daemon: Daemon, two_containers: tuple[str, str],
                                        tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    busy, idle = two_containers
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1280,900",
                 "--disable-dev-shm-usage"):
        opts.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"),
                                      log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=opts, service=service)
    try:
        driver.get(daemon.metrics_url + "/")
        wait = WebDriverWait(driver, 15)
        wait.until(lambda d: busy in d.find_element(By.ID, "containers").text
                   and idle in d.find_element(By.ID, "containers").text)

        def points() -> int:
            canvas = driver.find_element(By.CSS_SELECTOR, "#host-charts canvas[data-title=CPU]")
            return int(canvas.get_attribute("data-points") or 0)

        wait.until(lambda d: points() >= 1)
        first = points()
        wait.until(lambda d: points() >= first + 2)  # live: the chart's data grows
        driver.save_screenshot(str(tmp_path / "dashboard-overview.png"))
        # Click through to the busy container: its own charts, its limit, growing data.
        driver.find_element(By.XPATH, f"//tr[td[text()='{busy}']]").click()
        wait.until(lambda d: busy in d.find_element(By.ID, "detail-title").text)
        assert "48MiB" in driver.find_element(By.ID, "detail-facts").text

        def detail_points() -> int:
            canvas = driver.find_element(By.CSS_SELECTOR, "#detail-charts canvas[data-title=CPU]")
            return int(canvas.get_attribute("data-points") or 0)

        wait.until(lambda d: detail_points() >= 2)
        start = detail_points()
        wait.until(lambda d: detail_points() > start)
        cpu_text = driver.find_element(By.CSS_SELECTOR, "#detail-charts .chart h3 span").text
        assert cpu_text.endswith("%") and float(cpu_text.rstrip("%")) > 20, cpu_text
        driver.save_screenshot(str(tmp_path / "dashboard-container.png"))
    finally:
        driver.quit()
    shot = tmp_path / "dashboard-overview.png"
    assert shot.stat().st_size > 10_000
    print(f"screenshots kept in {tmp_path}")
