"""``import wilds`` safely: off the network, and with its group metrics working.

Its own small module, imported by ``wilds_support`` (which loads WILDS datasets, the
synthetic ones included) and by ``wilds_synthetic`` (which subclasses WILDS's classes at
import), so that neither of those two imports the other at import time.

Two traps of ``wilds`` 2.0.0, handled here rather than papered over:

- At import, ``wilds.version`` starts a thread that asks the package index whether a newer
  release exists.  Benchmarks must not touch the network, so the check is switched off:
  during the import, ``outdated`` (the library it uses) is made unimportable, which is
  the case ``wilds`` itself handles by skipping the check.
- Its group metrics (``wilds.common.utils.avg_over_groups``) import ``torch_scatter``,
  which ``wilds`` does not install and which builds from source in minutes
  (``pip install --no-build-isolation torch-scatter`` after torch).  When it is absent,
  ``torch_scatter`` is provided by ``_torch_scatter_fallback``: the ``scatter`` that
  wilds calls, computed with ``torch.Tensor.scatter_reduce`` (same results, tested
  against the real ``torch_scatter`` where it is installed).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

_ABSENT = object()


def import_wilds() -> ModuleType:
    """``import wilds`` without its update check, with ``torch_scatter`` available."""
    try:
        if "wilds" not in sys.modules:
            saved = sys.modules.get("outdated", _ABSENT)
            sys.modules["outdated"] = None  # type: ignore[assignment]  # "from outdated import" fails
            try:
                importlib.import_module("wilds")
            finally:
                if saved is _ABSENT:
                    del sys.modules["outdated"]
                else:
                    sys.modules["outdated"] = saved
        wilds = sys.modules["wilds"]
    except ImportError as error:
        raise ImportError("WILDS datasets need the wilds package: pip install 'rgd_bench[wilds]'") from error
    ensure_torch_scatter()
    return wilds


def ensure_torch_scatter() -> str:
    """Make ``import torch_scatter`` work; say which implementation it is."""
    module = sys.modules.get("torch_scatter")
    if module is None and importlib.util.find_spec("torch_scatter") is not None:
        module = importlib.import_module("torch_scatter")
    if module is None:
        from rgd_bench.datasets import _torch_scatter_fallback as module
        sys.modules["torch_scatter"] = module
    return torch_scatter_implementation()


def torch_scatter_implementation() -> str:
    module = sys.modules.get("torch_scatter")
    if module is None:
        return "none"
    return "rgd_bench fallback (torch.scatter_reduce)" if getattr(module, "IS_FALLBACK", False) else "torch_scatter"
