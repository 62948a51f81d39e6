"""The configuration's vocabulary: the baseline name, what trials report to the scheduler, selection policies and seed aggregations."""

from __future__ import annotations

NO_INTERMEDIATE = "none"


#: Ray Tune's ``time_attr`` of the target phase: the count of English-dev evaluations.
TIME_ATTR = "evaluation"


#: What a trial reports after each evaluation: its selection metric on English dev, 0–100.
METRIC = "score"


#: ``selection.policy`` values, and ``none`` for a target with no dev set (Tatoeba).
ENGLISH_DEV = "english_dev"


TARGET_DEV = "target_dev"


NO_SELECTION = "none"


#: ``selection.seeds`` values: the single best trial, or the best configuration by mean over seeds.
SEEDS_BEST = "best"


SEEDS_MEAN = "mean"


#: The member of a multi-task stage that is continued masked language modelling, not a task id.
MLM_MEMBER = "mlm"
