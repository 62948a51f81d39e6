"""`sweeper plan`: what a sweep would run, and roughly what it would cost, before anything starts.

Pure (no Ray, no MLflow, no torch): the stage graph of a :class:`~sweeper.config.SweepConfig`
(intermediate stages → target trials → zero-shot evaluation; retrieval targets evaluated on
every encoder), the trials per stage, which intermediate encoders the shared stage cache already
holds (reused, not retrained, whichever sweep trained them), and under grid search which target
trials and retrieval evaluations it holds (replayed, not trained again), optimizer steps and an upper bound
of training tokens (epoch-based stages counted from the local training data), disk in use, and
what data ``sweeper run`` will need that is not there.

With ``search.prune``, the target trials kept and skipped per target: when every intermediate
encoder is cached, the ranking ``run`` would compute is computed now (LogME forward passes,
no training, nothing written; :func:`prune_plan`); otherwise the prune happens at run time and the
counts are bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sweeper.cache.fingerprints import FINGERPRINTS_FILE, model_identity
from sweeper.cache.store import CachedStage, StageCache, locate_stage, stage_cache_root, sweep_stage_cache
from sweeper.commands.prune import PrunePlan, prune_lines, prune_plan
from sweeper.config import NO_INTERMEDIATE, SweepConfig, TrainingConfig, total_optimizer_steps
from sweeper.data.sources import load_split
from sweeper.errors import SweeperError
from sweeper.models.cache import cache_root as model_cache_root
from sweeper.registry import TRAIN_LANGUAGE, TaskSpec, zero_shot_languages
from sweeper.results.ranking import kept_cells
from sweeper.storage import human_bytes, local_bytes, ray_storage
from sweeper.sweep.grid import (
    IntermediateStage,
    grid_trial_configs,
    intermediate_stages,
    retrieval_evaluations,
    target_settings,
    trained_targets,
    trials_per_cell,
)
from sweeper.sweep.multitask import MultitaskStage
from sweeper.sweep.packing import target_packings
from sweeper.sweep.packing_report import packing_lines
from sweeper.sweep.tasks import resolve_task
from sweeper.sweep.validation import data_problems

#: Task types whose training features can outnumber the examples (a long context is cut into
#: several ``doc_stride`` windows): counted steps are then a lower bound.
WINDOWED_TYPES = ("span_qa",)


@dataclass(frozen=True)
class Cost:
    """Training cost of one run at its stage settings.

    Attributes:
        steps: optimizer steps: ``max_steps``, or counted from the training examples of an
            epoch-based run; ``None`` when the data could not be counted (no local data).
        tokens: upper bound of training tokens: steps × effective batch × ``max_seq_length``
            (padding to the longest sequence of a batch makes the real count lower); ``None``
            with ``steps``.
        at_least: the counts are lower bounds (QA: a context may give several windows).
        examples: the training examples counted (``None``: not counted).
    """

    steps: int | None
    tokens: int | None
    at_least: bool = False
    examples: int | None = None


def stage_cost(task: TaskSpec | None, settings: TrainingConfig, num_workers: int, data_dir: Path | None) -> Cost:
    """The :class:`Cost` of one run of ``task`` with ``settings`` on ``num_workers`` workers.

    Epoch-based runs read the task's English training data with the real readers (from
    ``data_dir``; ``max_train_examples`` applied) to count the examples; without local data, or
    with files missing, the cost is unknown (``None``). ``task`` ``None``: a multi-task stage,
    whose epoch-based cost is not counted (its members' features are mixed by sampling).
    """
    batch = settings.optimizer_batch * num_workers
    if settings.max_steps is not None:
        return Cost(settings.max_steps, settings.max_steps * batch * settings.max_seq_length)
    if data_dir is None or task is None:
        return Cost(None, None)
    try:
        examples = len(load_split(task, "train", data_dir, TRAIN_LANGUAGE, settings.max_train_examples))
    except SweeperError:  # missing files: listed by data_problems as what `run` will need
        return Cost(None, None)
    steps = total_optimizer_steps(examples, settings, num_workers)
    return Cost(steps, steps * batch * settings.max_seq_length, task.task_type in WINDOWED_TYPES, examples)


@dataclass(frozen=True)
class IntermediatePlan:
    """One intermediate stage: its task (or multi-task stage name), stage cache folder, whether it
    is cached, its cost; a multi-task stage also lists its members and sampling.

    ``encoder_dir`` and ``cached`` are ``None`` when its data is missing (the key hashes the data).
    """

    task: str
    encoder_dir: Path | None
    cached: bool | None
    cost: Cost
    members: tuple[str, ...] = ()
    sampling: str | None = None

    @property
    def label(self) -> str:
        """``task``, or ``name (multi-task: a, b; <sampling> sampling)``."""
        if not self.members:
            return self.task
        return f"{self.task} (multi-task: {', '.join(self.members)}; {self.sampling} sampling)"


@dataclass(frozen=True)
class TargetPlan:
    """One trained target: trials = intermediate tasks × ``trials_per_cell``; ``cost`` per trial;
    ``cached``: how many of them the stage cache holds (replayed, not trained), ``None`` when
    that is unknown (random/optuna search, data missing, or ``storage.cache_target_stages`` off)."""

    task: str
    trials: int
    cost: Cost
    cached: int | None = None
    #: trials ``search.prune`` skips (cells not trained × trials per cell)
    skipped: int = 0

    @property
    def to_train(self) -> int:
        return self.trials - (self.cached or 0)


@dataclass(frozen=True)
class SweepPlan:
    """What ``sweeper run`` would do with the same configuration, data and stage cache.

    Attributes:
        intermediate: the intermediate stages (``none`` has none), in config order.
        targets: the trained targets; each trial also runs the zero-shot evaluation.
        trials_per_cell: target trials per (intermediate, target) cell (search × seeds).
        retrieval_evaluations: one per (intermediate task incl. ``none``, retrieval target).
        retrieval_cached: how many of them the stage cache holds; ``None``: unknown (as
            :attr:`TargetPlan.cached`).
        cache_unknown: why the cached target trials (and retrieval evaluations, unless only the
            search is the reason) are not counted; ``None`` when they are.
        stage_cache: the stage cache folder, and ``stage_cache_bytes`` its disk use now.
        ray_storage: where Ray Tune / Train would keep the sweep's experiments.
        data_problems: what ``run`` needs and is missing (messages); empty when all is there.
        prune: how ``search.prune`` was applied (``None`` without it): the decision per target
            (``pruning``), or why it is only known at run time (``pending``; trials are then
            upper bounds and skipped trials lower bounds).
    """

    intermediate: list[IntermediatePlan]
    targets: list[TargetPlan]
    trials_per_cell: int
    retrieval_evaluations: int
    stage_cache: Path
    stage_cache_bytes: int
    ray_storage: str
    data_problems: list[str]
    retrieval_cached: int | None = None
    cache_unknown: str | None = None
    #: trained target → GPU packing, or why none (``resources.use_gpu`` only; :mod:`sweeper.sweep.packing`)
    packings: dict = field(default_factory=dict)
    prune: PrunePlan | None = None

    @property
    def intermediate_to_train(self) -> int:
        return sum(not stage.cached for stage in self.intermediate)

    def _costs(self) -> list[tuple[Cost, int]]:
        costs = [(stage.cost, 1) for stage in self.intermediate if not stage.cached]
        return costs + [(target.cost, target.to_train) for target in self.targets]

    @property
    def target_trials(self) -> int:
        return sum(target.trials for target in self.targets)

    @property
    def target_trials_to_train(self) -> int:
        return sum(target.to_train for target in self.targets)

    @property
    def target_trials_cached(self) -> int | None:
        """Target trials the stage cache holds; ``None`` when unknown for some target."""
        counts = [target.cached for target in self.targets]
        return None if None in counts else sum(counts)

    def total_steps(self) -> int | None:
        """Optimizer steps of everything still to train, at most (ASHA stops trials earlier);
        ``None`` when some stage's count is unknown."""
        costs = self._costs()
        if any(cost.steps is None for cost, _ in costs):
            return None
        return sum(cost.steps * count for cost, count in costs)

    def total_tokens(self) -> int | None:
        """Upper bound of training tokens of everything still to train; ``None`` as :meth:`total_steps`."""
        costs = self._costs()
        if any(cost.tokens is None for cost, _ in costs):
            return None
        return sum(cost.tokens * count for cost, count in costs)

    @property
    def totals_at_least(self) -> bool:
        """Whether the totals include lower-bound counts (QA windows)."""
        return any(cost.at_least for cost, _ in self._costs())


def build_plan(config: SweepConfig, output_dir: Path, data_dir: Path | None, model_source: str) -> SweepPlan:
    """The plan of ``config`` writing to ``output_dir`` with the data under ``data_dir`` (``None``:
    the Hub) and the resolved ``model_source`` (read only: nothing is created, except fingerprints
    of data and model files remembered in the stage cache).

    Target trials use the stage settings of ``target`` + the task's ``training_overrides``; with
    a searched batch size, epochs or sequence length, the cost is that of the stage's own values.
    """
    workers = config.resources.num_workers
    root = stage_cache_root(config)
    model = model_identity(model_source, root / FINGERPRINTS_FILE)
    problems = data_problems(config, data_dir)
    intermediate, encoders = [], {NO_INTERMEDIATE: None}
    for stage in intermediate_stages(config):
        try:
            located = locate_stage(stage, root, model, data_dir, workers)
        except (FileNotFoundError, SweeperError):  # its data is missing (in problems): no key, no cache lookup
            located = None
        encoders[stage.name] = located
        task = None if isinstance(stage, MultitaskStage) else stage.task
        intermediate.append(
            IntermediatePlan(
                task=stage.name,
                encoder_dir=located.path if located else None,
                cached=located.complete if located else None,
                cost=stage_cost(task, stage.settings, workers, data_dir),
                **_multitask_fields(stage),
            )
        )
    per_cell = trials_per_cell(config)
    located = [stage for name, stage in encoders.items() if name != NO_INTERMEDIATE]
    prune = prune_plan(config, model_source, data_dir, located, bool(problems))
    pending = prune is not None and prune.pending is not None
    cache = _target_stage_cache(config, model_source, data_dir, located)
    kept = kept_cells(prune.pruning) if prune else None
    cached = _cached_target_trials(config, cache, encoders, kept) if cache and not pending else {}
    cells = prune.cells if prune else {}
    everything = len(config.intermediate_tasks)
    targets = [
        TargetPlan(
            target,
            cells.get(target, everything) * per_cell,
            stage_cost(resolve_task(config, target), config.stage_training("target", target), workers, data_dir),
            cached.get(target),
            (everything - cells.get(target, everything)) * per_cell,
        )
        for target in trained_targets(config)
    ]
    return SweepPlan(
        intermediate,
        targets,
        per_cell,
        len(retrieval_evaluations(config)),
        root,
        local_bytes(root),
        ray_storage(config, output_dir),
        [str(problem) for problem in problems],
        _cached_retrieval_evaluations(config, cache, encoders) if cache else None,
        _cache_unknown(config, cache) or ("cached: unknown until the prune" if pending else None),
        target_packings(config, model_source, model_cache_root()) if config.resources.use_gpu else {},
        prune,
    )


def _cache_unknown(config: SweepConfig, cache: StageCache | None) -> str | None:
    if not config.storage.cache_target_stages:
        return "not cached: storage.cache_target_stages is false"
    if cache is None:
        return "cached: unknown, data missing"
    if config.search.algorithm != "grid":  # as grid_trial_configs: no trial is known before it is sampled
        return f"cached: unknown before `{config.search.algorithm}` search samples the trials"
    return None


def _target_stage_cache(
    config: SweepConfig, model_source: str, data_dir: Path | None, located: list[CachedStage | None]
) -> StageCache | None:
    """The sweep's :class:`StageCache`; ``None`` when target stages are not cached, or when some
    data (hence some key) is missing."""
    if not config.storage.cache_target_stages or None in located:
        return None
    try:
        return sweep_stage_cache(config, model_source, data_dir)
    except (FileNotFoundError, SweeperError):  # missing files: listed by data_problems
        return None


def _cached_target_trials(
    config: SweepConfig, cache: StageCache, encoders: dict[str, CachedStage | None], kept: dict[str, tuple[str, ...]] | None
) -> dict[str, int]:
    """Trained target → how many of its grid trials' target stages (of the ``kept`` cells, see
    :func:`sweeper.sweep.grid.target_cells`) the stage cache holds (empty under random/optuna
    search: the trials are not known before they are sampled)."""
    trials = grid_trial_configs(config, kept)
    if trials is None:
        return {}
    counts = dict.fromkeys(trained_targets(config), 0)
    for trial in trials:
        task = resolve_task(config, trial["target_task"])
        stage = cache.target_stage(
            encoders[trial["intermediate_task"]], trial["intermediate_task"], task, target_settings(config, trial)
        )
        counts[task.task] += stage.complete
    return counts


def _cached_retrieval_evaluations(config: SweepConfig, cache: StageCache, encoders: dict[str, CachedStage | None]) -> int:
    """How many of the sweep's retrieval evaluations the stage cache holds."""
    cached = 0
    for evaluation in retrieval_evaluations(config):
        intermediate, task = evaluation["intermediate_task"], resolve_task(config, evaluation["target_task"])
        entry = cache.retrieval(
            encoders[intermediate],
            intermediate,
            task,
            config.stage_training("target", task.task),
            zero_shot_languages(task, config.zero_shot),
            config.zero_shot.max_examples_per_language,
        )
        cached += entry.complete
    return cached


def _amount(value: int | None, at_least: bool = False) -> str:
    if value is None:
        return "data-dependent"
    return f"≥ {value:,}" if at_least else f"{value:,}"


def _status(stage: IntermediatePlan) -> str:
    if stage.cached is None:
        return "to train (data missing)"
    return "cached: reused" if stage.cached else "to train"


def _cached_count(count: int | None, unknown: str | None) -> str:
    """``"3 cached"``, or why the count is unknown."""
    return f"{count} cached" if count is not None else unknown


def _multitask_fields(stage: IntermediateStage | MultitaskStage) -> dict:
    if not isinstance(stage, MultitaskStage):
        return {}
    sampling = stage.sampling if stage.temperature is None else f"{stage.sampling} (T={stage.temperature:g})"
    return {"members": tuple(member.name for member in stage.members), "sampling": sampling}


def plan_lines(config: SweepConfig, plan: SweepPlan) -> list[str]:
    """The plan as Markdown lines (what ``sweeper plan`` prints)."""
    baseline = ["`none` (the pretrained model)"] if NO_INTERMEDIATE in config.intermediate_tasks else []
    cached = sum(bool(stage.cached) for stage in plan.intermediate)
    lines = [
        f"# sweeper plan: {config.name}",
        "",
        f"Model `{config.model}`; intermediate tasks {', '.join(baseline + [f'`{s.task}`' for s in plan.intermediate])}.",
        "",
        f"## 1. Intermediate stages: {len(plan.intermediate)} ({plan.intermediate_to_train} to train, {cached} cached)",
        "",
        "| task | status | training examples | steps | tokens (upper bound) | stage folder |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {s.label} | {_status(s)} | {_amount(s.cost.examples) if s.cost.examples is not None else '–'} | "
        f"{_amount(s.cost.steps, s.cost.at_least)} | {_amount(s.cost.tokens, s.cost.at_least)} | "
        f"{f'`{s.encoder_dir}`' if s.encoder_dir else '–'} |"
        for s in plan.intermediate
    ]
    grid = (
        f"{len(config.intermediate_tasks)} intermediate × {len(plan.targets)} trained target(s) × {plan.trials_per_cell} per cell"
    )
    prune = plan.prune
    if prune is not None:
        skipped = sum(target.skipped for target in plan.targets)
        grid += (
            f", pruned to the {prune.keep} intermediate task(s) LogME ranks best and `none` per target: "
            f"{'at least ' if prune.pending else ''}{skipped} skipped"
        )
    lines += [
        "",
        (
            f"## 2. Target trials: {'≤ ' if prune and prune.pending else ''}{plan.target_trials} ({grid}, `{config.search.algorithm}` "
            f"search × seeds; {_cached_count(plan.target_trials_cached, plan.cache_unknown)}), each followed by zero-shot evaluation"
        ),
        "",
        "| target | trials | "
        + ("skipped (pruned) | " if prune else "")
        + "cached | training examples | steps per trial | tokens per trial (upper bound) |",
        "|---|---|---|---|---|---|" + ("---|" if prune else ""),
    ]
    lines += [
        f"| {t.task} | {'≤ ' if prune and prune.pending else ''}{t.trials} | "
        + (f"{'≥ ' if prune.pending else ''}{t.skipped} | " if prune else "")
        + f"{'unknown' if t.cached is None else t.cached} | "
        f"{_amount(t.cost.examples) if t.cost.examples is not None else '–'} | "
        f"{_amount(t.cost.steps, t.cost.at_least)} | {_amount(t.cost.tokens, t.cost.at_least)} |"
        for t in plan.targets
    ]
    if prune is not None:
        lines += ["", *prune_lines(prune)]
    at_least = plan.totals_at_least
    steps, tokens = plan.total_steps(), plan.total_tokens()
    cost = (
        "data-dependent optimizer steps and training tokens"
        if steps is None
        else f"at most {_amount(steps, at_least)} optimizer steps and {_amount(tokens, at_least)} training tokens"
    )
    lines += [
        "",
        f"## 3. Retrieval evaluations (no training): {plan.retrieval_evaluations} ({_cached_count(plan.retrieval_cached, plan.cache_unknown)})",
        "",
        (
            f"**Total still to train**: {plan.intermediate_to_train} intermediate stage(s) + {plan.target_trials_to_train} "
            f"target trial(s); {cost} (ASHA stops trials earlier)."
        ),
        "",
        "Data-dependent: an epoch-based stage whose English training data is not available locally to count "
        "(pass --data-dir). ≥: a lower bound, QA contexts may give several windows. Tokens are an upper "
        "bound: steps × effective batch × max_seq_length.",
        "",
        "## Storage",
        "",
        f"- Stage cache: `{plan.stage_cache}` ({human_bytes(plan.stage_cache_bytes)} in use)",
        f"- Ray storage: `{plan.ray_storage}`",
    ]
    if plan.packings:
        tokens = {t.task: None if t.cost.tokens is None else t.cost.tokens * t.to_train for t in plan.targets}
        lines += packing_lines(config, plan.packings, tokens)
    if plan.data_problems:
        lines += ["", f"## Data `sweeper run` will need ({len(plan.data_problems)} missing)", ""]
        # `<data-dir>` in a message is no HTML tag: escaped so the Markdown renderer keeps it
        lines += [f"- {' '.join(problem.split())}".replace("<", "\\<") for problem in plan.data_problems]
    return lines
