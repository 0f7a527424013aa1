from __future__ import annotations

import os

import pytest

from berth.errors import Conflict, InvalidArgument, NotFound
from berth.mount import mount_all, unmount
from berth.services.images import ImageService
from berth.snapshots.overlay import OverlaySnapshotter
from berth.store.content import ContentStore
from berth.store.metadata import Database
from berth.testing.rootfs import busybox_rootfs_tar
from berth.timefmt import ZERO_TIME

pytestmark = pytest.mark.root


class Env:
    def __init__(self, root):
        self.root = root
        self.open()

    def open(self):
        self.db = Database(self.root / "berth.db")
        self.svc = ImageService(self.db, ContentStore(self.root / "content"),
                                OverlaySnapshotter(self.root / "snapshots", self.db))

    def close(self):
        self.db.close()


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()


@pytest.fixture
def tarball(tmp_path_factory):
    p = tmp_path_factory.mktemp("bb") / "busybox.tar"
    p.write_bytes(busybox_rootfs_tar())
    return p


def test_import_list_inspect_tag(env, tarball):
    svc = env.svc
    image_id = svc.import_image(tarball, "busybox", ["CMD sh", "LABEL a=b"], "")
    [entry] = svc.list_images()
    assert entry["Id"] == image_id and entry["RepoTags"] == ["busybox:latest"]
    assert entry["Labels"] == {"a": "b"} and entry["Size"] > 1_000_000
    assert entry["Containers"] == -1 and entry["SharedSize"] == -1 and entry["ParentId"] == ""
    info = svc.inspect("busybox")
    assert info["Id"] == image_id
    assert info["Config"]["Cmd"] == ["/bin/sh", "-c", "sh"]
    assert info["Config"]["Env"] is None and info["Config"]["WorkingDir"] == ""
    assert info["Comment"] == "Imported from -"
    assert info["RootFS"]["Type"] == "layers" and len(info["RootFS"]["Layers"]) == 1
    assert info["GraphDriver"]["Name"] == "overlay2"
    assert os.path.isdir(info["GraphDriver"]["Data"]["UpperDir"])
    assert info["Metadata"]["LastTagTime"] != ZERO_TIME
    assert svc.resolve(image_id).id == image_id
    assert svc.resolve(image_id.removeprefix("sha256:")[:12]).id == image_id
    assert svc.resolve("docker.io/library/busybox:latest").id == image_id
    svc.tag("busybox", "me/box", "v1")
    svc.tag(image_id[7:19], "localhost:5000/box")
    assert sorted(svc.inspect(image_id)["RepoTags"]) == [
        "busybox:latest", "localhost:5000/box:latest", "me/box:v1"]
    assert svc.totals()[0] == 1
    with pytest.raises(NotFound, match=r"^No such image: nothere:latest$"):
        svc.resolve("nothere")
    with pytest.raises(NotFound, match="No such image: busybox:2"):
        svc.inspect("busybox:2")
    with pytest.raises(InvalidArgument, match="must be lowercase"):
        svc.tag("busybox", "Upper")


def test_list_filters(env, tarball):
    svc = env.svc
    old = svc.import_image(tarball, "old:1", ["LABEL tier=db"], "")
    new = svc.import_image(tarball, "new:1", ["LABEL tier=web"], "")
    dangling = svc.import_image(tarball, None, [], "")
    ids = lambda **f: [i["Id"] for i in svc.list_images(filters=f)]  # noqa: E731
    assert ids() == [dangling, new, old]
    assert ids(reference=["new"]) == [new]
    assert ids(reference=["n*:1"]) == [new]
    assert ids(dangling=["true"]) == [dangling]
    assert ids(dangling=["false"]) == [new, old]
    assert ids(label=["tier=db"]) == [old]
    assert ids(label=["tier"]) == [new, old]
    assert ids(before=["new:1"]) == [old]
    assert ids(since=["new:1"]) == [dangling]
    with pytest.raises(InvalidArgument, match="Invalid filter 'bogus'"):
        svc.list_images(filters={"bogus": ["x"]})
    assert svc.list_images()[0]["RepoTags"] == []


def test_remove_untag_then_delete_and_gc(env, tarball, tmp_path):
    svc = env.svc
    image_id = svc.import_image(tarball, "busybox", [], "")
    [layer] = svc.inspect("busybox")["RootFS"]["Layers"]
    svc.tag("busybox", "other", "1")
    assert svc.remove("other:1") == [{"Untagged": "other:1"}]
    out = svc.remove("busybox")
    assert out[0] == {"Untagged": "busybox:latest"}
    assert out[1] == {"Deleted": image_id}
    assert out[2:] == [{"Deleted": layer}]  # a one-layer image's chain ID is its diff ID
    assert svc.list_images() == []
    assert os.listdir(tmp_path / "content" / "blobs" / "sha256") == []
    assert os.listdir(tmp_path / "snapshots") == []
    with pytest.raises(NotFound):
        svc.remove("busybox")


def test_remove_conflicts(env, tarball):
    svc = env.svc
    image_id = svc.import_image(tarball, "busybox", [], "")
    short = image_id[7:19]
    ctr = "c" * 64
    in_use = {image_id: ctr}
    with pytest.raises(Conflict) as e:
        svc.remove("busybox", in_use=in_use)
    assert str(e.value) == (
        'conflict: unable to remove repository reference "busybox" (must force) - '
        f"container cccccccccccc is using its referenced image {short}")
    with pytest.raises(Conflict, match="being used by stopped container cccccccccccc"):
        svc.remove(image_id, in_use=in_use)
    svc.tag("busybox", "other")
    with pytest.raises(Conflict) as e:
        svc.remove(short)
    assert str(e.value) == (f"conflict: unable to delete {short} (must be forced) - "
                            "image is referenced in multiple repositories")
    # With two tags, untagging one is fine even while a container uses the image.
    assert svc.remove("other", in_use=in_use) == [{"Untagged": "other:latest"}]
    out = svc.remove(short, force=True, in_use=in_use)
    assert out[:2] == [{"Untagged": "busybox:latest"}, {"Deleted": image_id}]


def test_rootfs_keeps_layer_alive_and_mounts(env, tarball, tmp_path):
    svc = env.svc
    image_id = svc.import_image(tarball, "busybox", [], "")
    ctr = "d" * 64
    mounts = svc.prepare_rootfs(image_id, ctr)
    assert svc.rootfs_mounts(ctr) == mounts
    target = tmp_path / "mnt"
    target.mkdir()
    mount_all(mounts, str(target))
    try:
        assert (target / "bin" / "busybox").exists()
        (target / "new").write_text("x")
    finally:
        unmount(str(target))
    assert (svc.upper_dir(ctr) / "new").read_text() == "x"
    svc.remove("busybox", force=True, in_use={image_id: ctr})
    # The container's snapshot still needs the layer below it.
    assert len(os.listdir(tmp_path / "snapshots")) == 2
    svc.remove_rootfs(ctr)
    svc.remove_rootfs(ctr)
    svc.collect_garbage()
    assert os.listdir(tmp_path / "snapshots") == []


def test_persists_across_reopen(env, tarball):
    image_id = env.svc.import_image(tarball, "busybox:1", ["USER nobody"], "msg")
    before = env.svc.inspect("busybox:1")
    env.close()
    env.open()
    assert env.svc.inspect("busybox:1") == before
    assert env.svc.resolve(image_id).config["config"]["User"] == "nobody"


def test_import_rejects_garbage_with_no_residue(env, tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"nope" * 500)
    with pytest.raises(InvalidArgument):
        env.svc.import_image(bad, "x", [], "")
    with pytest.raises(InvalidArgument, match="FOO is not a valid change command"):
        env.svc.import_image(bad, "x", ["FOO bar"], "")
    assert env.svc.list_images() == []
    assert os.listdir(tmp_path / "content" / "blobs" / "sha256") == []


def test_try_prepare_rootfs_never_waits_for_the_change_lock(env, tarball):
    import threading

    svc = env.svc
    image_id = svc.import_image(tarball, "busybox", [], "")
    held, release = threading.Event(), threading.Event()

    def holder():
        with svc.exclusive():  # as a load or commit does, for as long as it runs
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    try:
        held.wait(10)
        assert svc.try_prepare_rootfs(image_id, "a" * 64) is False
        assert not any(i.key.endswith("a" * 64) for i in env.svc._snapshots.walk())
    finally:
        release.set()
        t.join()
    assert svc.try_prepare_rootfs(image_id, "a" * 64) is True
    assert svc.rootfs_mounts("a" * 64)
    doomed = svc.detach_rootfs("a" * 64)
    assert doomed is not None and doomed.is_dir()
    assert svc.detach_rootfs("a" * 64) is None
