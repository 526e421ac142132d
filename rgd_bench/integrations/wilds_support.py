"""Import ``wilds`` safely: off the network, and with its group metrics working.

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
- Some loaders (civilcomments, fmow, sqf) break on pandas 3, whose default string dtype
  refuses the ints they write into string columns: ``load_wilds_dataset`` builds them
  with pandas 2's string inference.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import warnings
from types import ModuleType

from rgd_bench.errors import UsageError

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
        from rgd_bench.integrations import _torch_scatter_fallback as module
        sys.modules["torch_scatter"] = module
    return torch_scatter_implementation()


def torch_scatter_implementation() -> str:
    module = sys.modules.get("torch_scatter")
    if module is None:
        return "none"
    return "rgd_bench fallback (torch.scatter_reduce)" if getattr(module, "IS_FALLBACK", False) else "torch_scatter"


# WILDS 2.0.0 loaders that write ints into string columns, which pandas 3's default
# string dtype refuses ("Invalid value '0' for dtype 'str'"): they are built with
# pandas' previous string inference (object columns), as under pandas 2.
PANDAS3_BROKEN = ("civilcomments", "fmow", "sqf")


def _set_infer_string(value: bool | None = None) -> bool | None:
    """Set (or, with None, read) pandas' ``future.infer_string``; None where it is gone."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in pandas 3, and kept for such code
        try:
            if value is not None:
                pd.set_option("future.infer_string", value)
            return bool(pd.get_option("future.infer_string"))
        except (AttributeError, KeyError):  # pandas' OptionError is both
            return None


@contextlib.contextmanager
def pandas_object_strings(name: str):
    """Build WILDS dataset ``name`` with pandas 2's string inference where it needs it."""
    import pandas as pd

    if name not in PANDAS3_BROKEN or int(pd.__version__.split(".")[0]) < 3:
        yield
        return
    if _set_infer_string() is None:
        raise UsageError(f"WILDS 2.0.0's {name} loader needs pandas' object string columns, which "
                         f"pandas {pd.__version__} no longer offers; install pandas<4 to use {name}.")
    previous = _set_infer_string()
    _set_infer_string(False)
    try:
        yield
    finally:
        _set_infer_string(previous)


def load_wilds_dataset(name: str, root_dir: str, **dataset_kwargs):
    """``wilds.get_dataset(name, root_dir, download=False)``, safe on pandas 3; the
    synthetic datasets of ``wilds_synthetic`` by their names too."""
    wilds = import_wilds()
    from rgd_bench.integrations.wilds_synthetic import SYNTHETIC_DATASETS

    if name in SYNTHETIC_DATASETS:
        return SYNTHETIC_DATASETS[name](root_dir=root_dir, **dataset_kwargs)
    with pandas_object_strings(name):
        return wilds.get_dataset(name, root_dir=root_dir, download=False, **dataset_kwargs)
