"""A tiny on-disk copy of WILDS's Waterbirds (24 random 40 x 30 images) in WILDS's layout."""
from __future__ import annotations

import torch


def write_tiny_waterbirds(data_dir) -> str:
    """Write ``<data_dir>/waterbirds_v1.0``: labels, places and splits cycle so that every split
    holds both labels and both places; return ``data_dir`` as a string."""
    from PIL import Image

    root = data_dir / "waterbirds_v1.0"
    root.mkdir(parents=True)
    (root / "RELEASE_v1.0.txt").write_text("")
    rows = ["img_id,img_filename,y,split,place"]
    generator = torch.Generator().manual_seed(0)
    for i in range(24):
        y, place, split = i % 2, (i // 2) % 2, [0, 0, 0, 1, 1, 2][i % 6] if i < 18 else i % 3
        pixels = (torch.rand(40, 30, 3, generator=generator) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(root / f"{i}.jpg")
        rows.append(f"{i + 1},{i}.jpg,{y},{split},{place}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return str(data_dir)
