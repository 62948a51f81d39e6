"""What every trial of a sweep shares (:class:`SweepContext`), sent to trial actors with ``tune.with_parameters``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sweeper.cache.features import FeatureCache
from sweeper.cache.store import CachedStage, StageCache
from sweeper.config import NO_INTERMEDIATE, SweepConfig

#: Grouped ASHA's state in the output folder (``sweeper.ray_adapter.scheduling``), read back by ``sweeper resume``.
ASHA_STATE_FILE = "asha_state.json"


@dataclass(frozen=True)
class SweepContext:
    """What every trial of a sweep shares (sent to trial actors with ``tune.with_parameters``)."""

    config: SweepConfig
    data_dir: Path | None
    model_source: str
    output_dir: Path
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    #: the intermediate stages in the stage cache (``stage_cache.cached_intermediate_stages``)
    stages: tuple[CachedStage, ...]
    #: Ray Tune / Train storage of this sweep (``storage.ray_storage``): a folder or a URI
    ray_storage: str
    #: where target, zero-shot and retrieval stages live (``stage_cache.sweep_stage_cache``)
    cache: StageCache

    def stage(self, task: str) -> CachedStage | None:
        """The cached stage named ``task`` in ``intermediate_tasks`` (a task id or multi-task
        name); ``None`` for ``none`` (the pretrained model)."""
        if task == NO_INTERMEDIATE:
            return None
        return next(stage for stage in self.stages if stage.task == task)

    def init_from(self, intermediate: str) -> Path | None:
        """The encoder a trial of ``intermediate`` starts from; ``None``: the pretrained model."""
        stage = self.stage(intermediate)
        return None if stage is None else stage.path

    def producer(self) -> dict[str, str]:
        """What a published stage records about the sweep that produced it."""
        return {"sweep": self.config.name, "parent_run_id": self.parent_run_id, "output_dir": str(self.output_dir)}

    @property
    def feature_cache(self) -> FeatureCache | None:
        """Where stages cache their tokenized training sets and evaluation splits
        (``storage.cache_features``), beside the stage cache; ``None`` when that is off."""
        if not self.config.storage.cache_features:
            return None
        return FeatureCache(self.cache.root, self.cache.model)

    @property
    def asha_state_path(self) -> Path:
        return self.output_dir / ASHA_STATE_FILE
