"""A sweep's keys, each declared once where it is used: the plan's on ``SweepSpec``'s fields
(``sweep_key``), each launcher's in its ``OPTIONS``, the sweep's own in ``sweep/cli.py``.

A key is ``--name`` on the command line and ``name`` in a sweep file, checked against its
``Spec`` in both, and shown in ``--help`` with its help text and its default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from rgd_bench.values import Spec


@dataclass(frozen=True)
class Option:
    """One sweep key: its ``name``, the ``Spec`` of its values, its ``help``, its ``default``
    and, where the default is None, what then happens (``unset``, a text or a function that
    returns one, shown in ``--help``).  A ``required`` key has no default."""

    name: str
    spec: Spec
    help: str
    default: Any = None
    unset: str | Callable[[], str] | None = None
    required: bool = False

    def but(self, **changes: Any) -> Option:
        """The same key with other values (``CPUS_PER_JOB.but(default=2)``: another default)."""
        return dataclasses.replace(self, **changes)

    def unset_text(self) -> str | None:
        return self.unset() if callable(self.unset) else self.unset


def sweep_key(spec: Spec, help: str, *, name: str | None = None, unset: str | None = None,
              **field_kwargs: Any) -> Any:
    """A dataclass field that is a sweep key: ``dataclasses.field(**field_kwargs)`` holding its
    Spec and help (and ``name``, where the key is not called as the field)."""
    return dataclasses.field(metadata={"spec": spec, "help": help, "key": name, "unset": unset}, **field_kwargs)


def options_of(cls: type) -> dict[str, Option]:
    """The sweep keys of a dataclass's ``sweep_key`` fields, by key name, in field order; a
    field with neither default nor default factory is a required key."""
    options = {}
    for f in dataclasses.fields(cls):
        if "spec" not in f.metadata:
            continue
        name = f.metadata["key"] or f.name
        default = (f.default if f.default is not dataclasses.MISSING
                   else f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        options[name] = Option(name, f.metadata["spec"], f.metadata["help"], default, f.metadata["unset"], required)
    return options


def field_names(cls: type) -> dict[str, str]:
    """Each sweep key of a dataclass and the field that holds it."""
    return {f.metadata["key"] or f.name: f.name for f in dataclasses.fields(cls) if "spec" in f.metadata}
