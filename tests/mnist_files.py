"""Write torchvision's raw MNIST files (big-endian idx format) for tests that read them."""
from __future__ import annotations

import os
import struct

import numpy as np

IMAGES_MAGIC = 2051  # idx3: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # idx1: unsigned bytes, 1 dimension


def _as_numpy(array) -> np.ndarray:
    return array.numpy() if hasattr(array, "numpy") else np.asarray(array)


def _write_idx_images(path: str, images: np.ndarray) -> None:
    n, rows, cols = images.shape
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", IMAGES_MAGIC, n, rows, cols))
        f.write(np.ascontiguousarray(images, dtype=np.uint8).tobytes())


def _write_idx_labels(path: str, labels: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(">II", LABELS_MAGIC, len(labels)))
        f.write(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())


def write_torchvision_mnist(root, images_uint8, labels, n_train: int) -> str:
    """Write ``images_uint8`` [N, 28, 28] and ``labels`` [N] as torchvision's MNIST files.

    The first ``n_train`` items become the training split (``train-*``), the rest the
    test split (``t10k-*``), under ``root/MNIST/raw`` so that
    ``torchvision.datasets.MNIST(root, train=..., download=False)`` reads them.
    Returns the raw folder.
    """
    images = _as_numpy(images_uint8)
    labels = _as_numpy(labels)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"images must have shape [N, 28, 28], got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape [{len(images)}], got {labels.shape}")
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
        raise ValueError("labels must fit in an unsigned byte")
    if not 0 <= n_train <= len(images):
        raise ValueError(f"n_train must be in [0, {len(images)}], got {n_train}")

    raw = os.path.join(str(root), "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for prefix, sl in (("train", slice(0, n_train)), ("t10k", slice(n_train, None))):
        _write_idx_images(os.path.join(raw, f"{prefix}-images-idx3-ubyte"), images[sl])
        _write_idx_labels(os.path.join(raw, f"{prefix}-labels-idx1-ubyte"), labels[sl])
    return raw
