"""Rank a sweep's intermediate encoders per target before training any target trial (``sweeper rank``).

Per trained target (classification, multiple choice, tagging, span QA), every intermediate encoder
of the sweep (``none``: the pretrained model) is scored by LogME on features of the target's
English training data (:mod:`sweeper.task_types.ranking`; You et al., ICML 2021): the first
``max_examples`` training examples, featurized with the target stage's settings, through the
frozen encoder. Higher LogME ranks first; ties go to ``none``, then by name (as selection does).
Retrieval targets (BUCC, Tatoeba) train nothing and are evaluated directly by the sweep; they are
listed as not ranked by LogME.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from sweeper.config import NO_INTERMEDIATE, SweepConfig
from sweeper.registry import TRAIN_LANGUAGE, is_retrieval

logger = logging.getLogger(__name__)

LOGME = "logme"
#: Training examples per target featurized for LogME when the configuration says nothing else.
DEFAULT_MAX_EXAMPLES = 2000


@dataclass(frozen=True)
class RankedCell:
    """One (intermediate, target) cell's rank score.

    Attributes:
        intermediate_task: the encoder (``none``: the pretrained model).
        score: LogME, mean evidence per example in nats (higher is better; comparable only
            within one target). rank: 1 = best.
    """

    intermediate_task: str
    score: float
    rank: int


@dataclass(frozen=True)
class TargetRanking:
    """A target's intermediate encoders, best first.

    Attributes:
        method: ``logme``, or ``None`` when the target is not ranked (``note`` says why).
        examples: English training examples featurized.
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


def ordered(target: str, scores: Mapping[str, float], examples: int) -> TargetRanking:
    """``scores`` (intermediate → LogME) as a ranking: higher first, ties to ``none`` then by name."""
    names = sorted(scores, key=lambda name: (-round(scores[name], 9), name != NO_INTERMEDIATE, name))
    cells = tuple(RankedCell(name, scores[name], rank) for rank, name in enumerate(names, start=1))
    return TargetRanking(target, LOGME, cells, examples)


def rank_intermediates(
    config: SweepConfig,
    model_source: str,
    data_dir: Path | None,
    encoders: Mapping[str, Path | None],
    max_examples: int,
) -> dict[str, TargetRanking]:
    """LogME of each encoder in ``encoders`` (intermediate task → finished encoder folder, ``None``
    for ``none``) for each target of ``config``.

    Raises:
        SweeperError: missing data files (as the sweep's validation names them).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    from sweeper.data.sources import load_split, resolve_labels
    from sweeper.sweep.tasks import resolve_task
    from sweeper.task_types.ranking import logme_score, supports_logme

    tokenizer = AutoTokenizer.from_pretrained(model_source)
    rankings = {}
    for target in config.target_tasks:
        spec = resolve_task(config, target)
        if is_retrieval(spec) or not supports_logme(spec):
            note = "retrieval target: evaluated directly by the sweep on its dev metric (no training to save)"
            rankings[target] = TargetRanking(target, None, (), note=note)
            continue
        spec = resolve_labels(spec, data_dir)
        settings = config.stage_training("target", target)
        examples = load_split(spec, "train", data_dir, TRAIN_LANGUAGE, max_examples)
        scores = {}
        for intermediate, encoder_dir in encoders.items():
            encoder = AutoModel.from_pretrained(str(encoder_dir or model_source))
            if torch.cuda.is_available():
                encoder = encoder.to("cuda")
            scores[intermediate] = logme_score(encoder, tokenizer, spec, examples, settings)
            logger.info("LogME %s → %s: %.4f", intermediate, target, scores[intermediate])
        rankings[target] = ordered(target, scores, len(examples))
    return rankings


def to_json(rankings: Mapping[str, TargetRanking]) -> dict:
    return {target: asdict(ranking) for target, ranking in rankings.items()}


def from_json(payload: Mapping) -> dict[str, TargetRanking]:
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


def to_markdown(rankings: Mapping[str, TargetRanking]) -> str:
    """One table per target: rank, intermediate task, LogME."""
    lines = []
    for target, ranking in rankings.items():
        lines.append(f"## {target}\n")
        if ranking.method is None:
            lines.append(f"Not ranked: {ranking.note}.\n")
            continue
        lines += [
            f"LogME on {ranking.examples} English training examples.\n",
            "| rank | intermediate task | LogME |",
            "|---:|---|---:|",
        ]
        lines += [f"| {cell.rank} | {cell.intermediate_task} | {cell.score:.4f} |" for cell in ranking.cells]
        lines.append("")
    return "\n".join(lines)
