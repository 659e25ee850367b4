"""A small dict registry shared by runtimes, models, presets and pruning importances.

Example::

    RUNTIMES: Registry[type[Runtime]] = Registry("runtime")

    @RUNTIMES.register("ort-cpu")
    class OrtCpu: ...

    RUNTIMES.get("ort-cpx")  # NotFoundError: unknown runtime 'ort-cpx'. ... Did you mean 'ort-cpu'?
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from edgebench.errors import NotFoundError, suggest

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object mapping filled by a decorator; lookups suggest the closest name."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            allowed = ", ".join(sorted(self._items)) or "(none registered)"
            raise NotFoundError(
                f"unknown {self.kind} '{name}'; known: {allowed}.{suggest(name, self._items)}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def remove(self, name: str) -> None:
        """Forget `name` (a test takes back a temporary entry; unknown names are ignored)."""
        self._items.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
