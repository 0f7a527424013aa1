from __future__ import annotations

from berth.store.gc import Kind, Node, mark, sweep


def test_mark_follows_refs_and_sweep_returns_the_rest():
    img = Node(Kind.IMAGE, "sha256:i")
    cfg = Node(Kind.CONTENT, "sha256:c")
    layer = Node(Kind.CONTENT, "sha256:l")
    snap1 = Node(Kind.SNAPSHOT, "s1")
    snap2 = Node(Kind.SNAPSHOT, "s2")
    orphan = Node(Kind.CONTENT, "sha256:o")
    graph = {img: [cfg, layer, snap2], snap2: [snap1], snap1: [snap2]}  # a cycle is fine
    live = mark([img], lambda n: graph.get(n, []))
    assert live == {img, cfg, layer, snap1, snap2}
    assert sweep([img, cfg, layer, snap1, snap2, orphan], live) == [orphan]
