"""Explicit name -> class registries with decorator registration and plugins.

Algorithms and datasets register with ``@ALGORITHMS.register()`` /
``@DATASETS.register()``.  Third-party packages add their own through the entry-point
groups ``rgd_bench.algorithms`` and ``rgd_bench.datasets``; an entry point may name a
module (importing it registers its classes) or a class (registered under the entry
point's name).  A plugin that fails to load is reported once and skipped.
"""
from __future__ import annotations

import difflib
import types
import importlib
import importlib.metadata
import warnings
from typing import Callable, Generic, Iterator, TypeVar

from rgd_bench.errors import UsageError

T = TypeVar("T")


class PluginLoadWarning(UserWarning):
    """A third-party plugin could not be loaded and was skipped."""


class DuplicateNameError(ValueError):
    """A name is registered twice, by two different classes."""


class Registry(Generic[T]):
    """A named collection of classes, extended by decorators and entry points."""

    def __init__(self, kind: str, entry_point_group: str, builtin_module: str):
        self.kind = kind
        self.entry_point_group = entry_point_group
        # Imported on first lookup, so that ``import rgd_bench`` stays light (no torch).
        self.builtin_module = builtin_module
        self._items: dict[str, T] = {}
        self._explanations: dict[str, str] = {}
        self._plugins_loaded = False
        self.plugin_errors: dict[str, str] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Class decorator: register under ``name`` (default: the class name)."""

        def decorate(obj: T) -> T:
            self.add(name or obj.__name__, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        if name in self._items and self._items[name] is not obj:
            raise DuplicateNameError(
                f"The {self.kind} name '{name}' is already registered "
                f"(by {_qualname(self._items[name])}); choose another name."
            )
        self._items[name] = obj

    def explain(self, name: str, message: str) -> None:
        """Say why ``name``, a known name that is not registered, cannot be used."""
        self._explanations[name] = message

    def get(self, name: str) -> T:
        self.load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(self.unknown_name_message(name)) from None

    def unknown_name_message(self, name: str) -> str:
        if name in self._explanations:
            return self._explanations[name]
        valid = self.names()
        close = closest(name, valid)
        hint = f" Did you mean '{close}'?" if close else ""
        return f"Unknown {self.kind} '{name}'.{hint} Valid {self.kind}s: {', '.join(valid)}."

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def load_plugins(self, force: bool = False) -> None:
        """Import every entry point of this registry's group (once, unless forced)."""
        if self._plugins_loaded and not force:
            return
        self._plugins_loaded = True
        importlib.import_module(self.builtin_module)
        for entry_point in importlib.metadata.entry_points(group=self.entry_point_group):
            key = f"{entry_point.name} = {entry_point.value}"
            if key in self.plugin_errors:
                continue
            try:
                loaded = entry_point.load()
                if isinstance(loaded, type):
                    if loaded not in self._items.values():
                        self.add(entry_point.name, loaded)
                elif not isinstance(loaded, types.ModuleType):
                    raise TypeError(f"it names a {type(loaded).__name__}; expected a module or a class")
            except Exception as error:  # a broken plugin must not break the suite
                self.plugin_errors[key] = f"{type(error).__name__}: {error}"
                warnings.warn(
                    f"Skipped the {self.kind} plugin '{key}' from entry-point group "
                    f"'{self.entry_point_group}': {type(error).__name__}: {error}",
                    PluginLoadWarning,
                    stacklevel=2,
                )


def closest(name: str, valid: list[str]) -> str | None:
    """The valid name ``name`` most likely meant, case ignored ("groupdro" -> "GroupDRO"), or None.
    A name that differs only in case is suggested, not accepted: a run's arguments name its
    directory, so "groupdro" and "GroupDRO" must not become two runs of one algorithm."""
    folded = {}
    for candidate in valid:
        folded.setdefault(candidate.casefold(), candidate)
    same = [v for v in valid if v.casefold() == name.casefold()]
    if same:
        return same[0]
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1)
    return folded[close[0]] if close else None


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


ALGORITHMS: Registry = Registry("algorithm", "rgd_bench.algorithms", "rgd_bench.algorithms")
DATASETS: Registry = Registry("dataset", "rgd_bench.datasets", "rgd_bench.datasets")


def lookup(registry: "Registry", name: str, flag: str | None = None):
    """``registry.get(name)``, an unknown name reported as a UsageError (with did-you-mean)."""
    try:
        return registry.get(name)
    except KeyError as error:
        raise UsageError(f"{flag}: {error.args[0]}" if flag else error.args[0]) from None
