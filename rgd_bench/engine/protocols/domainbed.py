"""DomainBed's protocol: every environment split into in/out, one minibatch per training
environment, the accuracy of every split at each checkpoint (data: ``domainbed_data``)."""
from __future__ import annotations

from typing import Any, Iterator

from rgd_bench.engine.protocols.base import Flag, Protocol
from rgd_bench.errors import UsageError
from rgd_bench.values import NON_NEGATIVE, OPEN_UNIT_INTERVAL, Spec


def all_test_env_combinations(n: int) -> Iterator[list[int]]:
    """Every single test environment and every pair (DomainBed's order)."""
    for i in range(n):
        yield [i]
        for j in range(i + 1, n):
            yield [i, j]


class DomainBedProtocol(Protocol):
    name, label = "domainbed", "DomainBed"
    flags = {
        # each of them in range; the dataset says how many there are (check)
        "test_envs": Flag(Spec(list, item=Spec(int, NON_NEGATIVE)), (0,), "0",
                          "DomainBed datasets: held-out environments"),
        # (0, 1): DomainBed divides by the size of every held-out split, so none may be empty.
        "holdout_fraction": Flag(Spec(float, OPEN_UNIT_INTERVAL), 0.2, "0.2",
                                 "DomainBed datasets: share of each environment held out, in (0, 1)"),
    }

    def check(self, config, dataset_cls: type, algorithm_cls: type) -> None:
        test_envs, n = config.test_envs, len(dataset_cls.ENVIRONMENTS)
        allowed = f"0..{n - 1} ({', '.join(f'{i}={e}' for i, e in enumerate(dataset_cls.ENVIRONMENTS))})"
        bad = [e for e in test_envs if not 0 <= e < n]
        if bad:
            raise UsageError(f"--test_envs {bad[0]} is out of range for {dataset_cls.__name__}; allowed: {allowed}.")
        if len(set(test_envs)) != len(test_envs):
            raise UsageError(f"--test_envs {' '.join(map(str, test_envs))} repeats an environment.")
        if len(set(test_envs)) >= n:
            raise UsageError(f"--test_envs {' '.join(map(str, test_envs))} leaves no training environment "
                             f"for {dataset_cls.__name__}; at most {n - 1} of {allowed} may be test envs.")

    def test_env_sets(self, dataset_cls: type, single_test_envs: bool) -> list[list[int] | None]:
        """DomainBed's singles and pairs, or a dataset's fixed test environments (``TEST_ENVS``)."""
        if dataset_cls.TEST_ENVS is not None:  # a training set and fixed test sets
            return [list(dataset_cls.TEST_ENVS)]
        n_envs = len(dataset_cls.ENVIRONMENTS)
        if single_test_envs or n_envs < 3:
            return [[i] for i in range(n_envs)]
        return list(all_test_env_combinations(n_envs))

    def sweep_args(self, holdout_fraction: float) -> dict[str, Any]:
        return {"holdout_fraction": holdout_fraction}

    def open(self, run):
        from rgd_bench.engine.protocols.domainbed_data import DomainBedData

        return DomainBedData(run)


DOMAINBED = DomainBedProtocol()
