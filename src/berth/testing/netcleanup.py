"""Remove what a stopped test daemon left in the network stack: its nftables table and the
bridges of its networks (berthd keeps both across restarts on purpose, like dockerd)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from berth.network import links, nftables

__all__ = ["cleanup_network_leftovers", "private_network_flags"]


def cleanup_network_leftovers(data_root: Path, default_bridge: str) -> list[str]:
    """Delete the table and bridges; return what was found still plumbed (for assertions)."""
    found = []
    bridges = {default_bridge} if default_bridge else set()
    db = data_root / "berth.db"
    if db.exists():
        conn = sqlite3.connect(db)
        try:
            for (data,) in conn.execute("SELECT data FROM networks"):
                b = json.loads(data).get("Bridge")
                if b:
                    bridges.add(b)
        except sqlite3.Error:
            pass
        finally:
            conn.close()
    table = nftables.table_name(data_root)
    listing = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True)
    if listing.returncode == 0 and " dnat to " in listing.stdout:
        found.append(f"nftables port rules left in {table}")
    subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True)
    for b in bridges:
        links.delete_link(b)
    return found


def private_network_flags(seed: str) -> list[str]:
    """berthd flags giving a throwaway daemon its own bridge name and subnets (clear of berth0,
    docker0 and other throwaway daemons with a different ``seed``)."""
    import hashlib

    h = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    # 10.A.B.0/24 out of 120 * 256 choices: the default bridge takes the lower half, user
    # networks are /28s of the upper half (8 of them; tests need a few at a time).
    a, b = 100 + h % 120, (h >> 8) % 256
    return ["--bridge", f"bb{h % 10**10:010d}", "--bip", f"10.{a}.{b}.1/25",
            "--default-address-pool", f"base=10.{a}.{b}.128/25,size=28"]
