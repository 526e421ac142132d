"""Did-you-mean ignores case: `--algorithm groupdro` is refused (exit 2, one line, nothing
written) with `Did you mean 'GroupDRO'?`.  A name in the wrong case is suggested, never accepted:
a run's arguments are its identity, so two spellings must not become two runs."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from rgd_bench.registry import ALGORITHMS, DATASETS, closest

REGISTRIES = {"algorithm": ALGORITHMS, "dataset": DATASETS}
NAMES = [(kind, name) for kind, registry in REGISTRIES.items() for name in registry.names()]


def recased(name: str, flips: list[bool]) -> str:
    return "".join(c.swapcase() if flip else c for c, flip in zip(name, flips + [False] * len(name)))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NAMES), st.lists(st.booleans(), max_size=40))
def test_a_registered_name_in_any_case_is_refused_with_that_name_suggested(entry, flips):
    kind, name = entry
    registry = REGISTRIES[kind]
    typed = recased(name, flips)
    if typed in registry:  # the flips gave a registered name back
        return
    with pytest.raises(KeyError) as error:
        registry.get(typed)
    message = error.value.args[0]
    if typed in registry._explanations:  # a known name that cannot be used says why (and what to use)
        assert name in message
    else:
        assert f"Unknown {kind} '{typed}'. Did you mean '{name}'?" in message


@given(st.sampled_from(NAMES), st.lists(st.booleans(), max_size=40))
def test_closest_is_the_name_itself_whatever_its_case(entry, flips):
    kind, name = entry
    assert closest(recased(name, flips), REGISTRIES[kind].names()) == name


def test_a_typo_in_another_case_still_finds_its_name():
    assert closest("groupdr0", ALGORITHMS.names()) == "GroupDRO"
    assert closest("SGDHWS", ALGORITHMS.names()) == "SGD_HWS"
    assert closest("coloredmnist5K", DATASETS.names()) == "ColoredMNIST5k"
    assert closest("zzzz", ALGORITHMS.names()) is None


def test_closest_prefers_the_name_equal_but_for_case_over_a_nearer_spelling():
    assert closest("abc", ["ABC", "abd"]) == "ABC"


def test_train_refuses_groupdro_and_suggests_GroupDRO(tmp_path, train_in_process):
    out = tmp_path / "run"
    code, _, err = train_in_process("--algorithm", "groupdro", "--dataset", "spurioustabular",
                                    "--output_dir", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "Unknown dataset 'spurioustabular'. Did you mean 'SpuriousTabular'?" in err  # checked first
    code, _, err = train_in_process("--algorithm", "groupdro", "--output_dir", str(out))
    assert code == 2 and "Unknown algorithm 'groupdro'. Did you mean 'GroupDRO'?" in err
    assert not out.exists()


def test_sweep_refuses_a_miscased_algorithm_and_suggests_it(tmp_path, cli):
    result = cli("rgd_bench.sweep", "list", "--datasets", "SpuriousTabular", "--algorithms", "ERM", "rgd",
                 "--output_dir", str(tmp_path / "sweep"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--algorithms: Unknown algorithm 'rgd'. Did you mean 'RGD'?" in result.stderr
    assert not (tmp_path / "sweep").exists()
