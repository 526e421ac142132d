"""Refactorings move code, never results: a fixed set of runs (``record_digests.runs``) gives
the records the fixture holds.

Bit for bit (the same digest) where the machine computes as the one that wrote the fixture
(same torch, CPU and CPU kernels, which are forced to the fixture's family); elsewhere float
rounding differs in the last bits, so every value must be within a tolerance instead.
"""
from __future__ import annotations

import json

import pytest

from record_digests import FIXTURE, compute, digest, machine

CROSS_MACHINE_TOLERANCE = 0.10  # as tests/test_shipped_reports.py: a few examples may flip


def _close(ours, theirs, where: str) -> None:
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), where
        for key in theirs:
            _close(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, abs=CROSS_MACHINE_TOLERANCE, rel=CROSS_MACHINE_TOLERANCE), where
    else:
        assert ours == theirs, where


@pytest.mark.slow
def test_the_fixed_runs_give_the_recorded_digests(tmp_path):
    with open(FIXTURE, encoding="utf-8") as f:
        fixture = json.load(f)
    kernels = fixture["machine"]["CPU kernels"]
    computed = compute(str(tmp_path), kernels)
    assert set(computed) == set(fixture["runs"])
    here = machine(kernels)
    if all(here[k] == fixture["machine"][k] for k in ("PyTorch", "CPU kernels", "CPU")):
        changed = sorted(name for name, records in computed.items() if digest(records) != fixture["runs"][name]["digest"])
        assert changed == []
    else:
        for name, records in computed.items():
            expected = fixture["runs"][name]["records"]
            assert len(records) == len(expected), name
            for ours, theirs in zip(records, expected):
                _close(ours, theirs, f"{name} step {theirs['step']}")


def test_a_changed_record_changes_its_digest():
    with open(FIXTURE, encoding="utf-8") as f:
        run = json.load(f)["runs"]["ERM-SpuriousTabular"]
    assert digest(run["records"]) == run["digest"]
    run["records"][-1]["env0_in_acc"] += 1e-12
    assert digest(run["records"]) != run["digest"]
