"""What the API routes may reach: the services and a few daemon facts (built in main.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from berth.services.containers import ContainerService
from berth.services.distribution import DistributionService
from berth.services.events import EventBus
from berth.services.images import ImageService
from berth.services.networks import NetworkService
from berth.services.stats import StatsService
from berth.services.volumes import VolumeService

__all__ = ["DaemonContext"]


@dataclass(frozen=True)
class DaemonContext:
    daemon_id: str
    data_root: Path
    exec_root: Path
    debug: bool
    cgroup_version: str
    containers: ContainerService
    images: ImageService
    networks: NetworkService
    volumes: VolumeService
    distribution: DistributionService
    events: EventBus
    stats: StatsService
