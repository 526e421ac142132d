"""Atomic, safely loadable checkpoints of the whole training state."""
from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


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
    """Write to a temporary file, fsync, then rename: a reader sees the old or the new file."""
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_checkpoint(path: str) -> dict[str, Any]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} has checkpoint format {state.get('format')!r}; "
                         f"this version reads format {FORMAT_VERSION}.")
    return state
