"""WILDS's image transforms (``examples/transforms.py`` of WILDS 2.0.0), without its
text tokenizers: the examples folder is not a package, and its module imports
``transformers`` at the top."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass(frozen=True)
class ImageTransform:
    """``kind``: WILDS's ``image_base``, ``image_resize_and_center_crop`` or ``rxrx1``."""

    kind: str
    original_resolution: tuple[int, int] | None
    target_resolution: tuple[int, int] | None = None
    resize_scale: float | None = None

    @property
    def output_resolution(self) -> tuple[int, int]:
        if self.target_resolution is not None:
            return self.target_resolution
        height, width = self.original_resolution
        side = min(height, width)  # image_base centre-crops non-square images to a square
        return (side, side)

    def build(self, is_training: bool):
        if self.kind == "rxrx1":
            return _rxrx1(is_training)
        steps = []
        if self.kind == "image_base":
            if self.original_resolution and min(self.original_resolution) != max(self.original_resolution):
                steps.append(T.CenterCrop(min(self.original_resolution)))
            if self.target_resolution is not None:
                steps.append(T.Resize(self.target_resolution))
        elif self.kind == "image_resize_and_center_crop":
            scaled = tuple(int(r * self.resize_scale) for r in self.original_resolution)
            steps += [T.Resize(scaled), T.CenterCrop(self.target_resolution or self.original_resolution)]
        else:
            raise ValueError(f"Unknown WILDS image transform {self.kind!r}.")
        return T.Compose(steps + [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def _standardize(x: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel standardization (RxRx1)."""
    mean, std = x.mean(dim=(1, 2)), x.std(dim=(1, 2))
    std[std == 0.0] = 1.0
    return TF.normalize(x, mean, std)


def _random_right_angle_rotation(x):
    angle = [0, 90, 180, 270][int(torch.randint(0, 4, (1,)))]
    return TF.rotate(x, angle) if angle else x


def _rxrx1(is_training: bool):
    steps = [T.Lambda(_random_right_angle_rotation), T.RandomHorizontalFlip()] if is_training else []
    return T.Compose(steps + [T.ToTensor(), T.Lambda(_standardize)])
