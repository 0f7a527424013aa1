from __future__ import annotations

import hashlib

import pytest

from berth.errors import InvalidArgument
from berth.images.records import chain_ids
from berth.images.unpack import LayerBlob, unpack
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore

from .tarutil import make_tar

pytestmark = pytest.mark.root


def _blob(content: ContentStore, data: bytes) -> LayerBlob:
    digest = content.put(data)
    return LayerBlob(digest, "sha256:" + hashlib.sha256(data).hexdigest())


def _leftovers(snapshots: OverlaySnapshotter) -> list[str]:
    return sorted(p.name for p in snapshots.root.iterdir() if p.name.startswith("."))


def test_layers_extracted_side_by_side_become_the_chain(stores):
    content, snapshots = stores
    layers = [_blob(content, make_tar(("file", f"l{n}", f"layer {n}"), ("file", "top", str(n))))
              for n in range(3)]
    chains = list(chain_ids([x.diff_id for x in layers]))
    assert unpack(content, snapshots, layers) == chains
    for n, chain in enumerate(chains):
        info = snapshots.stat(chain)
        assert info.parent == (chains[n - 1] if n else None)
        fs = snapshots.upper_dir(chain)
        assert (fs / f"l{n}").read_text() == f"layer {n}"
        assert (fs / "top").read_text() == str(n)
    assert _leftovers(snapshots) == []
    assert unpack(content, snapshots, layers) == []  # present: reused, nothing new


def test_a_bad_layer_leaves_nothing_new(stores):
    content, snapshots = stores
    good = _blob(content, make_tar(("file", "a", "a")))
    assert unpack(content, snapshots, [good]) == list(chain_ids([good.diff_id]))
    bad = _blob(content, make_tar(("file", "../evil", "x")))
    lying = LayerBlob(_blob(content, make_tar(("file", "b", "b"))).digest, "sha256:" + "1" * 64)
    for layers in ([good, bad, _blob(content, make_tar(("file", "c", "c")))], [good, lying]):
        with pytest.raises(InvalidArgument):
            unpack(content, snapshots, layers)
        assert [i.key for i in snapshots.walk()] == list(chain_ids([good.diff_id]))
        assert _leftovers(snapshots) == []
