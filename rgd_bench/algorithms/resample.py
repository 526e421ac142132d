"""ReSample: ERM on batches drawn uniformly over groups, as SubpopBench's ``ReSample``
(its ``group_balanced`` sampling: with replacement, each example drawn with probability
proportional to ``1 / size of its group``).

Under the subpopulation and WILDS protocols the engine draws such batches for it
(``GROUP_BALANCED``, ``UNIFORM_OVER_GROUPS``), over the label x attribute groups (``--train_attr yes``) or the
classes (``no``).  Under DomainBed's protocol each training environment already gives an
equal share of every batch, so ReSample there is ERM."""
from __future__ import annotations

from rgd_bench.algorithms.erm import ERM
from rgd_bench.registry import ALGORITHMS


@ALGORITHMS.register()
class ReSample(ERM):
    UNIFORM_OVER_GROUPS = GROUP_BALANCED = True
