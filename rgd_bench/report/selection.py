"""DomainBed's model-selection methods, reproduced exactly (``domainbed/model_selection.py``).

Records are grouped by (trial_seed, dataset, algorithm, test_env); a run with two test
environments belongs to both groups.  Within a group, each ``hparams_seed`` gets a
``run_choice`` (a checkpoint and its validation and test accuracy); the group's choice is
the hparams_seed with the best validation accuracy.  Ties resolve as DomainBed's do: the
first checkpoint among equals, and among equal hparams the highest ``hparams_seed``.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Iterable

from rgd_bench.report.records import Run
from rgd_bench.report.stats import np_sum, np_sums_across


@dataclass(frozen=True)
class Choice:
    """The checkpoint a selection method picks: ``run`` (single test env) at ``step``."""

    val_acc: float
    test_acc: float
    run: Run
    index: int  # position of the checkpoint in the run's columns

    @property
    def step(self) -> int:
        return int(self.run.steps[self.index])


GroupKey = tuple  # (trial_seed, dataset, algorithm, test_env)


class SelectionMethod:
    """Picks (hparams, checkpoint) per group; subclasses define ``run_choice``."""

    key: str = ""    # the name on the command line
    name: str = ""   # DomainBed's name, shown in table headers
    # Why a (test environment, algorithm) can have no choice: the tables' X, the plots' sentence.
    missing: str = "no finished run for this test environment."

    @classmethod
    def run_choice(cls, runs: list[Run], test_env: int) -> Choice | None:
        raise NotImplementedError

    @classmethod
    def sweep_choice(cls, runs: list[Run], test_env: int) -> Choice | None:
        """The best hparams' choice among ``runs`` (all of one group)."""
        by_seed: dict[int, list[Run]] = collections.defaultdict(list)
        for run in runs:
            by_seed[run.hparams_seed].append(run)
        best = None
        for seed in sorted(by_seed):
            choice = cls.run_choice(by_seed[seed], test_env)
            # ">=": DomainBed sorts ascending by val_acc and reverses, so the last among
            # equals (the highest hparams_seed) wins.
            if choice is not None and (best is None or choice.val_acc >= best.val_acc):
                best = choice
        return best


def single_test_env_runs(runs: list[Run]) -> list[Run]:
    return [run for run in runs if len(run.test_envs) == 1]


def _argmax_first(candidates: Iterable[Choice]) -> Choice | None:
    """``max`` by val_acc, the first among equals (as Python's ``max``)."""
    best = None
    for choice in candidates:
        if best is None or choice.val_acc > best.val_acc:
            best = choice
    return best


class TrainingDomainValidation(SelectionMethod):
    """argmax over checkpoints of the mean out-split accuracy of the training environments."""

    key = "training_domain"
    name = "training-domain validation set"

    @classmethod
    def run_choice(cls, runs, test_env):
        best = None
        for run in single_test_env_runs(runs):
            val_columns = [run.columns[f"env{i}_out_acc"] for i in range(run.n_envs) if i != test_env]
            val_accs = [total / len(val_columns) for total in np_sums_across(val_columns)]  # np.mean per step
            if not val_accs:
                continue
            j = max(range(len(val_accs)), key=val_accs.__getitem__)  # the first among equals
            if best is None or val_accs[j] > best.val_acc:
                best = Choice(val_accs[j], run.columns[f"env{test_env}_in_acc"][j], run, j)
        return best


class TestDomainOracle(SelectionMethod):
    """The last checkpoint; hparams by the test environment's out-split accuracy."""

    key = "oracle"
    name = "test-domain validation set (oracle)"

    @classmethod
    def run_choice(cls, runs, test_env):
        last = None
        for run in single_test_env_runs(runs):
            steps = run.steps
            if not steps:
                continue
            top = max(steps)
            if last is None or top >= last[2]:  # a stable sort's last element among equal steps
                last = (run, len(steps) - 1 - steps[::-1].index(top), top)
        if last is None:
            return None
        run, j, _ = last
        return Choice(run.columns[f"env{test_env}_out_acc"][j],
                      run.columns[f"env{test_env}_in_acc"][j], run, j)


class LeaveOneDomainOut(SelectionMethod):
    """Validation accuracy of a (hparams, step) = mean over the other training environments
    of the in-split accuracy of the run that also held that environment out.  Needs the runs
    with two test environments; without them there is no choice (X in the table)."""

    key = "leave_one_out"
    name = "leave-one-domain-out cross-validation"
    missing = ("leave-one-domain-out cross-validation needs, for every other training environment, the runs with "
               "two test environments (the test one and that one); this sweep lacks them (it was launched with "
               "--single_test_envs, or they are unfinished).")

    @classmethod
    def run_choice(cls, runs, test_env):
        tests = single_test_env_runs(runs)
        if not tests:
            return None  # no step has a test record
        fast = cls._aligned_choice(runs, tests, test_env)
        if fast is not False:
            return fast
        by_step: dict[float, list[tuple[Run, int]]] = collections.defaultdict(list)
        for run in runs:
            for j, step in enumerate(run.steps):
                by_step[step].append((run, j))
        return _argmax_first(filter(None, (cls._step_choice(by_step[step], test_env)
                                           for step in sorted(by_step))))

    @classmethod
    def _aligned_choice(cls, runs: list[Run], tests: list[Run], test_env: int) -> Choice | None | bool:
        """The common case computed column-wise: one test run, and every run of the group
        checkpointed at the same, increasing steps.  False when the case does not apply."""
        test = tests[0]
        steps = test.steps
        if (len(tests) != 1 or any(r.steps != steps or r.n_envs != test.n_envs for r in runs)
                or any(a >= b for a, b in zip(steps, steps[1:]))):
            return False
        n_envs = test.n_envs
        val_columns: list = [None] * n_envs
        for run in runs:
            if len(run.test_envs) == 2:
                val_env = (set(run.test_envs) - {test_env}).pop()
                val_columns[val_env] = run.columns[f"env{val_env}_in_acc"]
        del val_columns[test_env]
        if not val_columns or any(c is None for c in val_columns):
            return None  # a training environment never held out with the test one
        val_accs = [total / (n_envs - 1) for total in np_sums_across(val_columns)]
        j = max(range(len(val_accs)), key=val_accs.__getitem__)
        return Choice(val_accs[j], test.columns[f"env{test_env}_in_acc"][j], test, j)

    @classmethod
    def _step_choice(cls, records: list[tuple[Run, int]], test_env: int) -> Choice | None:
        tests = [(run, j) for run, j in records if len(run.test_envs) == 1]
        if len(tests) != 1:
            return None
        n_envs = records[0][0].n_envs
        val_accs = [-1.0] * n_envs
        for run, j in records:
            if len(run.test_envs) == 2:
                val_env = (set(run.test_envs) - {test_env}).pop()
                val_accs[val_env] = run.columns[f"env{val_env}_in_acc"][j]
        del val_accs[test_env]
        if any(v == -1 for v in val_accs):
            return None
        run, j = tests[0]
        return Choice(np_sum(val_accs) / (n_envs - 1), run.columns[f"env{test_env}_in_acc"][j], run, j)


SELECTION_METHODS: dict[str, type[SelectionMethod]] = {
    method.key: method for method in (TrainingDomainValidation, LeaveOneDomainOut, TestDomainOracle)
}


def group_runs(runs: Iterable[Run]) -> dict[GroupKey, list[Run]]:
    """Runs per (trial_seed, dataset, algorithm, test_env), as DomainBed's grouped records."""
    groups: dict[GroupKey, list[Run]] = collections.defaultdict(list)
    for run in runs:
        for test_env in run.test_envs:
            groups[(run.trial_seed, run.dataset, run.algorithm, test_env)].append(run)
    return groups


def select(method: type[SelectionMethod], groups: dict[GroupKey, list[Run]]) -> dict[GroupKey, Choice]:
    """The method's choice for every group that has one."""
    chosen = {}
    for key, runs in groups.items():
        choice = method.sweep_choice(runs, key[3])
        if choice is not None:
            chosen[key] = choice
    return chosen
