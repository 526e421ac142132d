"""The paper-check report as Markdown: one row per claim, then each arm's own scores."""
from __future__ import annotations

from rgd_bench.paper_checks.claims import UNTESTABLE
from rgd_bench.paper_checks.measure import NOT_TESTABLE, Interval, Outcome
from rgd_bench.report.formats.escape import markdown as md


def _cell(interval: Interval | None) -> str:
    return "-" if interval is None else interval.text()


def _score(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    return f"{interval.mean:.1f} [{interval.low:.1f}, {interval.high:.1f}]"


def render(outcomes: list[Outcome], header: list[str], notes: list[str]) -> str:
    lines = [*header, "",
             "| Claim | Paper | Setting here | Result here: difference, points (95% CI) | Verdict |",
             "|---|---|---|---|---|"]
    for o in outcomes:
        c = o.claim
        result = f"{md(c.method.label)} minus {md(c.baseline.label)}, {md(c.metric)}: {_cell(o.difference)}"
        lines.append(f"| {md(c.paper)} | {md(c.paper_number)} | {md(c.setting)} "
                     f"| {result} | **{o.verdict}** ({md(o.why)}) |")
    for u in UNTESTABLE:
        lines.append(f"| {md(u.paper)} | {md(u.paper_number)} | - | - "
                     f"| **{NOT_TESTABLE}** ({md(u.reason)}) |")
    lines += ["", "Each arm's own score (percent, mean and 95% CI over seeds):", "",
              "| Claim | Method | Score | Baseline | Score |", "|---|---|---|---|---|"]
    for o in outcomes:
        c = o.claim
        lines.append(f"| {md(c.key)} | {md(c.method.label)} | {_score(o.method)} "
                     f"| {md(c.baseline.label)} | {_score(o.baseline)} |")
    if notes:
        lines += ["", *[f"- {md(n)}" for n in notes]]
    return "\n".join(lines) + "\n"
