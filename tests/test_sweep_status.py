"""`python -m rgd_bench.sweep status`: one aligned table whatever the names' lengths and the
counts' widths: each count ends where its state's header ends, each name starts under its header."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from rgd_bench.sweep.cli import status_table
from rgd_bench.sweep.jobs import NOT_LAUNCHED, STATES

NAME = st.text(st.sampled_from("abcxyzABCXYZ0129_-."), min_size=1, max_size=40)
COUNTS = st.dictionaries(st.sampled_from(STATES), st.integers(0, 10**9), max_size=len(STATES))


def assert_aligned(lines: list[str], counts: dict) -> None:
    header, rows = lines[0], lines[1:]
    assert header.split() == ["dataset", "algorithm", *" ".join(STATES).split()]
    ends = {state: header.index(state) + len(state) for state in STATES}
    algorithm_at = header.index("algorithm")
    assert header.startswith("dataset ")
    for line, ((dataset, algorithm), by_state) in zip(rows, sorted(counts.items()), strict=True):
        assert line.startswith(dataset + " ") and line[algorithm_at:].startswith(algorithm + " ")
        for state in STATES:
            number = str(by_state.get(state, 0))
            end = ends[state]
            assert line[end - len(number):end] == number, (state, line)
            assert line[end - len(number) - 1] == " " and line[end:end + 1] in ("", " "), (state, line)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.tuples(NAME, NAME), COUNTS, min_size=1, max_size=8))
def test_every_count_ends_under_the_end_of_its_header(counts):
    assert_aligned(status_table(counts), counts)


def test_short_names_and_wide_counts():
    counts = {("Wine", "ERM"): {"Done": 1234567, "Failed": 3}, ("synthetic_waterbirds", "SGD_HWS"): {NOT_LAUNCHED: 7}}
    lines = status_table(counts)
    assert lines == [
        "dataset               algorithm     Done  Running  Queued  Incomplete  Failed  Not launched",
        "Wine                  ERM        1234567        0       0           0       3             0",
        "synthetic_waterbirds  SGD_HWS          0        0       0           0       0             7",
    ]


def test_status_command_prints_the_aligned_table(tmp_path, cli):
    result = cli("rgd_bench.sweep", "status", "--datasets", "SpuriousTabular", "Wine", "--algorithms", "ERM", "RGD",
                 "--n_hparams", "2", "--n_trials", "1", "--single_test_envs", "--output_dir", str(tmp_path / "sweep"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = lines[:5]
    counts = {}
    for line in table[1:]:
        dataset, algorithm, *numbers = line.split()
        counts[(dataset, algorithm)] = dict(zip(STATES, map(int, numbers)))
    assert set(counts) == {(d, a) for d in ("SpuriousTabular", "Wine") for a in ("ERM", "RGD")}
    assert all(c[NOT_LAUNCHED] > 0 and sum(c.values()) == c[NOT_LAUNCHED] for c in counts.values())
    assert_aligned(table, counts)
    assert lines[5].startswith(f"{sum(c[NOT_LAUNCHED] for c in counts.values())} jobs: ")
