"""The vocabulary of what a sweep tracks in MLflow: tag names and values, metric keys, artifact
folders. Written by the trial and driver code, read back by :mod:`sweeper.tracking.records`; both
sides use the names here, and metric keys are formatted and parsed only by this module.

Metric keys follow ``{stage}/{task}/{lang|avg}/{split}/{metric}`` on a 0–100 scale, e.g.
``target/panx/en/dev/f1`` or ``zero_shot/tydiqa/sw/dev/exact_match``.
"""

from __future__ import annotations

from typing import NamedTuple


class Tag:
    """Tag names of the sweep's runs (parent and nested trial runs)."""

    STAGE = "stage"
    INTERMEDIATE_TASK = "intermediate_task"
    TARGET_TASK = "target_task"
    LEARNING_RATE = "learning_rate"
    SEED = "seed"
    OUTCOME = "asha_outcome"
    ERROR = "error"
    ATTEMPTS = "attempts"
    RAY_TRIAL_ID = "ray_trial_id"
    STAGE_KEY = "stage_key"
    TARGET_STAGE = "target_stage"
    EVALUATION = "evaluation"
    SELECTION_METRIC = "selection_metric"
    SELECTION_POLICY = "selection_policy"
    SELECTION_SEEDS = "selection_seeds"
    ZERO_SHOT_SPLIT = "zero_shot_split"
    TARGET_DEV_SPLIT = "target_dev_split"
    SELECTED = "selected"
    WORLD_SIZE = "world_size"
    #: the Ray node (hex id) and its IP address that the trial's rank-0 Train worker ran on last
    NODE_ID = "node_id"
    NODE_IP = "node_ip"
    MULTITASK_MEMBERS = "multitask_members"
    MULTITASK_SAMPLING = "multitask_sampling"
    PARENT_RUN_ID = "mlflow.parentRunId"


class Outcome:
    """Values of :attr:`Tag.OUTCOME`: how a trial ended (``running`` while it has no tag yet)."""

    COMPLETED = "completed"
    EARLY_STOPPED = "early_stopped"
    FAILED = "failed"
    RUNNING = "running"


#: :attr:`Tag.STAGE` of the sweep's parent run.
PARENT_STAGE = "sweep"
#: Stages of the nested runs that hold a target's results (``retrieval``: BUCC/Tatoeba evaluations).
RESULT_STAGES = ("target", "retrieval")
#: A target trial's best English-dev score (its selection metric, 0–100).
SELECTION_KEY = "selection/english_dev"
#: Mean dev score over the target's languages that have a dev set (policy ``target_dev``; BUCC).
TARGET_DEV_KEY = "selection/target_dev"
#: Artifact folder of a completed target trial's best checkpoint (encoder + head, tokenizer).
CHECKPOINT_ARTIFACT = "best_checkpoint"
#: Alias of the registered model version that holds the selected trial's checkpoint.
MODEL_ALIAS = "best"
#: Per-language aggregate position in a metric key: the XTREME task score over languages.
AVERAGE = "avg"


#: Parent-run tag per target ``search.prune`` decided on: ``prune.<target>`` = the decision as JSON.
PRUNE_TAG_PREFIX = "prune."


def rank_metric_key(target: str, intermediate: str, method: str) -> str:
    """``rank/<target>/<intermediate>/<method>``: one cell's rank score (method ``logme`` or ``dev_<metric>``)."""
    return f"rank/{target}/{intermediate}/{method}"


class MetricKey(NamedTuple):
    """The five parts of a metric key: ``{stage}/{task}/{language}/{split}/{metric}``."""

    stage: str
    task: str
    language: str
    split: str
    metric: str


def metric_key(stage: str, task: str, language: str, split: str, metric: str) -> str:
    """``{stage}/{task}/{lang|avg}/{split}/{metric}``, e.g. ``zero_shot/panx/de/dev/f1``."""
    return "/".join(MetricKey(stage, task, language, split, metric))


def parse_metric_key(key: str) -> MetricKey | None:
    """The parts of a key written by :func:`metric_key`; ``None`` for any other key
    (``selection/english_dev``, ``disk/...``)."""
    parts = key.split("/")
    return MetricKey(*parts) if len(parts) == len(MetricKey._fields) else None
