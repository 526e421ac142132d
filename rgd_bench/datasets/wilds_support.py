"""WILDS datasets, loaded safely: ``load_wilds_dataset`` and the pandas 3 guard.

``import_wilds`` (re-exported here) imports ``wilds`` off the network and with
``torch_scatter`` available: see ``_wilds_import``, a module of its own so that
``wilds_synthetic`` can use it without importing this one.

Some loaders (civilcomments, fmow, sqf) break on pandas 3, whose default string dtype
refuses the ints they write into string columns: ``load_wilds_dataset`` builds them
with pandas 2's string inference.
"""
from __future__ import annotations

import contextlib
import warnings

from rgd_bench.datasets._wilds_import import ensure_torch_scatter, import_wilds, torch_scatter_implementation
from rgd_bench.errors import UsageError

__all__ = ["PANDAS3_BROKEN", "ensure_torch_scatter", "import_wilds", "load_wilds_dataset",
           "pandas_object_strings", "torch_scatter_implementation"]


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
    from rgd_bench.datasets.wilds_synthetic import SYNTHETIC_DATASETS  # imports wilds: only here

    if name in SYNTHETIC_DATASETS:
        return SYNTHETIC_DATASETS[name](root_dir=root_dir, **dataset_kwargs)
    with pandas_object_strings(name):
        return wilds.get_dataset(name, root_dir=root_dir, download=False, **dataset_kwargs)
