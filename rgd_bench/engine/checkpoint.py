"""Atomic, safely loadable checkpoints of the whole training state."""
from __future__ import annotations

import io
import os
import random
import warnings
from typing import Any

import numpy as np
import torch

from rgd_bench.errors import UsageError
from rgd_bench.rundir import atomic_file

FORMAT_VERSION = 1
CHECKPOINT_KEYS = ("format", "next_step", "args", "algorithm", "rng", "results_size")


def capture_rng_states() -> dict[str, Any]:
    """Python, NumPy and torch global RNG states, as types ``weights_only`` can load."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(_as_tuples(states["python"]))
    kind, keys, pos, has_gauss, cached_gaussian = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _as_tuples(value: Any) -> Any:
    # random.setstate needs the nested tuples that getstate gave.
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def save_atomically(obj: Any, path: str) -> None:
    """Serialise ``obj`` in memory, then write it through ``atomic_file``: a reader sees the
    old file or the new one, and a failed write (a full disk) leaves neither a part nor a
    temporary file.  Serialising first keeps torch's writer, which turns OSError into
    RuntimeError, out of the file system's way."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_file(path) as handle:
        handle.write(buffer.getbuffer())


def load_checkpoint(path: str) -> dict[str, Any]:
    """The training state saved at ``path``; UsageError in one line when it cannot be used."""
    def refuse(why: str) -> UsageError:
        return UsageError(f"cannot resume from {path!r}: {why}; delete it to start the run over.")

    if os.path.getsize(path) == 0:
        raise refuse("the file is empty")
    try:
        with warnings.catch_warnings():  # torch warns, over lines, about what it cannot read anyway
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch's own messages run over many lines
        raise refuse(f"it is truncated, damaged or not a checkpoint ({type(error).__name__})") from None
    if not isinstance(state, dict) or any(key not in state for key in CHECKPOINT_KEYS):
        raise refuse("it is not an rgd_bench checkpoint")
    if state["format"] != FORMAT_VERSION:
        raise refuse(f"it has checkpoint format {state['format']!r} and this version reads format {FORMAT_VERSION}")
    return state
