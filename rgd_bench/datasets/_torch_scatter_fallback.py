"""``torch_scatter.scatter`` for the cases ``wilds`` uses, in plain torch.

Installed as ``torch_scatter`` by ``_wilds_import.ensure_torch_scatter`` only when the real
package is absent.  Semantics follow torch_scatter: positions that receive no value are 0.
"""
from __future__ import annotations

import torch

IS_FALLBACK = True
_REDUCTIONS = {"sum": "sum", "add": "sum", "mean": "mean", "max": "amax", "min": "amin", "mul": "prod"}


def scatter(src: torch.Tensor, index: torch.Tensor, dim: int = -1, out: torch.Tensor | None = None,
            dim_size: int | None = None, reduce: str = "sum") -> torch.Tensor:
    if reduce not in _REDUCTIONS:
        raise ValueError(f"scatter: reduce must be one of {', '.join(_REDUCTIONS)}; got {reduce!r}")
    dim = dim % src.dim()
    if index.dim() == 1 and src.dim() > 1:  # torch_scatter broadcasts a 1-D index along dim
        shape = [1] * src.dim()
        shape[dim] = -1
        index = index.view(shape).expand_as(src)
    if index.shape != src.shape:
        raise ValueError(f"scatter: index of shape {tuple(index.shape)} does not match src {tuple(src.shape)}")
    size = list(src.shape)
    size[dim] = dim_size if dim_size is not None else (int(index.max()) + 1 if index.numel() else 0)
    base = out if out is not None else torch.zeros(size, dtype=src.dtype, device=src.device)
    include_self = out is not None
    if reduce == "mean" and not src.is_floating_point():
        summed = base.scatter_reduce(dim, index, src, "sum", include_self=include_self)
        counts = torch.zeros(size, dtype=src.dtype, device=src.device).scatter_reduce(
            dim, index, torch.ones_like(src), "sum", include_self=False)
        return torch.div(summed, counts.clamp(min=1), rounding_mode="floor")
    return base.scatter_reduce(dim, index, src, _REDUCTIONS[reduce], include_self=include_self)
