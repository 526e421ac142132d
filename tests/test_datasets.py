"""Datasets (ColoredMNIST, RotatedMNIST, SpuriousTabular, DomainBed image folders) and
the networks that read them."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from torchvision.transforms.functional import rotate

from image_tree import CLASSES, PACS_ENVS, make_image_tree
from mnist_files import write_torchvision_mnist
from rgd_bench import networks
from rgd_bench.datasets.images import DomainNet, PACS
from rgd_bench.datasets.mnist import (
    ColoredMNIST,
    ColoredMNIST5k,
    RotatedMNIST,
    RotatedMNIST5k,
    shipped_mnist_digits,
)
from rgd_bench.datasets.tabular import SpuriousTabular
from rgd_bench.errors import MissingDataError
from rgd_bench.registry import DATASETS

SEED = 0
N_DIGITS = 5000
COLOR_AGREEMENT = (0.9, 0.8, 0.1)  # P(colour == label) per ColoredMNIST environment
ROTATIONS = (0, 15, 30, 45, 60, 75)


def build(cls, root, seed=SEED, test_envs=(0,), hparams=None):
    torch.manual_seed(seed)
    return cls(root, list(test_envs), hparams or {})


def env_tensors(dataset):
    return [env.tensors for env in dataset.datasets]


def assert_same_envs(a, b):
    assert len(a.datasets) == len(b.datasets)
    for (xa, ya), (xb, yb) in zip(env_tensors(a), env_tensors(b)):
        assert xa.dtype == xb.dtype and ya.dtype == yb.dtype
        assert torch.equal(xa, xb)
        assert torch.equal(ya, yb)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def digits():
    images, labels = shipped_mnist_digits()
    return images, labels


@pytest.fixture(scope="module")
def shuffle():
    """The permutation MultipleEnvironmentMNIST draws right after torch.manual_seed(SEED)."""
    torch.manual_seed(SEED)
    return torch.randperm(N_DIGITS)


@pytest.fixture(scope="module")
def colored5k():
    return build(ColoredMNIST5k, None)


@pytest.fixture(scope="module")
def rotated5k():
    return build(RotatedMNIST5k, None)


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory, digits):
    """The 5,000 shipped digits as torchvision's files: 4,000 train + 1,000 t10k."""
    root = tmp_path_factory.mktemp("mnist")
    images, labels = digits
    write_torchvision_mnist(root, images, labels, n_train=4000)
    return str(root)


# --------------------------------------------------------------------------- MNIST files


def test_written_files_read_back_by_torchvision(mnist_root, digits):
    images, labels = digits
    train = torchvision.datasets.MNIST(mnist_root, train=True, download=False)
    test = torchvision.datasets.MNIST(mnist_root, train=False, download=False)
    assert len(train) == 4000 and len(test) == 1000
    assert torch.equal(train.data, images[:4000]) and torch.equal(train.targets, labels[:4000])
    assert torch.equal(test.data, images[4000:]) and torch.equal(test.targets, labels[4000:])
    raw = os.path.join(mnist_root, "MNIST", "raw")
    with open(os.path.join(raw, "train-images-idx3-ubyte"), "rb") as f:
        header = np.frombuffer(f.read(16), dtype=">u4")
    assert header.tolist() == [2051, 4000, 28, 28]
    with open(os.path.join(raw, "t10k-labels-idx1-ubyte"), "rb") as f:
        header = np.frombuffer(f.read(8), dtype=">u4")
    assert header.tolist() == [2049, 1000]


# --------------------------------------------------------------------------- ColoredMNIST


def test_shipped_digits(digits):
    images, labels = digits
    assert images.shape == (N_DIGITS, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels, minlength=10).tolist() == [500] * 10
    assert images.flatten(1).amax(1).min() > 0  # no blank digit


def test_colored_mnist_shape_and_sizes(colored5k):
    assert len(colored5k) == 3 == len(ColoredMNIST5k.ENVIRONMENTS)
    assert colored5k.input_shape == (2, 28, 28) and colored5k.num_classes == 2
    sizes = [len(env) for env in colored5k.datasets]
    assert sizes == [1667, 1667, 1666] and sum(sizes) == N_DIGITS
    for x, y in env_tensors(colored5k):
        assert x.shape == (len(y), 2, 28, 28) and x.dtype == torch.float32
        assert y.dtype == torch.long and set(y.unique().tolist()) == {0, 1}
        assert x.min() >= 0 and x.max() <= 1 and x.max() == 1


def test_colored_mnist_colours_labels_and_noise(colored5k, digits, shuffle):
    images, digit_labels = digits[0][shuffle], digits[1][shuffle]
    total_flipped = 0
    for i, (x, y) in enumerate(env_tensors(colored5k)):
        env_images = images[i::3].float() / 255
        env_digits = digit_labels[i::3]
        nonzero = x.flatten(2).amax(2) > 0  # [n, 2]: which channels hold ink
        assert (nonzero.sum(1) == 1).all(), "exactly one colour channel per image"
        colour = nonzero[:, 1].long()  # channel 1 -> colour 1
        rows = torch.arange(len(x))
        # The coloured channel is the digit itself, the other channel is all zero.
        assert torch.equal(x[rows, colour], env_images)
        assert (x[rows, 1 - colour] == 0).all()
        flipped = (y != (env_digits < 5).long()).float()
        assert abs(flipped.mean().item() - 0.25) < 0.05, f"env {i}: label noise {flipped.mean():.3f}"
        total_flipped += flipped.sum().item()
        agreement = (colour == y).float().mean().item()
        assert abs(agreement - COLOR_AGREEMENT[i]) < 0.04, f"env {i}: colour agreement {agreement:.3f}"
    assert abs(total_flipped / N_DIGITS - 0.25) < 0.03


def test_colored_mnist_deterministic_given_seed(colored5k):
    assert_same_envs(build(ColoredMNIST5k, None, seed=SEED), colored5k)
    other = build(ColoredMNIST5k, None, seed=SEED + 1)
    for (xa, ya), (xb, yb) in zip(env_tensors(other), env_tensors(colored5k)):
        assert not torch.equal(xa, xb)
        assert not torch.equal(ya, yb)


def test_colored_mnist_from_files_equals_5k(mnist_root, colored5k):
    from_files = build(ColoredMNIST, mnist_root)
    assert from_files.input_shape == (2, 28, 28) and from_files.num_classes == 2
    assert_same_envs(from_files, colored5k)


def test_rotated_mnist_from_files_equals_5k(mnist_root, rotated5k):
    from_files = build(RotatedMNIST, mnist_root)
    assert from_files.input_shape == (1, 28, 28) and from_files.num_classes == 10
    assert_same_envs(from_files, rotated5k)


def _domainbed_datasets():
    try:
        import domainbed.datasets as domainbed_datasets
    except ImportError as error:
        pytest.skip(
            f"DomainBed is not importable ({error}); run with PYTHONPATH=<DomainBed checkout> "
            f"and its dependencies (wilds, timm) installed to compare against it"
        )
    return domainbed_datasets


def test_colored_mnist_matches_domainbed(mnist_root, colored5k):
    domainbed_datasets = _domainbed_datasets()
    theirs = build(domainbed_datasets.ColoredMNIST, mnist_root)
    assert_same_envs(theirs, colored5k)
    assert tuple(theirs.input_shape) == colored5k.input_shape
    assert theirs.num_classes == colored5k.num_classes
    assert list(theirs.ENVIRONMENTS) == list(ColoredMNIST.ENVIRONMENTS)


def test_rotated_mnist_matches_domainbed(mnist_root, rotated5k):
    domainbed_datasets = _domainbed_datasets()
    theirs = build(domainbed_datasets.RotatedMNIST, mnist_root)
    assert_same_envs(theirs, rotated5k)
    assert list(theirs.ENVIRONMENTS) == list(RotatedMNIST.ENVIRONMENTS)


@pytest.mark.parametrize("cls", [ColoredMNIST, RotatedMNIST])
def test_mnist_without_root_is_missing_data(cls):
    with pytest.raises(MissingDataError) as info:
        cls(None, [0], {})
    message = str(info.value)
    assert "--data_dir" in message
    assert f"{cls.__name__}5k" in message
    assert "download=True" in message  # how to obtain the files


@pytest.mark.parametrize("cls", [ColoredMNIST, RotatedMNIST])
def test_mnist_empty_directory_is_missing_data(cls, tmp_path):
    with pytest.raises(MissingDataError) as info:
        cls(str(tmp_path), [0], {})
    message = str(info.value)
    assert os.path.join(str(tmp_path), "MNIST", "raw") in message
    assert f"{cls.__name__}5k" in message
    assert "torchvision.datasets.MNIST" in message and "download=True" in message
    assert not os.listdir(tmp_path), "nothing may be downloaded or created"


def test_mnist_5k_needs_no_data_dir():
    assert ColoredMNIST5k.NEEDS_DATA_DIR is False and RotatedMNIST5k.NEEDS_DATA_DIR is False
    assert ColoredMNIST.NEEDS_DATA_DIR is True and RotatedMNIST.NEEDS_DATA_DIR is True
    for name in ("ColoredMNIST", "ColoredMNIST5k", "RotatedMNIST", "RotatedMNIST5k"):
        assert name in DATASETS


# --------------------------------------------------------------------------- RotatedMNIST


def test_rotated_mnist_environments(rotated5k, digits, shuffle):
    images, labels = digits[0][shuffle], digits[1][shuffle]
    assert len(rotated5k) == 6 == len(RotatedMNIST5k.ENVIRONMENTS)
    assert rotated5k.input_shape == (1, 28, 28) and rotated5k.num_classes == 10
    sizes = [len(env) for env in rotated5k.datasets]
    assert sizes == [834, 834, 833, 833, 833, 833] and sum(sizes) == N_DIGITS
    for i, (x, y) in enumerate(env_tensors(rotated5k)):
        unrotated = (images[i::6].float() / 255).unsqueeze(1)
        assert x.shape == unrotated.shape and x.dtype == torch.float32
        assert x.min() >= 0 and x.max() <= 1
        assert torch.equal(y, labels[i::6])
        if ROTATIONS[i] == 0:
            assert torch.equal(x, unrotated)
            continue
        assert not torch.equal(x, unrotated)
        # Counter-clockwise by the environment's angle: close to torchvision's tensor
        # rotation by +angle, far from the unrotated digit and from -angle.
        err = (x - rotate(unrotated, ROTATIONS[i], interpolation=InterpolationMode.BILINEAR)).abs().mean()
        wrong_way = (x - rotate(unrotated, -ROTATIONS[i], interpolation=InterpolationMode.BILINEAR)).abs().mean()
        assert err < 0.005, f"{ROTATIONS[i]} degrees: {err:.4f}"
        assert wrong_way > 0.05 and (x - unrotated).abs().mean() > 0.05


# --------------------------------------------------------------------------- SpuriousTabular


@pytest.fixture(scope="module")
def tabular():
    return build(SpuriousTabular, None, seed=123)


def test_tabular_shape_and_independent_of_global_seed(tabular):
    assert len(tabular) == 3
    assert tabular.input_shape == (10,) and tabular.num_classes == 2
    for x, y in env_tensors(tabular):
        assert x.shape == (1000, 10) and x.dtype == torch.float32
        assert 0.4 < y.float().mean() < 0.6
    other = build(SpuriousTabular, None, seed=456)
    assert_same_envs(other, tabular)
    # ... and the environments differ from each other.
    assert not torch.equal(tabular[0].tensors[0], tabular[1].tensors[0])


def test_tabular_spurious_agreement(tabular):
    for i, (x, y) in enumerate(env_tensors(tabular)):
        sign = 2 * y - 1
        for column in (2, 3):
            agreement = (torch.sign(x[:, column]).long() == sign).float().mean().item()
            expected = SpuriousTabular.SPURIOUS_AGREEMENT[i]
            assert abs(agreement - expected) < 0.04, f"env {i} column {column}: {agreement:.3f}"


def test_tabular_core_features_predict_in_every_env(tabular):
    from sklearn.linear_model import LogisticRegression

    envs = [(x.numpy(), y.numpy()) for x, y in env_tensors(tabular)]
    train_x = np.concatenate([envs[0][0], envs[1][0]])
    train_y = np.concatenate([envs[0][1], envs[1][1]])
    core = LogisticRegression().fit(train_x[:, :2], train_y)
    spurious = LogisticRegression().fit(train_x[:, 2:4], train_y)
    for i, (x, y) in enumerate(envs):
        assert core.score(x[:, :2], y) > 0.7, f"env {i}"
    # The spurious features win where they agree and fail where they flip.
    assert spurious.score(envs[0][0][:, 2:4], envs[0][1]) > 0.85
    assert spurious.score(envs[2][0][:, 2:4], envs[2][1]) < 0.2


# --------------------------------------------------------------------------- image folders

@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    make_image_tree(os.path.join(root, "PACS"), PACS_ENVS)
    return str(root)


def expected_eval_tensor(path):
    transform = transforms.Compose([
        transforms.Resize((224, 224)),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    with Image.open(path) as image:
        return transform(image.convert("RGB"))


def item_with_seed(env, index, seed):
    torch.manual_seed(seed)
    return env[index][0]


def test_pacs_loads_environments(image_root):
    dataset = PACS(image_root, [0], {"data_augmentation": True})
    assert len(dataset) == 4
    assert dataset.input_shape == (3, 224, 224) and dataset.num_classes == 2
    for env_name, env in zip(PACS_ENVS, dataset.datasets):
        assert os.path.basename(env.root) == env_name  # environments in sorted order
        assert env.classes == list(CLASSES)
        assert len(env) == 6
        x, y = env[4]
        assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (3, 224, 224)
        assert y == 1  # items 3..5 are horses
    # The test environment uses the deterministic eval transform.
    test_env = dataset.datasets[0]
    for index in range(len(test_env)):
        path = test_env.samples[index][0]
        first = item_with_seed(test_env, index, 0)
        assert torch.equal(first, item_with_seed(test_env, index, 1))
        assert torch.allclose(first, expected_eval_tensor(path), atol=1e-6)


def test_pacs_augments_training_environments_only(image_root):
    augmented = PACS(image_root, [1], {"data_augmentation": True})
    train_env, test_env = augmented.datasets[0], augmented.datasets[1]
    assert not torch.equal(item_with_seed(train_env, 0, 0), item_with_seed(train_env, 0, 1))
    assert torch.equal(item_with_seed(train_env, 0, 0), item_with_seed(train_env, 0, 0))
    assert torch.equal(item_with_seed(test_env, 0, 0), item_with_seed(test_env, 0, 1))

    plain = PACS(image_root, [1], {"data_augmentation": False})
    for env in plain.datasets:
        path = env.samples[2][0]
        a, b = item_with_seed(env, 2, 0), item_with_seed(env, 2, 1)
        assert torch.equal(a, b)
        assert torch.allclose(a, expected_eval_tensor(path), atol=1e-6)


def test_pacs_missing_directory(tmp_path):
    with pytest.raises(MissingDataError) as info:
        PACS(str(tmp_path), [0], {"data_augmentation": False})
    message = str(info.value)
    assert os.path.join(str(tmp_path), "PACS") in message
    assert "domainbed.scripts.download" in message
    with pytest.raises(MissingDataError, match="--data_dir"):
        PACS(None, [0], {"data_augmentation": False})


def test_pacs_wrong_number_of_environments(tmp_path):
    make_image_tree(os.path.join(tmp_path, "PACS"), PACS_ENVS[:3])
    with pytest.raises(MissingDataError) as info:
        PACS(str(tmp_path), [0], {"data_augmentation": False})
    message = str(info.value)
    assert "3 environment folders" in message and "PACS has 4" in message
    assert "domainbed.scripts.download" in message


def test_domain_net_folder_and_profile(tmp_path):
    assert DATASETS.get("DomainNet") is DomainNet
    assert DomainNet.DATASET_DIR == "domain_net" and DomainNet.HPARAM_PROFILE == "domainnet"
    assert PACS.HPARAM_PROFILE == "large"
    envs = DomainNet.ENVIRONMENTS
    make_image_tree(os.path.join(tmp_path, "domain_net"), envs, classes=("a", "b", "c"))
    dataset = DomainNet(str(tmp_path), [0], {"data_augmentation": False})
    assert len(dataset) == 6 and dataset.num_classes == 3
    assert [os.path.basename(env.root) for env in dataset.datasets] == sorted(envs)
    # Under any other folder name it is missing.
    with pytest.raises(MissingDataError, match="domain_net"):
        DomainNet(str(tmp_path / "elsewhere"), [0], {"data_augmentation": False})


def test_image_dataset_hparams():
    space = PACS.hparam_space()
    for name in ("data_augmentation", "resnet18", "pretrained", "resnet_dropout", "freeze_bn"):
        assert name in space
    assert space["data_augmentation"].default is True


# --------------------------------------------------------------------------- networks

MLP_HPARAMS = {"mlp_width": 32, "mlp_depth": 3, "mlp_dropout": 0.0}
RESNET_HPARAMS = {"resnet18": True, "pretrained": False, "resnet_dropout": 0.0, "freeze_bn": False}


def test_featurizer_picks_mlp_and_cnn():
    mlp = networks.Featurizer((10,), MLP_HPARAMS)
    assert isinstance(mlp, networks.MLP) and mlp.n_outputs == 32
    assert len(mlp.hiddens) == 1
    assert mlp(torch.randn(5, 10)).shape == (5, 32)

    cnn = networks.Featurizer([2, 28, 28], MLP_HPARAMS)
    assert isinstance(cnn, networks.MNIST_CNN) and cnn.n_outputs == 128
    assert cnn.conv1.in_channels == 2
    assert cnn(torch.rand(3, 2, 28, 28)).shape == (3, 128)

    with pytest.raises(ValueError, match="No featurizer"):
        networks.Featurizer((3, 32, 32), MLP_HPARAMS)


def test_images_may_take_an_mlp_on_their_pixels():
    flat = networks.Featurizer((1, 28, 28), {**MLP_HPARAMS, "featurizer": "mlp"})
    assert isinstance(flat, networks.FlatMLP) and flat.input.in_features == 784
    assert flat(torch.rand(3, 1, 28, 28)).shape == (3, 32)
    assert DATASETS.get("ColoredMNIST5k").hparam_space()["featurizer"].default == "cnn"  # DomainBed's by default


def test_imbalanced_mnist_keeps_the_rare_digit_at_its_share():
    from rgd_bench.datasets.imbalanced_mnist import ImbalancedMNIST, ImbalancedMNIST10

    one, ten = build(ImbalancedMNIST, None, test_envs=(1, 2)), build(ImbalancedMNIST10, None, test_envs=(1, 2))
    for dataset, kept in ((one, 4), (ten, 40)):
        train, threes, others = (env.tensors[1] for env in dataset.datasets)
        counts = torch.bincount(train, minlength=10)
        assert counts[3] == kept and all(counts[d] == 400 for d in range(10) if d != 3)
        assert (threes == 3).all() and len(threes) == 460
        assert (others != 3).all() and len(others) == 900
        assert dataset.datasets[0].tensors[0].shape[1:] == (1, 28, 28)
        assert 0.0 <= float(dataset.datasets[0].tensors[0].min()) and float(dataset.datasets[0].tensors[0].max()) <= 1.0
    # the test sets are the same digits in both, and no training digit is tested on
    assert torch.equal(one.datasets[1].tensors[0], ten.datasets[1].tensors[0])
    train_set = {bytes(x.numpy()) for x in one.datasets[0].tensors[0]}
    assert not train_set & {bytes(x.numpy()) for x in one.datasets[2].tensors[0]}


@pytest.mark.parametrize("name, features, classes, size", [
    ("BreastCancer", 30, 2, 569), ("Wine", 13, 3, 178), ("Digits8x8", 64, 10, 1797)])
def test_sklearn_tabular_sets(name, features, classes, size):
    dataset = build(DATASETS.get(name), None, test_envs=(1,))
    train, test = dataset.datasets
    assert len(train) + len(test) == size and len(test) == pytest.approx(0.3 * size, abs=1)
    assert dataset.input_shape == (features,) and dataset.num_classes == classes
    assert torch.allclose(train.tensors[0].mean(0), torch.zeros(features), atol=1e-4)  # standardised on train
    # stratified: every class in both
    assert set(train.tensors[1].tolist()) == set(test.tensors[1].tolist()) == set(range(classes))


def test_fixed_test_environments_plan_one_job_per_configuration():
    from rgd_bench.sweep.plan import SweepSpec, plan_jobs

    spec = SweepSpec(datasets=["ImbalancedMNIST", "Wine", "SpuriousTabular"], algorithms=["ERM"],
                     output_dir="/tmp/x", n_hparams=1, n_trials=1, single_test_envs=True)
    assert sorted(str(job.train_args["test_envs"]) for job in plan_jobs(spec)) == [
        "[0]", "[1, 2]", "[1]", "[1]", "[2]"]


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.delenv("TORCH_HUB", raising=False)
    assert torch.hub.get_dir() == os.path.join(str(home), "hub")
    return home


def resnet18_cache_path():
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def test_featurizer_picks_resnet(empty_torch_home):
    torch.manual_seed(0)
    resnet = networks.Featurizer((3, 224, 224), RESNET_HPARAMS)
    assert isinstance(resnet, networks.ResNet) and resnet.n_outputs == 512
    resnet.eval()
    with torch.no_grad():
        assert resnet(torch.randn(2, 3, 224, 224)).shape == (2, 512)
    two_channel = networks.ResNet((2, 224, 224), RESNET_HPARAMS)
    assert two_channel.network.conv1.weight.shape == (64, 2, 7, 7)
    assert not os.listdir(empty_torch_home), "random init must not touch the cache"


def test_pretrained_resnet_missing_weights(empty_torch_home):
    with pytest.raises(MissingDataError) as info:
        networks.ResNet((3, 224, 224), {**RESNET_HPARAMS, "pretrained": True})
    message = str(info.value)
    assert "pretrained" in message
    assert resnet18_cache_path() in message
    assert not os.path.exists(resnet18_cache_path()), "nothing may be downloaded"


def test_pretrained_resnet_loads_cached_weights(empty_torch_home):
    torch.manual_seed(1)
    saved = torchvision.models.resnet18(weights=None).state_dict()
    path = resnet18_cache_path()
    os.makedirs(os.path.dirname(path))
    torch.save(saved, path)

    torch.manual_seed(2)  # a different random init, overwritten by the cached weights
    model = networks.ResNet((3, 224, 224), {**RESNET_HPARAMS, "pretrained": True})
    loaded = model.network.state_dict()
    assert set(loaded) == {k for k in saved if not k.startswith("fc.")}
    for key, value in loaded.items():
        assert torch.equal(value, saved[key]), key

    # With two channels the first convolution reuses the cached RGB filters.
    two_channel = networks.ResNet((2, 224, 224), {**RESNET_HPARAMS, "pretrained": True})
    conv1 = two_channel.network.conv1.weight
    assert torch.equal(conv1[:, 0], saved["conv1.weight"][:, 0])
    assert torch.equal(conv1[:, 1], saved["conv1.weight"][:, 1])
    assert torch.equal(two_channel.network.layer1[0].conv1.weight, saved["layer1.0.conv1.weight"])


def batchnorms(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_resnet_freeze_bn(empty_torch_home):
    x = torch.randn(2, 3, 64, 64)
    frozen = networks.ResNet((3, 224, 224), {**RESNET_HPARAMS, "freeze_bn": True, "resnet_dropout": 0.5})
    frozen.train()
    assert frozen.training and frozen.dropout.training
    assert batchnorms(frozen) and all(not bn.training for bn in batchnorms(frozen))
    before = frozen.network.bn1.running_mean.clone()
    frozen(x)
    assert torch.equal(frozen.network.bn1.running_mean, before)

    free = networks.ResNet((3, 224, 224), RESNET_HPARAMS)
    free.train()
    assert all(bn.training for bn in batchnorms(free))
    before = free.network.bn1.running_mean.clone()
    free(x)
    assert not torch.equal(free.network.bn1.running_mean, before)
