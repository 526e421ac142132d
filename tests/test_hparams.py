"""Hyperparameter spaces: DomainBed's seeds, defaults and draws; overrides and their errors."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from rgd_bench.algorithms.erm import ERM
from rgd_bench.algorithms.groupdro import GroupDRO
from rgd_bench.datasets.base import MultipleDomainDataset
from rgd_bench.datasets.images import PACS, DomainNet, OfficeHome
from rgd_bench.datasets.mnist import ColoredMNIST, ColoredMNIST5k
from rgd_bench.datasets.tabular import SpuriousTabular
from rgd_bench.values import POSITIVE
from rgd_bench.hparams import (HParam, build_space, check_overrides, default_hparams,
                               parse_overrides, random_hparams, resolve_hparams, seed_hash)


def md5_seed(*args) -> int:
    """DomainBed's misc.seed_hash, written out independently."""
    return int(hashlib.md5(str(args).encode("utf-8")).hexdigest(), 16) % 2**31


def rng(*args) -> np.random.RandomState:
    return np.random.RandomState(md5_seed(*args))


# ---------------------------------------------------------------------------
# seed_hash
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(0,), (3, 1), (1, 0), (7, 2, "lr"), ("ERM", "ColoredMNIST", 0),
                                  (123456789, "batch_size"), ()])
def test_seed_hash_is_domainbeds(args):
    assert seed_hash(*args) == md5_seed(*args)
    assert 0 <= seed_hash(*args) < 2**31
    assert type(seed_hash(*args)) is int


def test_seed_hash_known_values():
    # Computed once with DomainBed's domainbed.lib.misc.seed_hash.
    assert seed_hash(0) == 1003224347
    assert seed_hash(3, 1) == 1603725249
    assert seed_hash(1, 0) == 785910682
    assert seed_hash(1603725249, "lr") == 477362136


def test_seed_hash_depends_on_order_and_type():
    assert seed_hash(3, 1) != seed_hash(1, 3)
    assert seed_hash(1) != seed_hash("1")


# ---------------------------------------------------------------------------
# Defaults (hparams_seed 0)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dataset_cls", [SpuriousTabular, ColoredMNIST5k, ColoredMNIST])
def test_small_profile_defaults(dataset_cls):
    hparams = resolve_hparams(ERM, dataset_cls, 0, 0)
    assert hparams["lr"] == 1e-3
    assert hparams["batch_size"] == 64
    assert hparams["weight_decay"] == 0.0
    assert hparams["class_balanced"] is False and hparams["nonlinear_classifier"] is False
    assert "groupdro_eta" not in hparams


def test_defaults_do_not_depend_on_trial_seed():
    assert resolve_hparams(GroupDRO, SpuriousTabular, 0, 0) == resolve_hparams(GroupDRO, SpuriousTabular, 0, 5)


def test_groupdro_default_eta():
    hparams = resolve_hparams(GroupDRO, ColoredMNIST5k, 0, 0)
    assert hparams["groupdro_eta"] == 1e-2
    assert hparams["lr"] == 1e-3  # GroupDRO inherits ERM's (empty) space plus its own
    assert set(hparams) == set(resolve_hparams(ERM, ColoredMNIST5k, 0, 0)) | {"groupdro_eta"}


def test_spurious_tabular_dataset_defaults():
    hparams = resolve_hparams(ERM, SpuriousTabular, 0, 0)
    assert (hparams["mlp_width"], hparams["mlp_depth"], hparams["mlp_dropout"]) == (64, 3, 0.0)


@pytest.mark.parametrize("dataset_cls", [PACS, OfficeHome])
def test_large_profile_defaults(dataset_cls):
    hparams = resolve_hparams(ERM, dataset_cls, 0, 0)
    assert hparams["lr"] == 5e-5
    assert hparams["batch_size"] == 32
    assert hparams["weight_decay"] == 0.0
    assert hparams["data_augmentation"] is True and hparams["resnet18"] is False
    assert hparams["resnet_dropout"] == 0.0


def test_large_profile_draws_in_domainbed_ranges():
    for seed in range(1, 30):
        hparams = resolve_hparams(ERM, PACS, seed, 0)
        assert 10**-5 <= hparams["lr"] <= 10**-3.5
        assert 10**-6 <= hparams["weight_decay"] <= 10**-2
        assert 8 <= hparams["batch_size"] <= int(2**5.5)
        assert hparams["resnet_dropout"] in (0.0, 0.1, 0.5)


def test_domainnet_batch_range():
    assert resolve_hparams(ERM, DomainNet, 0, 0)["batch_size"] == 32
    sizes = {resolve_hparams(ERM, DomainNet, seed, 0)["batch_size"] for seed in range(1, 60)}
    assert min(sizes) >= 8 and max(sizes) <= 31  # int(2 ** uniform(3, 5)) < 32
    for seed in range(1, 20):
        expected = int(2 ** rng(md5_seed(seed, 0), "batch_size").uniform(3, 5))
        assert resolve_hparams(ERM, DomainNet, seed, 0)["batch_size"] == expected
    # PACS draws the same stream over a wider range: some seed must exceed DomainNet's cap.
    assert max(resolve_hparams(ERM, PACS, seed, 0)["batch_size"] for seed in range(1, 60)) > 32


# ---------------------------------------------------------------------------
# Random draws
# ---------------------------------------------------------------------------


def test_random_draws_follow_domainbeds_recipe():
    hparams = resolve_hparams(GroupDRO, SpuriousTabular, 3, 1)
    seed = md5_seed(3, 1)
    assert hparams["lr"] == 10 ** rng(seed, "lr").uniform(-4.5, -2.5)
    assert hparams["batch_size"] == int(2 ** rng(seed, "batch_size").uniform(3, 9))
    assert hparams["groupdro_eta"] == 10 ** rng(seed, "groupdro_eta").uniform(-3, -1)
    assert hparams["mlp_width"] == int(2 ** rng(seed, "mlp_width").uniform(5, 8))
    assert hparams["mlp_depth"] == int(rng(seed, "mlp_depth").choice([2, 3, 4]))
    assert hparams["weight_decay"] == 0.0
    assert hparams["lr"] != 1e-3 and hparams["batch_size"] != 64  # not the defaults


def test_random_values_are_python_types():
    for seed in range(1, 6):
        for dataset_cls in (SpuriousTabular, PACS):
            hparams = resolve_hparams(GroupDRO, dataset_cls, seed, 1)
            for name, value in hparams.items():
                assert not isinstance(value, np.generic), (name, type(value))
            assert type(hparams["lr"]) is float
            assert type(hparams["weight_decay"]) is float
            assert type(hparams["batch_size"]) is int
            assert type(hparams["class_balanced"]) is bool
            assert type(hparams["nonlinear_classifier"]) is bool
            assert type(hparams["groupdro_eta"]) is float
    drawn = resolve_hparams(ERM, PACS, 4, 0)
    assert type(drawn["resnet_dropout"]) is float and type(drawn["data_augmentation"]) is bool


def test_numpy_scalars_from_a_sampler_become_python_values():
    space = {"f": HParam(0.5, lambda r: r.choice([0.25, 0.75])),   # numpy float64
             "i": HParam(2, lambda r: r.choice([1, 2, 3])),        # numpy int64
             "b": HParam(False, lambda r: r.choice([True, False]))}  # numpy bool_
    drawn = random_hparams(space, 11)
    assert (type(drawn["f"]), type(drawn["i"]), type(drawn["b"])) == (float, int, bool)
    assert drawn["f"] == rng(11, "f").choice([0.25, 0.75])


def test_adding_a_hyperparameter_never_changes_the_others():
    space = build_space(GroupDRO, SpuriousTabular)
    before = random_hparams(space, 12345)
    bigger = {"a_new_one": HParam(1.0, lambda r: r.uniform(0, 100)), **space,
              "zz_another": HParam(7, lambda r: int(r.randint(0, 1000)))}
    after = random_hparams(bigger, 12345)
    assert {k: after[k] for k in before} == before
    assert set(after) == set(before) | {"a_new_one", "zz_another"}
    # Removing one does not change the others either.
    smaller = {k: v for k, v in space.items() if k != "lr"}
    assert random_hparams(smaller, 12345) == {k: v for k, v in before.items() if k != "lr"}


def test_draws_are_reproducible_and_depend_on_both_seeds():
    a = resolve_hparams(ERM, SpuriousTabular, 3, 1)
    assert a == resolve_hparams(ERM, SpuriousTabular, 3, 1)
    other_trial = resolve_hparams(ERM, SpuriousTabular, 3, 2)
    other_hseed = resolve_hparams(ERM, SpuriousTabular, 4, 1)
    for other in (other_trial, other_hseed):
        assert other["lr"] != a["lr"]
        assert other != a
    lrs = {resolve_hparams(ERM, SpuriousTabular, 3, trial)["lr"] for trial in range(10)}
    assert len(lrs) == 10
    assert all(10**-4.5 <= lr <= 10**-2.5 for lr in lrs)


# ---------------------------------------------------------------------------
# Precedence: algorithm space > dataset space > shared space
# ---------------------------------------------------------------------------


class TinyData(MultipleDomainDataset):
    HPARAM_PROFILE = "small"
    HPARAMS = {"lr": HParam(0.5, lambda r: 0.25, within=POSITIVE),
               "width": HParam(8, lambda r: 16, within=POSITIVE),
               "shared_knob": HParam("data", lambda r: "data-drawn")}


class TinyLargeData(TinyData):
    HPARAM_PROFILE = "large"
    HPARAMS = {"width": HParam(4, lambda r: 5, within=POSITIVE)}  # overrides the parent's


class TinyAlgo(ERM):
    HPARAMS = {"width": HParam(99, lambda r: 100, within=POSITIVE),
               "algo_only": HParam(True, lambda r: False)}


class TinyAlgoChild(TinyAlgo):
    HPARAMS = {"algo_only": HParam(False, lambda r: True)}


class DatasetDependentAlgo(ERM):
    @classmethod
    def hparam_space(cls, dataset_cls):
        space = super().hparam_space(dataset_cls)
        space["shared_knob"] = HParam(f"for {dataset_cls.__name__}", lambda r: "algo-drawn")
        return space


def test_dataset_space_overrides_shared_space():
    defaults = resolve_hparams(ERM, TinyData, 0, 0)
    assert defaults["lr"] == 0.5  # not the shared 1e-3
    assert defaults["batch_size"] == 64  # untouched shared entries stay
    assert resolve_hparams(ERM, TinyData, 1, 0)["lr"] == 0.25  # the dataset's sampler too


def test_algorithm_space_overrides_dataset_space():
    defaults = resolve_hparams(TinyAlgo, TinyData, 0, 0)
    assert defaults["width"] == 99 and defaults["algo_only"] is True
    drawn = resolve_hparams(TinyAlgo, TinyData, 1, 0)
    assert drawn["width"] == 100 and drawn["algo_only"] is False
    assert drawn["lr"] == 0.25  # dataset still beats shared where the algorithm is silent


def test_class_hierarchy_merges_and_the_subclass_wins():
    defaults = resolve_hparams(TinyAlgoChild, TinyLargeData, 0, 0)
    assert defaults["algo_only"] is False  # child's HPARAMS beat the parent's
    assert defaults["width"] == 99  # inherited from TinyAlgo, beats the dataset's 4
    assert defaults["lr"] == 0.5  # TinyData's, inherited by TinyLargeData, beats large shared 5e-5
    assert defaults["batch_size"] == 32  # the large profile's shared default
    assert resolve_hparams(ERM, TinyLargeData, 0, 0)["width"] == 4


def test_algorithm_space_may_depend_on_the_dataset():
    assert resolve_hparams(DatasetDependentAlgo, TinyData, 0, 0)["shared_knob"] == "for TinyData"
    assert resolve_hparams(DatasetDependentAlgo, TinyLargeData, 0, 0)["shared_knob"] == "for TinyLargeData"
    assert resolve_hparams(DatasetDependentAlgo, TinyData, 2, 0)["shared_knob"] == "algo-drawn"
    assert resolve_hparams(ERM, TinyData, 0, 0)["shared_knob"] == "data"


def test_build_space_does_not_mutate_class_spaces():
    build_space(TinyAlgo, TinyData)
    build_space(DatasetDependentAlgo, TinyData)
    assert set(TinyData.HPARAMS) == {"lr", "width", "shared_knob"}
    assert TinyData.HPARAMS["lr"].default == 0.5
    assert "shared_knob" not in ERM.hparam_space(TinyData)


# ---------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------


def test_parse_overrides_accepts_objects_and_nothing():
    assert parse_overrides(None) == {}
    assert parse_overrides("") == {}
    assert parse_overrides('{"lr": 0.01, "batch_size": 16}') == {"lr": 0.01, "batch_size": 16}


@pytest.mark.parametrize("text", ['{"lr": 0.01', "lr=0.01", "{'lr': 0.01}", "{,}"])
def test_parse_overrides_rejects_invalid_json(text):
    with pytest.raises(ValueError) as error:
        parse_overrides(text)
    assert repr(text) in str(error.value)
    assert "JSON object" in str(error.value)


@pytest.mark.parametrize("text", ["[1, 2]", "0.01", '"lr"', "null", "true"])
def test_parse_overrides_rejects_non_objects(text):
    with pytest.raises(ValueError) as error:
        parse_overrides(text)
    assert repr(text) in str(error.value)
    assert "JSON object" in str(error.value)


def test_unknown_key_is_named_with_the_valid_ones():
    with pytest.raises(ValueError) as error:
        resolve_hparams(ERM, SpuriousTabular, 0, 0, {"learning_rate": 0.1})
    message = str(error.value)
    assert "'learning_rate'" in message
    assert "ERM on SpuriousTabular" in message
    valid = sorted(build_space(ERM, SpuriousTabular))
    assert f"valid ones: {', '.join(valid)}." in message


def test_groupdro_key_is_unknown_for_erm():
    with pytest.raises(ValueError, match="Unknown hyperparameter 'groupdro_eta' for ERM"):
        resolve_hparams(ERM, SpuriousTabular, 0, 0, {"groupdro_eta": 0.1})
    assert resolve_hparams(GroupDRO, SpuriousTabular, 0, 0, {"groupdro_eta": 0.1})["groupdro_eta"] == 0.1


@pytest.mark.parametrize("name, value, wanted", [
    ("lr", "0.01", "a positive float"),
    ("lr", True, "a positive float"),
    ("lr", None, "a positive float"),
    ("lr", float("nan"), "a positive float"),
    ("lr", float("inf"), "a positive float"),
    ("lr", 10**400, "a positive float"),  # a JSON integer beyond the float range
    ("batch_size", 1.5, "an integer in 1..65536"),
    ("batch_size", 64.0, "an integer in 1..65536"),
    ("batch_size", "64", "an integer in 1..65536"),
    ("batch_size", True, "an integer in 1..65536"),
    ("class_balanced", 1, "true or false"),
    ("class_balanced", "true", "true or false"),
    ("weight_decay", "0", "a float >= 0"),
])
def test_wrong_type_names_the_key(name, value, wanted):
    with pytest.raises(ValueError) as error:
        resolve_hparams(ERM, SpuriousTabular, 0, 0, {name: value})
    message = str(error.value)
    assert f"'{name}' hyperparameter of ERM on SpuriousTabular must be {wanted}" in message


@pytest.mark.parametrize("name, value, wanted", [
    ("lr", 0.0, "a positive float"), ("lr", -1e-3, "a positive float"), ("lr", 0, "a positive float"),
    ("batch_size", 0, "an integer in 1..65536"), ("batch_size", -8, "an integer in 1..65536"),
    ("batch_size", 2**16 + 1, "an integer in 1..65536"),
    ("mlp_width", 0, "an integer in 1..16384"), ("mlp_depth", 1, "an integer in 2..64"),
    ("mlp_dropout", 1.0, "a float in [0, 1)"), ("mlp_dropout", -0.1, "a float in [0, 1)"),
    ("weight_decay", -1e-9, "a float >= 0"),
])
def test_values_out_of_their_declared_range_are_rejected(name, value, wanted):
    with pytest.raises(ValueError) as error:
        resolve_hparams(ERM, SpuriousTabular, 0, 0, {name: value})
    assert f"The '{name}' hyperparameter of ERM on SpuriousTabular must be {wanted}. Got {value!r} instead." \
        == str(error.value)


def test_every_declared_default_and_random_draw_lies_in_its_range():
    from rgd_bench.hparams import build_space, random_hparams
    from rgd_bench.registry import ALGORITHMS, DATASETS

    for algorithm in ("ERM", "GroupDRO", "RGD", "SGD_HWS", "ALSO"):
        for dataset in ("SpuriousTabular", "ColoredMNIST5k", "PACS", "synthetic_waterbirds", "waterbirds"):
            space = build_space(ALGORITHMS.get(algorithm), DATASETS.get(dataset))
            for seed in range(20):
                drawn = random_hparams(space, seed) if seed else {n: hp.default for n, hp in space.items()}
                problems = [hp.problem(n, algorithm, drawn[n]) for n, hp in space.items()]
                assert not any(problems), (dataset, seed, [p for p in problems if p])


def test_weight_decay_zero_is_allowed():
    assert resolve_hparams(ERM, SpuriousTabular, 0, 0, {"weight_decay": 0})["weight_decay"] == 0.0


def test_choices_are_enforced():
    space = {"optimizer": HParam("adam", lambda r: "adam", choices=("adam", "sgd"))}
    check_overrides(space, {"optimizer": "sgd"}, "X")
    with pytest.raises(ValueError, match="'optimizer' hyperparameter of X must be one of 'adam', 'sgd'"):
        check_overrides(space, {"optimizer": "rmsprop"}, "X")


def test_all_problems_are_reported_in_one_message():
    overrides = {"lr": "fast", "batch_size": 0, "class_balanced": 1, "nope": 3, "lr_typo": 1e-3,
                 "weight_decay": 1e-4}
    with pytest.raises(ValueError) as error:
        resolve_hparams(ERM, SpuriousTabular, 0, 0, overrides)
    message = str(error.value)
    for key in ("'lr' hyperparameter", "'batch_size' hyperparameter", "'class_balanced' hyperparameter",
                "Unknown hyperparameter 'nope'", "Unknown hyperparameter 'lr_typo'"):
        assert key in message, key
    assert "weight_decay' hyperparameter" not in message  # the good one is not blamed


def test_check_overrides_accepts_a_valid_set():
    check_overrides(build_space(GroupDRO, PACS),
                    {"lr": 1e-4, "batch_size": 16, "resnet18": True, "groupdro_eta": 1}, "GroupDRO on PACS")


def test_int_for_a_float_is_stored_as_float():
    hparams = resolve_hparams(ERM, SpuriousTabular, 0, 0, {"lr": 1, "weight_decay": 0})
    assert hparams["lr"] == 1.0 and type(hparams["lr"]) is float
    assert type(hparams["weight_decay"]) is float


def test_overrides_replace_random_draws_and_keep_the_rest():
    drawn = resolve_hparams(GroupDRO, SpuriousTabular, 3, 1)
    overridden = resolve_hparams(GroupDRO, SpuriousTabular, 3, 1, parse_overrides('{"batch_size": 16}'))
    assert overridden["batch_size"] == 16 and type(overridden["batch_size"]) is int
    assert {k: v for k, v in overridden.items() if k != "batch_size"} == \
        {k: v for k, v in drawn.items() if k != "batch_size"}


def test_default_hparams_of_a_space():
    space = {"a": HParam(1, lambda r: 2), "b": HParam(0.5, lambda r: 0.1)}
    assert default_hparams(space) == {"a": 1, "b": 0.5}


# ---------------------------------------------------------------------------
# Against DomainBed itself (when importable)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def domainbed_hparams():
    return pytest.importorskip(
        "domainbed.hparams_registry",
        reason="DomainBed is not importable (put a DomainBed checkout on PYTHONPATH, e.g. "
               "PYTHONPATH=<DomainBed checkout>, with its dependencies installed)",
    )


@pytest.mark.parametrize("algorithm_cls, dataset_cls", [(ERM, ColoredMNIST), (GroupDRO, ColoredMNIST),
                                                        (ERM, PACS), (GroupDRO, PACS),
                                                        (ERM, DomainNet)])
def test_matches_domainbed(domainbed_hparams, algorithm_cls, dataset_cls):
    algorithm, dataset = algorithm_cls.__name__, dataset_cls.__name__
    ours_default = resolve_hparams(algorithm_cls, dataset_cls, 0, 0)
    theirs_default = domainbed_hparams.default_hparams(algorithm, dataset)
    common = set(ours_default) & set(theirs_default)
    expected_common = {"class_balanced", "nonlinear_classifier", "lr", "weight_decay", "batch_size"}
    if algorithm_cls is GroupDRO:
        expected_common.add("groupdro_eta")
    assert expected_common <= common
    for key in common:
        assert ours_default[key] == theirs_default[key], key

    for hparams_seed, trial_seed in [(1, 0), (3, 1), (7, 2), (20, 0), (123, 4)]:
        ours = resolve_hparams(algorithm_cls, dataset_cls, hparams_seed, trial_seed)
        theirs = domainbed_hparams.random_hparams(algorithm, dataset, seed_hash(hparams_seed, trial_seed))
        for key in common:
            assert ours[key] == theirs[key], (key, hparams_seed, trial_seed)
