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
from collections.abc import Mapping, Sequence
from pathlib import Path

from sweeper.cache.store import CachedStage
from sweeper.config import NO_INTERMEDIATE, SweepConfig
from sweeper.registry import TRAIN_LANGUAGE, is_retrieval
from sweeper.results.ranking import TargetRanking, ordered

logger = logging.getLogger(__name__)


def rank_intermediates(
    config: SweepConfig,
    model_source: str,
    data_dir: Path | None,
    encoders: Mapping[str, Path | None],
    max_examples: int,
    targets: Sequence[str] | None = None,
) -> dict[str, TargetRanking]:
    """LogME of each encoder in ``encoders`` (intermediate task → finished encoder folder, ``None``
    for ``none``) for each of ``targets`` (default: every target of ``config``); retrieval targets
    and task types LogME is not adapted to come back unranked (``method`` ``None``, with a note).

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
    for target in config.target_tasks if targets is None else targets:
        spec = resolve_task(config, target)
        if is_retrieval(spec) or not supports_logme(spec):
            note = (
                "retrieval target: evaluated directly by the sweep on its dev metric (no training to save)"
                if is_retrieval(spec) else f"LogME is not adapted to {spec.task_type} tasks"
            )
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


def stage_encoders(config: SweepConfig, stages: Sequence[CachedStage]) -> dict[str, Path | None]:
    """Intermediate task → its finished encoder folder in the stage cache (``none`` → ``None``,
    the pretrained model, when the sweep has it), in ``intermediate_tasks`` order."""
    folders = {stage.task: stage.path for stage in stages}
    return {task: None if task == NO_INTERMEDIATE else folders[task] for task in config.intermediate_tasks}
