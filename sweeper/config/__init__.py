"""Sweep configuration: ``search_spaces/*.yaml`` plus ``key=value`` overrides → :class:`SweepConfig`.

Validated once, at the boundary (:func:`load_config`); everything downstream receives typed, frozen
objects. Hyperparameters use Hugging Face ``TrainingArguments`` names, scheduling uses Ray Tune names.
The public names of the modules of this package are importable from here.
"""

from sweeper.config.base import stable_hash
from sweeper.config.loading import apply_overrides, load_config, validate_mapping
from sweeper.config.multitask import MlmConfig, MultitaskConfig, MultitaskMember
from sweeper.config.names import (
    ENGLISH_DEV,
    METRIC,
    MLM_MEMBER,
    NO_INTERMEDIATE,
    NO_SELECTION,
    SEEDS_BEST,
    SEEDS_MEAN,
    TARGET_DEV,
    TIME_ATTR,
)
from sweeper.config.search import (
    DISTRIBUTIONS,
    RANK_EXAMPLES,
    SEARCHABLE_SETTINGS,
    Distribution,
    ParamSpace,
    PruneConfig,
    SchedulerConfig,
    SearchConfig,
    parse_distribution,
)
from sweeper.config.sections import (
    REMOTE_STORAGE_SCHEMES,
    ReportConfig,
    ResourcesConfig,
    SelectionConfig,
    StorageConfig,
    TrackingConfig,
    ZeroShotConfig,
    check_benchmark,
    check_storage_path,
)
from sweeper.config.sweep import SweepConfig
from sweeper.config.training import FEATURIZATION_SETTINGS, TrainingConfig, total_optimizer_steps

__all__ = [
    "DISTRIBUTIONS",
    "Distribution",
    "ENGLISH_DEV",
    "FEATURIZATION_SETTINGS",
    "METRIC",
    "MLM_MEMBER",
    "MlmConfig",
    "MultitaskConfig",
    "MultitaskMember",
    "NO_INTERMEDIATE",
    "NO_SELECTION",
    "ParamSpace",
    "REMOTE_STORAGE_SCHEMES",
    "ReportConfig",
    "ResourcesConfig",
    "SEARCHABLE_SETTINGS",
    "SEEDS_BEST",
    "SEEDS_MEAN",
    "SchedulerConfig",
    "PruneConfig",
    "RANK_EXAMPLES",
    "SearchConfig",
    "SelectionConfig",
    "StorageConfig",
    "SweepConfig",
    "TARGET_DEV",
    "TIME_ATTR",
    "TrackingConfig",
    "TrainingConfig",
    "ZeroShotConfig",
    "apply_overrides",
    "check_benchmark",
    "check_storage_path",
    "load_config",
    "validate_mapping",
    "parse_distribution",
    "stable_hash",
    "total_optimizer_steps",
]
