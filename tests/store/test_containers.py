from __future__ import annotations

import pytest

from berth.errors import Conflict, InvalidArgument, NotFound
from berth.store.containers import ContainerRecord, ContainerRecords
from berth.store.metadata import Database

A = "a" * 63 + "1"
B = "a" * 62 + "22"


@pytest.fixture
def records(tmp_path):
    db = Database(tmp_path / "berth.db")
    yield ContainerRecords(db)
    db.close()


def rec(id: str, name: str, image: str = "sha256:" + "1" * 64, created: int = 1):
    return ContainerRecord(id=id, name=name, image_id=image, created=created, data={"x": [1]})


def test_put_get_find_list_delete(records):
    records.put(rec(A, "/web", created=1))
    records.put(rec(B, "db", created=2))
    assert records.get(A).data == {"x": [1]}
    assert records.get(A).name == "web"
    assert records.find("web").id == A
    assert records.find("/web").id == A
    assert records.find(A).id == A
    assert records.find("a" * 63).id == A
    assert [r.id for r in records.list()] == [B, A]
    assert records.names() == {"web", "db"}
    with pytest.raises(InvalidArgument, match="Multiple IDs found with provided prefix: aaa"):
        records.find("aaa")
    with pytest.raises(NotFound, match="No such container: nope"):
        records.find("nope")
    records.delete(A)
    with pytest.raises(NotFound):
        records.get(A)
    with pytest.raises(NotFound):
        records.delete(A)


def test_duplicate_name_is_docker_conflict(records):
    records.put(rec(A, "web"))
    with pytest.raises(Conflict) as e:
        records.put(rec(B, "/web"))
    assert str(e.value) == (
        f'Conflict. The container name "/web" is already in use by container "{A}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
    records.put(rec(B, "db"))
    with pytest.raises(Conflict, match="already in use"):
        records.update(rec(B, "web"))
    records.update(rec(B, "db2"))
    assert records.get(B).name == "db2"


def test_images_in_use(records):
    records.put(rec(A, "one", image="sha256:" + "2" * 64, created=5))
    records.put(rec(B, "two", image="sha256:" + "2" * 64, created=3))
    assert records.images_in_use() == {"sha256:" + "2" * 64: B}
