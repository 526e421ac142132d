"""The report reads records through a schema: every bad line rejected, counted by kind and
shown, the tables built from the valid lines only, never a NaN, never a traceback."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import run_module
from report_runs import write_run
from rgd_bench.report.build import make_report
from rgd_bench.report.formats import FORMATS, renderer
from rgd_bench.report.records import load_sweeps
from rgd_bench.report.schema import BAD_VALUE, DUPLICATE_STEP, FOREIGN_ARGS, MALFORMED, NOT_A_RECORD
from rgd_bench.report.selection import SELECTION_METHODS
from rgd_bench.report.synthetic import synthetic_sweep

METHODS = list(SELECTION_METHODS.values())
NON_FINITE = re.compile(r"\bnan\b|\binf\b|infinity", re.IGNORECASE)
TEXT_FORMATS = [name for name in FORMATS if name != "html"]  # html needs matplotlib: tested below once


def results(run_dir) -> str:
    return os.path.join(str(run_dir), "results.jsonl")


def read_lines(run_dir) -> list[str]:
    with open(results(run_dir), encoding="utf-8") as f:
        return f.read().splitlines()


def write_lines(run_dir, lines: list[str]) -> None:
    with open(results(run_dir), "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def tables(report) -> str:
    """The text leaderboard without its summary lines (which count what was rejected)."""
    text = renderer("text")(report)
    return text[text.index("\n--------"):]


def two_trials(tmp_path, accs=(0.852, 0.852)):
    """ERM on VLCS with test env 0 in two trial seeds: the cell is their mean."""
    for trial, acc in enumerate(accs):
        write_run(tmp_path, f"t{trial}", test_envs=[0], trial_seed=trial,
                  accs=[{"env0_in_acc": acc, "env1_out_acc": 0.9}, {"env0_in_acc": acc, "env1_out_acc": 0.8}])


# ---- each kind of bad line, named --------------------------------------------------------

def test_a_line_that_looks_whole_but_is_not_json_is_rejected_not_fatal(tmp_path):
    two_trials(tmp_path)
    lines = read_lines(tmp_path / "t0")
    write_lines(tmp_path / "t0", lines + ['{"args": {"dataset": "VLCS"}, "step": 99, oops}'])
    sweep = load_sweeps([str(tmp_path)])
    assert sweep.rejected[MALFORMED].count == 1 and sweep.n_rejected == 1
    assert sweep.rejected[MALFORMED].examples[0].startswith(f"{results(tmp_path / 't0')}:3")
    assert sweep.n_records == 4


@pytest.mark.parametrize("mutate,kind", [
    (lambda r: {"a": 1}, NOT_A_RECORD),
    (lambda r: [r], NOT_A_RECORD),
    (lambda r: {**r, "env0_in_acc": "0.9"}, BAD_VALUE),               # an accuracy as a string
    (lambda r: {**r, "env1_out_acc": float("nan")}, BAD_VALUE),
    (lambda r: {**r, "env1_out_acc": float("inf")}, BAD_VALUE),
    (lambda r: {**r, "env1_out_acc": 1.5}, BAD_VALUE),
    (lambda r: {**r, "env1_out_acc": -0.01}, BAD_VALUE),
    (lambda r: {**r, "env0_in_acc": True}, BAD_VALUE),
    (lambda r: {k: v for k, v in r.items() if k != "env2_out_acc"}, BAD_VALUE),  # a missing accuracy
    (lambda r: {**r, "step": 1.5}, BAD_VALUE),
    (lambda r: {**r, "step": "10"}, BAD_VALUE),
    (lambda r: {**r, "args": {**r["args"], "trial_seed": 7}}, FOREIGN_ARGS),  # another run's line
    (lambda r: {**r, "args": "x"}, NOT_A_RECORD),
], ids=["not a record", "a list", "string accuracy", "NaN", "inf", "above 1", "below 0", "boolean",
        "missing env2_out_acc", "float step", "string step", "foreign args", "args not an object"])
def test_each_bad_line_is_rejected_by_kind_and_leaves_the_cell_as_the_good_lines_make_it(tmp_path, mutate, kind):
    two_trials(tmp_path)
    clean = make_report([str(tmp_path)], METHODS)
    lines = read_lines(tmp_path / "t1")
    bad = mutate(json.loads(lines[1]))
    bad_line = json.dumps(bad, sort_keys=True)
    write_lines(tmp_path / "t1", lines + [bad_line])  # appended: it would be the last, chosen checkpoint
    report = make_report([str(tmp_path)], METHODS)
    assert report.sweep.rejected[kind].count == 1 and report.sweep.n_rejected == 1, report.sweep.notes()
    assert tables(report) == tables(clean)
    summary = renderer("text")(report).splitlines()[1]
    assert f"1 of 5 line(s) in results.jsonl files rejected: 1 {kind} ({results(tmp_path / 't1')}:3" in summary


def test_a_foreign_line_does_not_move_the_cell(tmp_path):
    """Lines of another run (100% accurate) appended to a run's file: the cell keeps the run's
    own value instead of moving up."""
    two_trials(tmp_path)
    other = write_run(tmp_path / "elsewhere", "other", test_envs=[0], trial_seed=5,
                      accs=[{"env0_in_acc": 1.0, "env1_out_acc": 1.0}] * 3)
    write_lines(tmp_path / "t0", read_lines(tmp_path / "t0") + read_lines(other))
    report = make_report([str(tmp_path)], [SELECTION_METHODS["oracle"]])
    assert report.sweep.rejected[FOREIGN_ARGS].count == 3
    cell = report.boards[0].tables[0].cells["ERM"][0]
    assert round(cell.mean, 1) == 85.2 and "85.2 +/- 0.0" in renderer("text")(report)


def test_every_line_duplicated_counts_once(tmp_path):
    two_trials(tmp_path, accs=(0.8, 0.9))
    clean = make_report([str(tmp_path)], METHODS)
    for name in ("t0", "t1"):
        lines = read_lines(tmp_path / name)
        write_lines(tmp_path / name, [line for line in lines for _ in range(2)])
    report = make_report([str(tmp_path)], METHODS)
    assert report.sweep.rejected[DUPLICATE_STEP].count == 4 and report.sweep.n_rejected == 4
    assert report.sweep.n_records == 4 and tables(report) == tables(clean)


def test_summary_shows_at_most_three_examples_per_kind_and_lists_runs_left_with_nothing(tmp_path):
    two_trials(tmp_path)
    for i in range(5):
        run_dir = write_run(tmp_path, f"junk{i}", test_envs=[1], trial_seed=i, accs=[{}])
        write_lines(run_dir, ["{", "not json"])
    report = make_report([str(tmp_path)], METHODS)
    notes = report.sweep.notes()
    rejected = next(n for n in notes if "rejected" in n)
    assert rejected.startswith("10 of 14 line(s) in results.jsonl files rejected: 10 malformed JSON (")
    assert rejected.count("results.jsonl:") == 3 and rejected.endswith("... (7 more))")
    nothing = next(n for n in notes if "no valid record" in n)
    assert nothing.startswith("5 run(s) with no valid record, left out: ")
    assert all(str(tmp_path / f"junk{i}") in nothing for i in range(5))
    assert all(note in renderer("text")(report) for note in notes)


def test_a_diverged_runs_nan_loss_is_read_and_its_run_kept(tmp_path):
    write_run(tmp_path, "d", test_envs=[0], accs=[{}, {}], last_extra={"diverged": True, "loss": float("nan")})
    sweep = load_sweeps([str(tmp_path)])
    assert sweep.n_rejected == 0 and sweep.n_records == 2 and sweep.runs[0].diverged


def test_a_moved_and_resumed_runs_lines_belong_to_it(tmp_path):
    """Records written before a move name the old output_dir: still the same run."""
    run_dir = write_run(tmp_path, "r", test_envs=[0], accs=[{}, {}, {}])
    lines = [json.loads(line) for line in read_lines(run_dir)]
    lines[2]["args"]["output_dir"] = "/somewhere/else"
    lines[2]["args"]["data_dir"] = "/data/moved"
    write_lines(run_dir, [json.dumps(line, sort_keys=True) for line in lines])
    sweep = load_sweeps([str(tmp_path)])
    assert sweep.n_rejected == 0 and sweep.n_records == 3


def test_one_trial_says_n1_instead_of_a_zero_error_bar(tmp_path):
    write_run(tmp_path, "only", test_envs=[0], accs=[{"env0_in_acc": 0.5}])
    report = make_report([str(tmp_path)], METHODS)
    for name, plus_minus in (("text", "+/-"), ("markdown", "±"), ("latex", "$\\pm$"), ("html", "±")):
        text = renderer(name)(report)
        assert "50.0 (n=1)" in text and f"{plus_minus} 0.0" not in text, name
        assert "a single trial seed, so no error bar" in text
    assert "50.0 +/- 0.0" in renderer("domainbed")(report)  # DomainBed's own text, unchanged
    rows = json.loads(renderer("json")(report))
    assert {row["std_error"] for row in rows if row["n_trials"] == 1} == {None}


# ---- inputs that are not files ----------------------------------------------------------

@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory"])
def test_a_results_file_that_is_not_a_regular_file_neither_hangs_nor_eats_memory(tmp_path, kind):
    two_trials(tmp_path)
    bad = write_run(tmp_path, "bad", test_envs=[1], accs=[{}])
    os.remove(results(bad))
    if kind == "fifo":
        os.mkfifo(results(bad))
    elif kind == "dev_zero":
        os.symlink("/dev/zero", results(bad))
    else:
        os.mkdir(results(bad))
    finished = []
    reader = threading.Thread(target=lambda: finished.append(load_sweeps([str(tmp_path)])), daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert finished, "the report hung on a results.jsonl that is not a regular file"
    sweep = finished[0]
    assert sweep.unreadable.count == 1 and len(sweep.runs) == 2
    assert results(bad) in sweep.unreadable.examples[0]


# ---- property: any corruption of any line ------------------------------------------------

def _truncate(line: str, draw) -> str:
    return line[:draw(st.integers(0, len(line) - 1))]


def _control_byte(line: str, draw) -> str:
    at = draw(st.integers(0, len(line)))
    return line[:at] + draw(st.sampled_from(["\x00", "\x01", "\x07", "\x1b", "\x1f"])) + line[at:]


def _set_key(value):
    def corrupt(line: str, draw) -> str:
        record = json.loads(line)
        key = draw(st.sampled_from(sorted(k for k in record if k.endswith("_acc"))))
        record[key] = value
        return json.dumps(record, sort_keys=True)
    return corrupt


def _drop_accuracy(line: str, draw) -> str:
    record = json.loads(line)
    del record[draw(st.sampled_from(sorted(k for k in record if k.endswith("_acc"))))]
    return json.dumps(record, sort_keys=True)


def _bad_step(line: str, draw) -> str:
    record = json.loads(line)
    record["step"] = draw(st.sampled_from([1.5, "0", None, -1, True, [1], 10**400]))
    return json.dumps(record, sort_keys=True)


def _not_a_record(line: str, draw) -> str:
    return draw(st.sampled_from(['{"a": 1}', "[]", "3", '"text"', "null", '{"step": 0}', '{"args": {}, "step": 0}']))


CORRUPTIONS = {  # each always makes the line invalid, and of a known kind
    "truncated": (_truncate, MALFORMED), "control byte": (_control_byte, MALFORMED),
    "string accuracy": (_set_key("0.5"), BAD_VALUE), "NaN accuracy": (_set_key(float("nan")), BAD_VALUE),
    "inf accuracy": (_set_key(float("-inf")), BAD_VALUE), "accuracy above 1": (_set_key(2.0), BAD_VALUE),
    "huge integer accuracy": (_set_key(10**400), BAD_VALUE),
    "missing accuracy": (_drop_accuracy, BAD_VALUE), "bad step": (_bad_step, BAD_VALUE),
    "not a record": (_not_a_record, NOT_A_RECORD),
}


@st.composite
def corruption_plans(draw, n_runs: int, n_lines: int):
    """{(run, line): corruption name}, plus runs whose line 2 is followed by a copy, and lines
    given a NaN loss (still valid: DomainBed writes one for a diverged run)."""
    positions = st.tuples(st.integers(0, n_runs - 1), st.integers(0, n_lines - 1))
    corrupted = draw(st.dictionaries(positions, st.sampled_from(sorted(CORRUPTIONS)), max_size=12))
    foreign = draw(st.sets(st.integers(0, n_runs - 1), max_size=3))  # line 3 of these: another run's args
    copied = draw(st.sets(st.integers(0, n_runs - 1), max_size=3))
    nan_loss = draw(st.sets(positions, max_size=3))
    return corrupted, foreign, copied, nan_loss


@pytest.fixture(scope="module")
def clean_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    synthetic_sweep(str(root), datasets=[("VLCS", 4)], algorithms=("ERM", "RGD"), n_hparams=2, n_trials=2,
                    n_checkpoints=3, pairs=False)
    return root


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_corruption_of_any_line_is_counted_exactly_and_the_tables_are_the_clean_ones_without_it(
        clean_sweep, tmp_path_factory, data):
    run_names = sorted(os.listdir(clean_sweep))
    corrupted, foreign, copied, nan_loss = data.draw(corruption_plans(len(run_names), 3))
    work, expected = tmp_path_factory.mktemp("corrupt"), tmp_path_factory.mktemp("expected")
    shutil.copytree(clean_sweep, work, dirs_exist_ok=True)
    shutil.copytree(clean_sweep, expected, dirs_exist_ok=True)
    kinds = {kind: 0 for kind in (MALFORMED, NOT_A_RECORD, BAD_VALUE, FOREIGN_ARGS, DUPLICATE_STEP)}
    for r, name in enumerate(run_names):
        lines = read_lines(clean_sweep / name)
        written, kept = [], []
        for i, line in enumerate(lines):
            if (r, i) in nan_loss:
                line = line.replace('"loss": ', '"loss": NaN, "old_loss": ', 1)
            if (r, i) in corrupted:
                function, kind = CORRUPTIONS[corrupted[(r, i)]]
                written.append(function(line, data.draw))
                kinds[kind] += 1
            elif i == 2 and r in foreign and all((r, j) not in corrupted for j in (0, 1)):
                record = json.loads(line)
                record["args"]["trial_seed"] += 100
                written.append(json.dumps(record, sort_keys=True))
                kinds[FOREIGN_ARGS] += 1
            else:
                written.append(line)
                kept.append(line)
            if i == 1 and r in copied:
                written.append(written[-1])
                kinds[DUPLICATE_STEP if (r, i) not in corrupted else CORRUPTIONS[corrupted[(r, i)]][1]] += 1
        write_lines(work / name, written)
        if kept:
            write_lines(expected / name, kept)
        else:
            shutil.rmtree(expected / name)

    report = make_report([str(work)], METHODS)
    counted = {kind: problem.count for kind, problem in report.sweep.rejected.items()}
    assert counted == kinds
    emptied = [name for name in run_names if not os.path.exists(expected / name)]
    assert report.sweep.no_valid_record.count == len(emptied)
    clean = make_report([str(expected)], METHODS)
    assert report.sweep.n_records == clean.sweep.n_records
    if clean.boards:
        assert tables(report) == tables(clean)
    for name in TEXT_FORMATS:
        assert not NON_FINITE.search(renderer(name)(report)), name


def test_no_format_shows_nan_even_with_non_finite_values_on_disk(tmp_path):
    two_trials(tmp_path)
    for name in ("t0", "t1"):
        lines = read_lines(tmp_path / name)
        record = json.loads(lines[0])
        record.update(step=50, env0_in_acc=float("nan"), env1_out_acc=float("inf"))
        write_lines(tmp_path / name, lines + [json.dumps(record)])
    report = make_report([str(tmp_path)], METHODS)
    for name in FORMATS:
        assert not NON_FINITE.search(renderer(name)(report)), name


def test_the_command_line_prints_the_summary_of_rejected_lines_above_the_tables(tmp_path):
    two_trials(tmp_path)
    write_lines(tmp_path / "t0", read_lines(tmp_path / "t0") + ['{"args": {"trunc'])
    result = run_module("rgd_bench.report", str(tmp_path))
    assert result.returncode == 0 and "Traceback" not in result.stderr
    head = result.stdout.split("--------")[0]
    assert "1 of 5 line(s) in results.jsonl files rejected: 1 malformed JSON" in head
    assert not math.isnan(float(result.stdout.split("ERM")[1].split()[0]))
