"""Rankings of a sweep's intermediate tasks per target, and the cells ``search.prune`` keeps (pure).

A :class:`TargetRanking` is computed by :mod:`sweeper.training.ranking` (LogME, You et al., ICML
2021) or, for retrieval targets, from their dev evaluations; this module orders, serialises and
prints rankings, and decides which (intermediate, target) cells a pruned sweep trains
(:func:`prune_cells`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from sweeper.config import NO_INTERMEDIATE

LOGME = "logme"


@dataclass(frozen=True)
class RankedCell:
    """One (intermediate, target) cell's rank score.

    Attributes:
        intermediate_task: the encoder (``none``: the pretrained model).
        score: the ranking method's score (LogME: mean evidence per example in nats; a dev
            metric: 0–100); higher is better, comparable only within one target. rank: 1 = best.
    """

    intermediate_task: str
    score: float
    rank: int


@dataclass(frozen=True)
class TargetRanking:
    """A target's intermediate encoders, best first.

    Attributes:
        method: ``logme``, ``dev_<metric>`` (a retrieval target's own dev metric, e.g. ``dev_f1``), or ``None`` when the target is
            not ranked (``note`` says why).
        examples: examples scored (LogME: English training examples featurized).
    """

    target_task: str
    method: str | None
    cells: tuple[RankedCell, ...]
    examples: int = 0
    note: str = ""

    def score_of(self, intermediate: str) -> float | None:
        return next((cell.score for cell in self.cells if cell.intermediate_task == intermediate), None)

    def top(self, keep: int) -> list[str]:
        """The ``keep`` best-ranked intermediate tasks other than ``none``."""
        return [cell.intermediate_task for cell in self.cells if cell.intermediate_task != NO_INTERMEDIATE][:keep]


def ordered(target: str, scores: Mapping[str, float], examples: int, method: str = LOGME) -> TargetRanking:
    """``scores`` (intermediate → score) as a ranking: higher first, ties to ``none`` then by name
    (as :func:`sweeper.results.selection.select_best_intermediate` breaks ties)."""
    names = sorted(scores, key=lambda name: (-round(scores[name], 9), name != NO_INTERMEDIATE, name))
    cells = tuple(RankedCell(name, scores[name], rank) for rank, name in enumerate(names, start=1))
    return TargetRanking(target, method, cells, examples)


def to_json(rankings: Mapping[str, TargetRanking]) -> dict:
    return {target: asdict(ranking) for target, ranking in rankings.items()}


def from_json(payload: Mapping) -> dict[str, TargetRanking]:
    """The inverse of :func:`to_json`."""
    return {
        target: TargetRanking(
            target_task=item["target_task"],
            method=item["method"],
            examples=item["examples"],
            note=item["note"],
            cells=tuple(RankedCell(**cell) for cell in item["cells"]),
        )
        for target, item in payload.items()
    }


def _method_label(ranking: TargetRanking) -> str:
    if ranking.method == LOGME:
        return f"LogME on {ranking.examples} English training examples"
    return f"{ranking.method.replace('_', ' ')} of each encoder, evaluated directly by the retrieval stage (no training)"


def to_markdown(rankings: Mapping[str, TargetRanking]) -> str:
    """One table per target: rank, intermediate task, score."""
    lines = []
    for target, ranking in rankings.items():
        lines.append(f"## {target}\n")
        if ranking.method is None:
            lines.append(f"Not ranked: {ranking.note}.\n")
            continue
        header = "LogME" if ranking.method == LOGME else ranking.method.replace("_", " ")
        lines += [f"{_method_label(ranking)}.\n", f"| rank | intermediate task | {header} |", "|---:|---|---:|"]
        lines += [f"| {cell.rank} | {cell.intermediate_task} | {cell.score:.4f} |" for cell in ranking.cells]
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class TargetPrune:
    """What ``search.prune`` decided for one trained target.

    Attributes:
        kept: the intermediate tasks whose cells are trained (the ``keep`` best-ranked, and
            ``none`` when the sweep has it), in rank order; every one when the target is not ranked.
        pruned: the cells not trained, best-ranked first, each with its rank score and rank.
        method: the ranking method (``logme``), ``None`` when the target could not be ranked
            (``note`` says why; nothing is pruned then).
    """

    target_task: str
    kept: tuple[str, ...]
    pruned: tuple[RankedCell, ...]
    method: str | None
    keep: int
    note: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: Mapping) -> TargetPrune:
        return cls(
            target_task=payload["target_task"],
            kept=tuple(payload["kept"]),
            pruned=tuple(RankedCell(**cell) for cell in payload["pruned"]),
            method=payload["method"],
            keep=payload["keep"],
            note=payload["note"],
        )


def prune_cells(rankings: Mapping[str, TargetRanking], intermediate_tasks: Sequence[str], keep: int) -> dict[str, TargetPrune]:
    """Per ranked target, the ``keep`` best-ranked intermediate tasks other than ``none``, plus
    ``none`` when ``intermediate_tasks`` has it (the baseline every delta is measured against);
    the rest are pruned. A target without a ranking (``method`` ``None``) keeps every cell.

    Args:
        rankings: target → ranking of every task in ``intermediate_tasks`` (trained targets only).
        intermediate_tasks: the sweep's ``intermediate_tasks`` (kept in this order).
        keep: ``search.prune.keep`` (≥ 1).

    Raises:
        ValueError: a ranked target's ranking does not cover exactly ``intermediate_tasks``.
    """
    decisions = {}
    for target, ranking in rankings.items():
        if ranking.method is None:
            decisions[target] = TargetPrune(target, tuple(intermediate_tasks), (), None, keep, ranking.note)
            continue
        ranked = {cell.intermediate_task for cell in ranking.cells}
        if ranked != set(intermediate_tasks):
            raise ValueError(f"the ranking of {target} covers {sorted(ranked)}, not the sweep's {sorted(intermediate_tasks)}")
        top = set(ranking.top(keep)) | ({NO_INTERMEDIATE} & ranked)
        kept = tuple(cell.intermediate_task for cell in ranking.cells if cell.intermediate_task in top)
        pruned = tuple(cell for cell in ranking.cells if cell.intermediate_task not in top)
        decisions[target] = TargetPrune(target, kept, pruned, ranking.method, keep)
    return decisions


def kept_cells(pruning: Mapping[str, TargetPrune]) -> dict[str, tuple[str, ...]]:
    """Target → the intermediate tasks it trains (the ``kept`` of :func:`sweeper.sweep.grid.target_cells`)."""
    return {target: decision.kept for target, decision in pruning.items()}


def pruning_markdown(pruning: Mapping[str, TargetPrune]) -> list[str]:
    """The report's statement of a pruned grid: per target, the cells kept and each pruned cell's
    rank score (empty when nothing was pruned)."""
    if not pruning:
        return []
    keep = next(iter(pruning.values())).keep
    lines = [
        "## Pruned grid",
        "",
        (
            f"`search.prune` (LogME, keep {keep}): each target's selection ran over a pruned grid, only the "
            f"{keep} intermediate task(s) LogME ranked best on the target's English training data (and `none`) "
            "were trained; the pruned cells were never trained, so their scores are unknown."
        ),
        "",
        "| target | kept (rank order) | pruned cells: LogME (rank) |",
        "|---|---|---|",
    ]
    for target, decision in pruning.items():
        if decision.method is None:
            lines.append(f"| {target} | all ({', '.join(decision.kept)}) | not ranked: {decision.note} |")
            continue
        pruned = ", ".join(f"`{cell.intermediate_task}` {cell.score:.4f} ({cell.rank})" for cell in decision.pruned)
        lines.append(f"| {target} | {', '.join(decision.kept)} | {pruned or '–'} |")
    return [*lines, ""]
