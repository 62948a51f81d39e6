"""Rank a sweep's intermediate encoders per target before training any target trial (``sweeper rank``).

Per trained target (classification, multiple choice, tagging, span QA), every intermediate encoder
of the sweep (``none``: the pretrained model) is scored by LogME on features of the target's
English training data (:mod:`sweeper.task_types.ranking`; You et al., ICML 2021): the first
``max_examples`` training examples, featurized with the target stage's settings, through the
frozen encoder. Higher LogME ranks first; ties go to ``none``, then by name (as selection does).
Retrieval targets train nothing: with an ``output_dir``, a target with a dev split (BUCC) ranks
its encoders by their own dev metric, the mean over its zero-shot languages of the dev F1 that the
sweep's retrieval stage computes while tuning the margin threshold
(:func:`sweeper.training.stages.run_retrieval_stage`, also the selection's ``target_dev`` rule);
one without (Tatoeba) is not ranked ("no dev set").
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
    output_dir: Path | None = None,
) -> dict[str, TargetRanking]:
    """LogME of each encoder in ``encoders`` (intermediate task → finished encoder folder, ``None``
    for ``none``) for each of ``targets`` (default: every target of ``config``); task types LogME
    is not adapted to come back unranked (``method`` ``None``, with a note). Retrieval targets:
    :func:`rank_retrieval` with ``output_dir`` (its predictions go under ``output_dir/rank/``),
    unranked without.

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
        if is_retrieval(spec) and output_dir is not None:
            rankings[target] = rank_retrieval(config, model_source, data_dir, encoders, target, output_dir / "rank")
            continue
        if is_retrieval(spec) or not supports_logme(spec):
            note = (
                "retrieval target: evaluated directly by the sweep (no training to save)"
                if is_retrieval(spec)
                else f"LogME is not adapted to {spec.task_type} tasks"
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


def rank_retrieval(
    config: SweepConfig,
    model_source: str,
    data_dir: Path | None,
    encoders: Mapping[str, Path | None],
    target: str,
    output_dir: Path,
) -> TargetRanking:
    """A retrieval target's encoders ranked by its own dev metric, no training: each encoder is
    evaluated by the sweep's retrieval stage in the target's zero-shot languages (``zero_shot``
    settings), predictions under ``output_dir/<target>/<intermediate>``; the score is the mean
    over languages of the dev ``metric`` (BUCC: F1 of the mined pairs on dev, 0–100). A target
    without a dev split (Tatoeba) is returned unranked: "no dev set".

    Raises:
        SweeperError: missing data files.
    """
    from sweeper.registry import THRESHOLD_SPLIT, zero_shot_languages
    from sweeper.sweep.tasks import resolve_task
    from sweeper.training.stages import run_retrieval_stage

    spec = resolve_task(config, target)
    if THRESHOLD_SPLIT not in spec.splits or spec.zero_shot is None or spec.zero_shot.split == THRESHOLD_SPLIT:
        return TargetRanking(target, None, (), note="no dev set")
    languages = zero_shot_languages(spec, config.zero_shot)
    settings = config.stage_training("target", target)
    scores = {}
    for intermediate, encoder_dir in encoders.items():
        result = run_retrieval_stage(
            encoder_dir or model_source,
            model_source,
            spec,
            settings,
            data_dir,
            languages,
            config.zero_shot.max_examples_per_language,
            output_dir / target / intermediate,
        )
        scores[intermediate] = sum(result.dev_per_language[language][spec.metric] for language in languages) / len(languages)
        logger.info("dev %s %s → %s: %.2f", spec.metric, intermediate, target, scores[intermediate])
    return ordered(target, scores, 0, f"dev_{spec.metric}")


def stage_encoders(config: SweepConfig, stages: Sequence[CachedStage]) -> dict[str, Path | None]:
    """Intermediate task → its finished encoder folder in the stage cache (``none`` → ``None``,
    the pretrained model, when the sweep has it), in ``intermediate_tasks`` order."""
    folders = {stage.task: stage.path for stage in stages}
    return {task: None if task == NO_INTERMEDIATE else folders[task] for task in config.intermediate_tasks}
