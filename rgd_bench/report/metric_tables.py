"""Tables of algorithms x (split, metric) columns, each cell the chosen checkpoints' values over
replicates: the WILDS method's and the subpopulation protocol's selection methods make them, and
every format renders them alike."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from rgd_bench.report.selection import Choice
from rgd_bench.report.stats import PairedTest, np_mean


# Shown in % beside the accuracies: the subpopulation protocol's calibration error and AUROC.
PERCENT_METRICS = ("ece", "auroc")


def metric_scale(metric: str) -> float:
    """Accuracies (and ``PERCENT_METRICS``) are shown in %, other metrics as they are."""
    return 100.0 if "acc" in metric.lower() or metric in PERCENT_METRICS else 1.0


@dataclass(frozen=True)
class Spread:
    """Values over replicates, shown as mean +/- std (ddof=1), in % for accuracies."""

    values: tuple[float, ...]
    scale: float = 100.0

    @property
    def mean(self) -> float:
        return self.scale * np_mean(self.values)

    @property
    def error(self) -> float | None:
        """None for a single replicate: no spread to show."""
        n = len(self.values)
        if n < 2:
            return None
        mean = np_mean(self.values)
        return self.scale * math.sqrt(sum((v - mean) ** 2 for v in self.values) / (n - 1))


@dataclass
class MetricTable:
    dataset: str                                      # as the table is titled
    val_metric: str                                   # what the table selects on
    columns: list[tuple[str, str]]                    # (split, metric)
    cells: dict[str, list[Spread | None]]            # algorithm -> one per column
    selected: dict[str, int]                          # algorithm -> chosen hparams_seed (the first replicate's)
    decreasing: list[bool] = field(default_factory=list)  # per column: lower is better
    comparisons: dict[str, list[PairedTest | None]] = field(default_factory=dict)  # vs the baseline


@dataclass
class MetricLeaderboard:
    algorithms: list[str]
    choices: dict[tuple, Choice]                      # (trial_seed, table's dataset, algorithm, None)
    tables: list[MetricTable]
    baseline: str | None
    key: str                                          # --selection's name for it
    name: str
    notes: list[str] = field(default_factory=list)    # what its tables show, for the footnotes
