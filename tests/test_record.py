"""berth.record: frozen records behave like the frozen dataclasses they replace."""

from __future__ import annotations

import pickle
from typing import ClassVar

import pytest

from berth.record import FrozenInstanceError, Record, field, replace


class Point(Record):
    x: int
    y: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    unit: ClassVar[str] = "mm"


class Pair(Record):
    a: int
    b: tuple[int, ...]


class Labelled(Point):
    label: str = ""


def test_construction_defaults_and_factories() -> None:
    a = Point(1)
    b = Point(x=1, y=0)
    assert (a.x, a.y, a.tags) == (1, 0, {})
    assert a == b and a != Point(2)
    assert hash(Pair(1, (2,))) == hash(Pair(1, (2,)))  # a dict field is unhashable, as with dataclasses
    assert a.tags is not Point(1).tags  # one dict per instance
    assert repr(Point(3, 4)) == "Point(x=3, y=4, tags={})"
    assert Point.unit == "mm" and "unit" not in Point._fields
    assert Labelled(1, 2, {}, "l").label == "l" and Labelled._fields == ("x", "y", "tags", "label")
    assert Labelled(1) != Point(1)  # another class is never equal


def test_frozen_and_replace() -> None:
    a = Point(1, 2)
    with pytest.raises(FrozenInstanceError):
        a.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del a.y  # type: ignore[misc]
    b = replace(a, y=7)
    assert (a.y, b.y, b.x) == (2, 7, 1) and type(b) is Point
    assert pickle.loads(pickle.dumps(b)) == b


def test_bad_construction() -> None:
    with pytest.raises(TypeError, match="missing required argument 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="takes 3 arguments"):
        Point(1, 2, {}, 4)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="without a default follows"):
        class Bad(Record):
            a: int = 0
            b: int
