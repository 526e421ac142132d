"""RGD, SGD_HWS and ALSO inside a real DomainBed, tested as DomainBed's own
``test/test_models.py`` tests its algorithms: built from DomainBed's registries with its
hparams and networks on its debug datasets of both sizes (Debug28, Debug224), beside
DomainBed's ERM; then DomainBed's ``train.py``, through our entry point, on a tiny
224x224 PACS tree.  The pretrained backbones read random weights saved locally
(``pretrained_weights.py``): nothing downloads.  Needs a DomainBed checkout on PYTHONPATH
with wilds and timm (skipped otherwise)."""
from __future__ import annotations

import importlib.util
import math
import subprocess
import sys

import pytest
import torch

from conftest import domainbed_env, read_records
from image_tree import make_image_tree
from pretrained_weights import write_random_pretrained_weights

MISSING = [m for m in ("domainbed", "wilds", "timm") if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"rgd_bench's algorithms inside DomainBed need a DomainBed checkout on PYTHONPATH "
                          f"and its dependencies; not importable here: {', '.join(MISSING)}")

OURS = ("RGD", "SGD_HWS", "ALSO")
NAMES = ("ERM", *OURS)  # DomainBed's own ERM beside ours
BATCH_SIZE = 2  # ResNet-50 at 224x224 on a few CPU cores
# DomainBed's hparams that choose the 224x224 backbone: what they build (features, the
# module of the network); resnet50_augmix is DomainBed's default, timm's resnet50.ram_in1k.
BACKBONES = {
    "resnet18": ({"resnet18": True, "resnet50_augmix": False}, 512, "torchvision.models.resnet"),
    "resnet50": ({"resnet50_augmix": False}, 2048, "torchvision.models.resnet"),
    "resnet50_augmix": ({}, 2048, "timm.models.resnet"),
}
OTHER_224_DATASETS = ("PACS", "VLCS", "OfficeHome", "TerraIncognita", "DomainNet")


@pytest.fixture(scope="session")
def offline_pretrained(tmp_path_factory):
    """Random weights where torchvision and timm look for pretrained ones, in this process
    and in the interpreters it starts."""
    env = write_random_pretrained_weights(tmp_path_factory.mktemp("pretrained"))
    import huggingface_hub.constants

    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        # huggingface_hub reads these at import, which timm has done already
        patch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", env["HF_HUB_CACHE"])
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield env


@pytest.fixture(scope="module")
def domainbed():
    from domainbed import algorithms, datasets, hparams_registry, networks

    from rgd_bench.integrations.into_domainbed import register

    register()
    return algorithms, datasets, hparams_registry, networks


class ReadKeys(dict):
    """Hparams that remember the keys read as ``hparams[key]``: those that must be there
    (``hparams.get(key, default)`` has its default)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def make_minibatches(dataset, batch_size):
    """DomainBed's ``test/helpers.make_minibatches``, on the CPU."""
    return [(torch.stack([env[i][0] for i in range(batch_size)]),
             torch.stack([torch.as_tensor(env[i][1]) for i in range(batch_size)])) for env in dataset]


def with_example_ids(minibatches, env_sizes):
    """Add the ids of make_minibatches' examples (each env's first ones), numbered
    environment after environment as ``bind_training_examples`` numbers them."""
    offsets = torch.tensor([0, *env_sizes]).cumsum(0)
    return [(x, y, offsets[e] + torch.arange(len(y))) for e, (x, y) in enumerate(minibatches)]


def init_update_predict(domainbed, name, dataset_name, overrides=None, updates=2):
    """DomainBed's test_init_update_predict: build, updates (ALSO's optimistic
    extrapolation starts at the second), predict in eval mode."""
    algorithms, datasets, hparams_registry, _ = domainbed
    hparams = ReadKeys(hparams_registry.default_hparams(name, dataset_name))
    hparams.update(overrides or {})
    torch.manual_seed(0)
    dataset = datasets.get_dataset_class(dataset_name)("", [], hparams)
    minibatches = make_minibatches(dataset, BATCH_SIZE)
    algorithm = algorithms.get_algorithm_class(name)(dataset.input_shape, dataset.num_classes, len(dataset), hparams)
    if name == "SGD_HWS":  # as any loop outside our train entry point: bound, ids passed
        with pytest.raises(RuntimeError, match="chooses its own training examples"):
            algorithm.update(minibatches)
        sizes = [len(env) for env in dataset]
        algorithm.bind_training_examples(sizes)
        minibatches = with_example_ids(minibatches, sizes)
    for _ in range(updates):
        values = algorithm.update(minibatches)
        assert values and all(math.isfinite(v) for v in values.values()), values
    algorithm.eval()
    assert list(algorithm.predict(minibatches[0][0]).shape) == [BATCH_SIZE, dataset.num_classes]
    return algorithm, hparams


@pytest.mark.parametrize("name", NAMES)
def test_init_update_predict_on_debug28(domainbed, name):
    algorithm, _ = init_update_predict(domainbed, name, "Debug28")
    assert type(algorithm.featurizer) is domainbed[3].MNIST_CNN


def _on_debug224(domainbed, name, backbone, updates):
    overrides, n_features, network_module = BACKBONES[backbone]
    algorithm, hparams = init_update_predict(domainbed, name, "Debug224", overrides, updates)
    featurizer = algorithm.featurizer
    assert type(featurizer) is domainbed[3].ResNet and featurizer.n_outputs == n_features
    assert type(featurizer.network).__module__ == network_module
    # Everything DomainBed's networks and the algorithm read at 224x224 is registered for
    # DomainBed's real 224x224 datasets too.
    hparams_registry = domainbed[2]
    for dataset_name in OTHER_224_DATASETS:
        assert hparams.read <= set(hparams_registry.default_hparams(name, dataset_name)), dataset_name


@pytest.mark.parametrize("name", NAMES)
def test_init_update_predict_on_debug224_resnet18(domainbed, offline_pretrained, name):
    _on_debug224(domainbed, name, "resnet18", updates=2)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["resnet50", "resnet50_augmix"])
@pytest.mark.parametrize("name", NAMES)
def test_init_update_predict_on_debug224_resnet50(domainbed, offline_pretrained, name, backbone):
    _on_debug224(domainbed, name, backbone, updates=1)  # ~10 s each on 2 CPU cores


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_ours_build_the_backbone_domainbeds_erm_builds(domainbed, offline_pretrained, backbone):
    algorithms, _, hparams_registry, _ = domainbed
    overrides = {**BACKBONES[backbone][0], "nonlinear_classifier": True, "resnet_dropout": 0.1}
    built = {}
    for name in NAMES:
        hparams = {**hparams_registry.default_hparams(name, "PACS"), **overrides}
        torch.manual_seed(0)
        built[name] = algorithms.get_algorithm_class(name)((3, 224, 224), 7, 3, hparams)
    erm = built.pop("ERM")
    for name, algorithm in built.items():
        assert repr(algorithm.network) == repr(erm.network), name  # same layers, dropout, classifier
        ours, theirs = algorithm.featurizer.state_dict(), erm.featurizer.state_dict()
        assert list(ours) == list(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours), name


@pytest.mark.parametrize("dataset_name", ["Debug28", "Debug224", *OTHER_224_DATASETS])
def test_registered_hparams_hold_domainbeds_erm_keys_and_ours(domainbed, dataset_name):
    from rgd_bench.registry import ALGORITHMS

    hparams_registry = domainbed[2]
    erm = set(hparams_registry.default_hparams("ERM", dataset_name))
    for name in OURS:
        expected = erm | set(ALGORITHMS.get(name).hparam_space(None))
        assert set(hparams_registry.default_hparams(name, dataset_name)) == expected, name
        assert set(hparams_registry.random_hparams(name, dataset_name, 12345)) == expected, name


# ---------------------------------------------------------------------------
# DomainBed's train.py on a 224x224 dataset, through our entry point
# ---------------------------------------------------------------------------

PACS_ENVS = ("art_painting", "cartoon", "photo", "sketch")
PACS_CLASSES = ("dog", "elephant", "giraffe", "guitar", "horse", "house", "person")


@pytest.fixture(scope="module")
def pacs_dir(tmp_path_factory):
    """``PACS/<env>/<class>/`` with one small image per class: each environment's
    training split (6 of 7) holds at least a batch, or DomainBed's loader waits forever."""
    data_dir = tmp_path_factory.mktemp("data")
    make_image_tree(data_dir / "PACS", PACS_ENVS, PACS_CLASSES, sizes=((40, 30),))
    return data_dir


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_domainbeds_train_runs_on_pacs(tmp_path, offline_pretrained, pacs_dir, name):
    out = tmp_path / "run"
    # resnet50_augmix (DomainBed's default) would replace the ResNet-18 by timm's ResNet-50
    hparams = '{"resnet18": true, "resnet50_augmix": false, "batch_size": 2}'
    argv = [sys.executable, "-m", "rgd_bench.integrations.into_domainbed", "train", "--algorithm", name,
            "--dataset", "PACS", "--data_dir", str(pacs_dir), "--test_envs", "0", "--hparams", hparams,
            "--steps", "2", "--checkpoint_freq", "1", "--skip_model_save", "--output_dir", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, env=domainbed_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    records = read_records(str(out))
    assert [r["step"] for r in records] == [0, 1] and (out / "done").exists()
    accuracies = [r[f"env{e}_{split}_acc"] for r in records for e in range(4) for split in ("in", "out")]
    assert all(math.isfinite(a) and 0 <= a <= 1 for a in accuracies)
    assert all(math.isfinite(r["loss"]) for r in records)
    assert records[0]["hparams"]["resnet18"] is True and records[0]["args"]["algorithm"] == name
