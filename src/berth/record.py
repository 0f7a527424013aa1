"""Frozen records: the value classes of modules that every ``berth-runtime`` start imports.

``class Mount(Record)`` with annotated fields behaves like ``@dataclass(frozen=True)`` for
what berth uses: keyword or positional construction in field order, defaults and
``field(default_factory=...)``, ``==``, ``hash``, ``repr``, ``replace()``, assignment raising
``FrozenInstanceError``. mypy checks it as a frozen dataclass (PEP 681 ``dataclass_transform``).

Why not dataclasses: importing ``dataclasses`` pulls in ``inspect`` (``ast``, ``dis``,
``tokenize``) and each decorated class compiles generated methods with ``exec``; for the ~20
value classes of the runtime that was ~13 ms of every ``berth-runtime`` command, more than
the whole runtime work of ``crun run``. Here a class costs one scan of its annotations.
Long-lived processes (berthd, shims) may use either; modules outside the runtime's start path
keep dataclasses.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    _R = TypeVar("_R", bound="Record")
else:
    def dataclass_transform(**_: object) -> Callable[[type], type]:
        # At run time typing's version only marks the class; typing is not imported for it.
        return lambda cls: cls

__all__ = ["FrozenInstanceError", "Record", "field", "replace"]


class FrozenInstanceError(AttributeError):
    """Raised on assigning to or deleting a field of a record."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], Any]) -> Any:
    """A field whose default is built per instance (``field(default_factory=dict)``)."""
    return _Factory(default_factory)


_NO_DEFAULT: Any = object()


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
class Record:
    """Base of frozen record classes; the fields are the class's annotated names, in order."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, object]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = list(cls._fields)
        defaults = dict(cls._defaults)
        # Annotations are strings here (``from __future__ import annotations``).
        # Not inspect.get_annotations: importing inspect is the cost this module avoids.
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            if name not in fields:
                fields.append(name)
            default = cls.__dict__.get(name, _NO_DEFAULT)
            if default is not _NO_DEFAULT:
                defaults[name] = default
                if isinstance(default, _Factory):
                    delattr(cls, name)  # instances always carry the field
            elif defaults and name not in defaults:
                raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with")
        cls._fields = tuple(fields)
        cls._defaults = defaults

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} arguments, got {len(args)}")
        values = dict(zip(fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in fields:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
            values[name] = value
        set_field = object.__setattr__
        for name in fields:
            if name in values:
                set_field(self, name, values[name])
                continue
            default = self._defaults.get(name, _NO_DEFAULT)
            if default is _NO_DEFAULT:
                raise TypeError(f"{type(self).__name__}() missing required argument {name!r}")
            set_field(self, name, default.make() if isinstance(default, _Factory) else default)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({inner})"


def replace(record: _R, **changes: Any) -> _R:
    """A copy of ``record`` with ``changes`` applied (``dataclasses.replace``)."""
    values = {name: getattr(record, name) for name in record._fields}
    values.update(changes)
    return type(record)(**values)
