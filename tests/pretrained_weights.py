"""Random weights put where torchvision and timm look for their pretrained ones, so that
DomainBed's ResNets build offline and nothing downloads.

- torchvision's ``resnet18(pretrained=True)`` / ``resnet50(pretrained=True)`` read
  ``$TORCH_HOME/hub/checkpoints/<file name of the weights' url>`` (a cached file is not
  hash-checked);
- timm's ``resnet50.ram_in1k`` (DomainBed's ``resnet50_augmix``) reads the Hugging Face
  cache: ``models--timm--resnet50.ram_in1k/snapshots/<refs/main>/model.safetensors``,
  without asking the hub when ``HF_HUB_OFFLINE=1``.
"""
from __future__ import annotations

import os

import torch

FAKE_COMMIT = "0" * 40  # the snapshot that the cache's refs/main names


def write_random_pretrained_weights(root) -> dict[str, str]:
    """Write them under ``root``; return the environment that points the libraries there."""
    import safetensors.torch
    import timm
    import torchvision

    torch_home = os.path.join(root, "torch")
    checkpoints = os.path.join(torch_home, "hub", "checkpoints")
    os.makedirs(checkpoints)
    for arch, weights in (("resnet18", torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
                          ("resnet50", torchvision.models.ResNet50_Weights.IMAGENET1K_V1)):
        state = getattr(torchvision.models, arch)().state_dict()
        torch.save(state, os.path.join(checkpoints, os.path.basename(weights.url)))

    hf_cache = os.path.join(root, "huggingface", "hub")
    repo = os.path.join(hf_cache, "models--timm--resnet50.ram_in1k")
    os.makedirs(os.path.join(repo, "refs"))
    os.makedirs(os.path.join(repo, "snapshots", FAKE_COMMIT))
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(FAKE_COMMIT)
    state = timm.create_model("resnet50.ram_in1k", pretrained=False).state_dict()
    safetensors.torch.save_file(state, os.path.join(repo, "snapshots", FAKE_COMMIT, "model.safetensors"))
    return {"TORCH_HOME": torch_home, "HF_HUB_CACHE": hf_cache, "HF_HUB_OFFLINE": "1"}
