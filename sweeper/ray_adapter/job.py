"""The typed hand-off from a Tune trial to its Ray Train workers: one :class:`StageJob` per
``TorchTrainer`` run, carrying the trial's resolved settings once (the workers validate nothing
again).

Kept light on purpose: the Train controller unpickles it, so it imports no torch or MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from sweeper.cache.features import FeatureCache
from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.registry import TaskSpec
from sweeper.sweep.multitask import MultitaskStage

#: What a Train run does: train an intermediate or target stage, evaluate a cached target model
#: zero-shot (``zero_shot``), or evaluate an encoder on a retrieval task (``retrieval``).
StageKind = Literal["intermediate", "target", "zero_shot", "retrieval"]


@dataclass(frozen=True)
class Publication:
    """Where a stage's output is published in the stage cache, and the record its marker keeps."""

    folder: Path
    record: Mapping[str, Any]


@dataclass(frozen=True)
class StageJob:
    """One Ray Train run of a trial, as its workers receive it (``train_loop_config={"job": job}``).

    Attributes:
        stage: what the run does (:data:`StageKind`).
        task: the task, ``task_overrides`` applied; ``None`` for a multi-task stage.
        settings: the stage's training settings, the trial's searched values and seed applied.
        model_source: the resolved pretrained model (a local folder or Hub id).
        init_from: the encoder or model the run starts from (an intermediate encoder, a cached
            target model for ``zero_shot``); ``None``: the pretrained model.
        data_dir: local data (``None``: the Hub).
        output_dir: the trial's folder (Trainer checkpoints, predictions).
        tracking_uri / run_id: the trial's MLflow run (rank 0 logs to it: metrics, params and tags
            through the sweep's tracking service, the Ray actor named ``tracking_service``, and
            files with its own MLflow client).
        zero_shot: the sweep's zero-shot evaluation settings (target, zero_shot, retrieval).
        target_dev_languages: languages scored on the target-language dev split (target, zero_shot).
        encoder: where an intermediate stage's encoder is published.
        target_stage: where a target stage's best model and evaluations are published (``None``:
            not cached).
        evaluation: where the zero-shot or retrieval evaluation is published (``None``: not cached).
        best_score: the cached target stage's best English-dev score, 0–100 (``zero_shot`` only).
        multitask: the multi-task intermediate stage to train (``task`` is then ``None``).
        gpu_fraction: the share of one GPU each worker was given (``resources``, trial packing: 1/N).
        cpus_per_worker: the CPUs each worker was given (``resources.cpus_per_worker``).
        feature_cache: where stages find or leave their tokenized training set and evaluation
            splits (``storage.cache_features``; ``None``: not cached).
    """

    stage: StageKind
    task: TaskSpec | None
    settings: TrainingConfig
    model_source: str
    init_from: Path | None
    data_dir: Path | None
    output_dir: Path
    tracking_uri: str
    tracking_service: str
    run_id: str = ""
    zero_shot: ZeroShotConfig | None = None
    target_dev_languages: tuple[str, ...] = ()
    encoder: Publication | None = None
    target_stage: Publication | None = None
    evaluation: Publication | None = None
    best_score: float | None = None
    multitask: MultitaskStage | None = None
    gpu_fraction: float = 1.0
    cpus_per_worker: float = 1.0
    feature_cache: FeatureCache | None = None

    def for_run(self, run_id: str) -> StageJob:
        """This job logging to MLflow run ``run_id`` (known once the trial's run exists)."""
        return replace(self, run_id=run_id)

    def evaluating(self, best_model: Path, best_score: float) -> StageJob:
        """The ``zero_shot`` job that evaluates a cached target stage's ``best_model``."""
        return replace(self, stage="zero_shot", init_from=best_model, best_score=best_score)
