"""WILDS without its traps (update check off, torch_scatter available) and the synthetic
Waterbirds-like dataset through WILDS's own splits, grouper and eval."""
from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from conftest import fresh_python

pytest.importorskip("wilds", reason="WILDS support needs 'rgd_bench[wilds]'")


def test_import_wilds_starts_no_update_check_and_leaves_outdated_importable():
    probe = ("import sys, threading\n"
             "from rgd_bench.datasets.wilds_support import import_wilds\n"
             "import_wilds()\n"
             "import wilds.version\n"
             "assert wilds.version.check_outdated is None, 'the update check is armed'\n"
             "assert [t.name for t in threading.enumerate()] == ['MainThread']\n"
             "assert 'outdated' not in sys.modules or sys.modules['outdated'] is not None\n"
             "import importlib.util; print(importlib.util.find_spec('outdated') is not None)\n")
    assert fresh_python(probe) == str(importlib.util.find_spec("outdated") is not None)


def test_fallback_scatter_computes_group_means_as_torch_scatter():
    from rgd_bench.datasets import _torch_scatter_fallback as fallback

    src = torch.tensor([1.0, 2.0, 3.0, 10.0, 4.0])
    index = torch.tensor([0, 0, 2, 3, 2])
    # group 1 receives nothing: 0, as torch_scatter gives
    assert fallback.scatter(src, index, dim_size=5, reduce="mean").tolist() == [1.5, 0.0, 3.5, 10.0, 0.0]
    assert fallback.scatter(src, index, dim_size=4, reduce="sum").tolist() == [3.0, 0.0, 7.0, 10.0]
    assert fallback.scatter(src, index, reduce="max").tolist() == [2.0, 0.0, 4.0, 10.0]
    with pytest.raises(ValueError, match="reduce must be one of"):
        fallback.scatter(src, index, reduce="median")
    if importlib.util.find_spec("torch_scatter") is not None and not getattr(
            sys.modules.get("torch_scatter"), "IS_FALLBACK", False):
        import torch_scatter

        g = torch.randint(0, 7, (1000,))
        v = torch.rand(1000)
        for reduce in ("mean", "sum", "max", "min"):
            assert torch.equal(fallback.scatter(v, g, dim_size=9, reduce=reduce),
                               torch_scatter.scatter(src=v, index=g, dim_size=9, reduce=reduce))


@pytest.fixture(scope="module")
def dataset():
    from rgd_bench.datasets.wilds_synthetic import SyntheticWaterbirds

    return SyntheticWaterbirds()


def group_counts(subset) -> dict[tuple[int, int], int]:
    meta = subset.metadata_array
    return {(y, b): int(((meta[:, 1] == y) & (meta[:, 0] == b)).sum()) for y in (0, 1) for b in (0, 1)}


def test_minority_groups_are_rare_in_train_and_val_test_are_balanced(dataset):
    assert dataset.split_dict == {"train": 0, "val": 1, "test": 2}
    train = group_counts(dataset.get_subset("train"))
    assert train == {(0, 0): 950, (0, 1): 50, (1, 0): 50, (1, 1): 950}
    assert set(group_counts(dataset.get_subset("val")).values()) == {100}
    assert set(group_counts(dataset.get_subset("test")).values()) == {250}
    x, y, meta = dataset.get_subset("train")[0]
    assert x.shape == (10,) and meta.tolist()[1] == int(y)


def test_official_eval_reports_worst_group_accuracy(dataset):
    test = dataset.get_subset("test")
    meta, y = test.metadata_array, test.y_array
    shortcut = meta[:, 0]  # predict the background: right on the majority groups only
    results, summary = dataset.eval(shortcut, y, meta)
    assert results["acc_avg"] == pytest.approx(0.5) and results["acc_wg"] == 0.0
    assert results["acc_y:waterbird_background:water"] == 1.0
    assert "Worst-group acc: 0.000" in summary
    assert dataset.eval(y, y, meta)[0]["acc_wg"] == 1.0


def test_the_shortcut_is_stronger_than_the_signal(dataset):
    """What the dataset is for: a linear model fit on train leans on the background."""
    train, test = dataset.get_subset("train"), dataset.get_subset("test")
    x = torch.stack([train[i][0] for i in range(len(train))])
    y = train.y_array.float()
    model = torch.nn.Linear(10, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(200):
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y).backward()
        optimizer.step()
    x_test = torch.stack([test[i][0] for i in range(len(test))])
    pred = (model(x_test).squeeze(1) > 0).long()
    results = dataset.eval(pred, test.y_array, test.metadata_array)[0]
    assert results["acc_wg"] < results["acc_avg"] - 0.2


def _fake_civilcomments(root):
    """A few rows in the format of civilcomments' all_data_with_identities.csv."""
    import pandas as pd

    data_dir = root / "civilcomments_v1.0"
    data_dir.mkdir(parents=True)
    (data_dir / "RELEASE_v1.0.txt").write_text("")
    columns = ["male", "female", "LGBTQ", "christian", "muslim", "other_religions", "black", "white",
               "identity_any", "severe_toxicity", "obscene", "threat", "insult", "identity_attack",
               "sexual_explicit", "toxicity"]
    frame = pd.DataFrame({c: [0.1 * (i % 10) for i in range(12)] for c in columns})
    frame["comment_text"] = [f"comment {i}" for i in range(12)]
    frame["split"] = ["train"] * 6 + ["val"] * 3 + ["test"] * 3
    frame.to_csv(data_dir / "all_data_with_identities.csv")


def test_civilcomments_loads_under_pandas_3_through_the_guard(tmp_path):
    import pandas as pd

    from rgd_bench.datasets.wilds_support import _set_infer_string, import_wilds, load_wilds_dataset

    _fake_civilcomments(tmp_path)
    before = _set_infer_string()
    if int(pd.__version__.split(".")[0]) >= 3:  # the trap is real: WILDS's own call fails
        with pytest.raises(TypeError, match="Invalid value"):
            import_wilds().get_dataset("civilcomments", root_dir=str(tmp_path), download=False)
    dataset = load_wilds_dataset("civilcomments", str(tmp_path))
    assert {split: len(dataset.get_subset(split)) for split in ("train", "val", "test")} == {
        "train": 6, "val": 3, "test": 3}
    assert _set_infer_string() == before  # pandas' option is put back
