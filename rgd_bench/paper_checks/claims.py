"""The headline claims of the three papers, and the closest check of each that a 2-core CPU
and the data that ship offline allow.  Each claim names the sweep files that produce its
runs (``sweeps/``), the arms it compares and how one seed's score is read from the runs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rgd_bench.algorithms.hws import PAPER_HPARAMS

SELECTED = "selected"  # training-domain validation's test accuracy, averaged over test envs, then datasets
LAST_STEP = "last_step"  # the last checkpoint's accuracy on one environment (the paper's fixed setup)


@dataclass(frozen=True)
class Arm:
    """The runs of one side of a comparison: an algorithm, and hyperparameter values its runs
    must have (SGD-HWS's beta)."""

    label: str
    algorithm: str
    hparams: dict[str, Any] = field(default_factory=dict)

    def holds(self, run) -> bool:
        return run.algorithm == self.algorithm and all(run.hparams.get(k) == v for k, v in self.hparams.items())


@dataclass(frozen=True)
class Claim:
    key: str
    paper: str  # the claim, as the paper makes it
    paper_number: str
    setting: str  # the setting here, in a few words
    sweeps: tuple[str, ...]  # sweep files (without .toml) whose runs it reads
    datasets: tuple[str, ...]
    method: Arm
    baseline: Arm
    paper_value: float | None = None  # the paper's difference in points, where it states one
    score: str = SELECTED
    env: int | None = None  # LAST_STEP: the environment whose accuracy is the score
    metric: str = "test accuracy"


@dataclass(frozen=True)
class Untestable:
    paper: str
    paper_number: str
    reason: str


HWS_SWEEPS = ("hws_mnist_erm", "hws_mnist_beta1", "hws_mnist_beta10", "hws_mnist_beta100")
TABULAR = ("BreastCancer", "Wine", "Digits8x8", "SpuriousTabular")
TABULAR_SWEEPS = ("tabular_baselines", "tabular_also")
ERM = Arm("ERM", "ERM")
# The paper's optimizer, in words, for the setting column.
PAPER_OPTIMIZER = f"SGD lr {PAPER_HPARAMS['lr']:g}, no momentum"


def _hws_claims() -> list[Claim]:
    claims = []
    for dataset, share in (("ImbalancedMNIST", "1% (4 of them)"), ("ImbalancedMNIST10", "10% (40)")):
        for beta in (10, 1, 100):  # beta 10 is the paper's headline; 1 and 100 its range
            headline = beta == 10 and dataset == "ImbalancedMNIST"
            claims.append(Claim(
                key=f"hws_{dataset}_beta{beta}",
                paper=("SGD-HWS (beta 10) keeps the rare digit 3 far better than ERM on MNIST with 3s at 1%"
                       if headline else f"SGD-HWS (beta {beta}) against ERM, 3s at {share.split()[0]}"),
                paper_number="far above ERM (Figure 1)" if headline else "(range of Figure 1)",
                setting=f"3s at {share}; MLP 256; {PAPER_OPTIMIZER}; warm start; 3,000 steps of 32",
                sweeps=HWS_SWEEPS, datasets=(dataset,),
                method=Arm(f"SGD-HWS beta {beta}", "SGD_HWS", {"hws_beta": float(beta)}), baseline=ERM,
                score=LAST_STEP, env=1, metric="digit-3 accuracy"))
    return claims


CLAIMS: list[Claim] = [
    *_hws_claims(),
    Claim(key="rgd_domainbed",
          paper="RGD beats ERM on DomainBed (out-of-domain average over its datasets)",
          paper_number="+0.7 points", paper_value=0.7,
          setting="ColoredMNIST5k, RotatedMNIST5k; MLP; 2 hparam draws each; 500 steps; training-domain validation",
          sweeps=("rgd_domainbed",), datasets=("ColoredMNIST5k", "RotatedMNIST5k"),
          method=Arm("RGD", "RGD"), baseline=ERM),
    Claim(key="rgd_tabular",
          paper="RGD beats ERM on tabular classification",
          paper_number="+1.44 points", paper_value=1.44,
          setting="breast cancer, wine, digits, SpuriousTabular; MLP; 2 hparam draws each; 500 steps",
          sweeps=TABULAR_SWEEPS, datasets=TABULAR, method=Arm("RGD", "RGD"), baseline=ERM),
    *[Claim(key=f"also_vs_{baseline.algorithm.lower()}",
            paper=f"ALSO beats {baseline.label} on tabular learning",
            paper_number="better (no single number)",
            setting="the same tabular data; ALSO weighs single examples; 2 hparam draws each"
                    + ("; GroupDRO's groups are the training domains: one on the sklearn sets"
                       if baseline.algorithm == "GroupDRO" else ""),
            sweeps=TABULAR_SWEEPS, datasets=TABULAR, method=Arm("ALSO", "ALSO"), baseline=baseline)
      for baseline in (Arm("Adam-ERM", "ERM"), Arm("GroupDRO", "GroupDRO"), Arm("RGD", "RGD"))],
]

UNTESTABLE: list[Untestable] = [
    Untestable("RGD beats ERM on DomainBed's image datasets (PACS, VLCS, OfficeHome, TerraIncognita, DomainNet)",
               "+0.7 points (average)",
               "their images cannot be downloaded here, and ResNet-50 training on them needs GPUs"),
    Untestable("ALSO beats the baselines on split learning", "better (no single number)",
               "rgd_bench has no split-learning setup"),
]
