"""Tiny image trees in DomainBed's on-disk layout, for tests of the image datasets."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

PACS_ENVS = ("A", "C", "P", "S")
CLASSES = ("dog", "horse")
SIZES = ((40, 30), (25, 60), (64, 64))


def make_image_tree(base, envs, classes=CLASSES, seed=0, sizes=SIZES):
    """``base/<env>/<class>/<k>.png``: random RGB images of the given (width, height)s."""
    rng = np.random.RandomState(seed)
    for env in envs:
        for cls in classes:
            folder = os.path.join(base, env, cls)
            os.makedirs(folder)
            for k, (w, h) in enumerate(sizes):
                pixels = rng.randint(0, 256, size=(h, w, 3), dtype=np.uint8)
                Image.fromarray(pixels, "RGB").save(os.path.join(folder, f"{k}.png"))
