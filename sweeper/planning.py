"""`sweeper plan`: what a sweep would run, and roughly what it would cost, before anything starts.

Pure (no Ray, no MLflow, no torch): the stage graph of a :class:`~sweeper.config.SweepConfig`
(intermediate stages → target trials → zero-shot evaluation; retrieval targets evaluated on
every encoder), the trials per stage, which intermediate encoders the output folder already
holds (reused, not retrained), and an upper bound of optimizer steps and training tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sweeper.config import NO_INTERMEDIATE, SweepConfig, TrainingConfig
from sweeper.multitask import MultitaskStage
from sweeper.plan import (
    IntermediateStage,
    encoder_is_complete,
    intermediate_stages,
    retrieval_evaluations,
    trained_targets,
    trials_per_cell,
)


@dataclass(frozen=True)
class Cost:
    """Training cost of one run at its stage settings.

    Attributes:
        steps: optimizer steps (``max_steps``), or ``None`` when the run is epoch-based (the
            count then depends on the data set's size).
        tokens: upper bound of training tokens: steps × effective batch × ``max_seq_length``
            (padding to the longest sequence of a batch makes the real count lower); ``None``
            with ``steps``.
    """

    steps: int | None
    tokens: int | None


def stage_cost(settings: TrainingConfig, num_workers: int) -> Cost:
    """The :class:`Cost` of one run with ``settings`` on ``num_workers`` data-parallel workers."""
    if settings.max_steps is None:
        return Cost(None, None)
    batch = settings.per_device_train_batch_size * settings.gradient_accumulation_steps * num_workers
    return Cost(settings.max_steps, settings.max_steps * batch * settings.max_seq_length)


@dataclass(frozen=True)
class IntermediatePlan:
    """One intermediate stage: its task (or multi-task stage name), cache folder, whether it is
    cached, its cost; a multi-task stage also lists its members and sampling."""

    task: str
    encoder_dir: Path
    cached: bool
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
    """One trained target: trials = intermediate tasks × ``trials_per_cell``; ``cost`` per trial."""

    task: str
    trials: int
    cost: Cost


@dataclass(frozen=True)
class SweepPlan:
    """What ``sweeper run`` would do with the same configuration and output folder.

    Attributes:
        intermediate: the intermediate stages (``none`` has none), in config order.
        targets: the trained targets; each trial also runs the zero-shot evaluation.
        trials_per_cell: target trials per (intermediate, target) cell (search × seeds).
        retrieval_evaluations: one per (intermediate task incl. ``none``, retrieval target).
    """

    intermediate: list[IntermediatePlan]
    targets: list[TargetPlan]
    trials_per_cell: int
    retrieval_evaluations: int

    @property
    def intermediate_to_train(self) -> int:
        return sum(not stage.cached for stage in self.intermediate)

    @property
    def target_trials(self) -> int:
        return sum(target.trials for target in self.targets)

    def total_steps(self) -> int | None:
        """Upper bound of optimizer steps of everything still to train (ASHA stops trials earlier);
        ``None`` when an epoch-based stage makes it data-dependent."""
        costs = [(stage.cost, 1) for stage in self.intermediate if not stage.cached]
        costs += [(target.cost, target.trials) for target in self.targets]
        if any(cost.steps is None for cost, _ in costs):
            return None
        return sum(cost.steps * count for cost, count in costs)

    def total_tokens(self) -> int | None:
        """Upper bound of training tokens of everything still to train; ``None`` as :meth:`total_steps`."""
        costs = [(stage.cost, 1) for stage in self.intermediate if not stage.cached]
        costs += [(target.cost, target.trials) for target in self.targets]
        if any(cost.tokens is None for cost, _ in costs):
            return None
        return sum(cost.tokens * count for cost, count in costs)


def build_plan(config: SweepConfig, output_dir: Path) -> SweepPlan:
    """The plan of ``config`` writing to ``output_dir`` (read only: nothing is created).

    Target trials use the stage settings of ``target`` + the task's ``training_overrides``; with
    a searched batch size or sequence length, the cost is that of the stage's own values.
    """
    workers = config.resources.num_workers
    intermediate = [
        IntermediatePlan(
            task=stage.name,
            encoder_dir=stage.encoder_dir(output_dir),
            cached=encoder_is_complete(stage.encoder_dir(output_dir)),
            cost=stage_cost(stage.settings, workers),
            **_multitask_fields(stage),
        )
        for stage in intermediate_stages(config)
    ]
    per_cell = trials_per_cell(config)
    cells_per_target = len(config.intermediate_tasks)
    targets = [
        TargetPlan(task=target, trials=cells_per_target * per_cell, cost=stage_cost(config.stage_training("target", target), workers))
        for target in trained_targets(config)
    ]
    return SweepPlan(intermediate, targets, per_cell, len(retrieval_evaluations(config)))


def _multitask_fields(stage: IntermediateStage | MultitaskStage) -> dict:
    if not isinstance(stage, MultitaskStage):
        return {}
    sampling = stage.sampling if stage.temperature is None else f"{stage.sampling} (T={stage.temperature:g})"
    return {"members": tuple(member.name for member in stage.members), "sampling": sampling}


def plan_lines(config: SweepConfig, plan: SweepPlan) -> list[str]:
    """The plan as Markdown lines (what ``sweeper plan`` prints)."""

    def amount(value: int | None) -> str:
        return "data-dependent (epoch-based)" if value is None else f"{value:,}"

    baseline = ["`none` (the pretrained model)"] if NO_INTERMEDIATE in config.intermediate_tasks else []
    lines = [
        f"# sweeper plan: {config.name}",
        "",
        f"Model `{config.model}`; intermediate tasks {', '.join(baseline + [f'`{s.task}`' for s in plan.intermediate])}.",
        "",
        (
            f"## 1. Intermediate stages: {len(plan.intermediate)} ({plan.intermediate_to_train} to train, "
            f"{len(plan.intermediate) - plan.intermediate_to_train} cached)"
        ),
        "",
        "| task | status | steps | tokens (upper bound) | encoder folder |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {s.label} | {'cached: reused' if s.cached else 'to train'} | {amount(s.cost.steps)} | {amount(s.cost.tokens)} | `{s.encoder_dir}` |"
        for s in plan.intermediate
    ]
    lines += [
        "",
        (
            f"## 2. Target trials: {plan.target_trials} ({len(config.intermediate_tasks)} intermediate × "
            f"{len(plan.targets)} trained target(s) × {plan.trials_per_cell} per cell, `{config.search.algorithm}` "
            "search × seeds), each followed by zero-shot evaluation"
        ),
        "",
        "| target | trials | steps per trial | tokens per trial (upper bound) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {t.task} | {t.trials} | {amount(t.cost.steps)} | {amount(t.cost.tokens)} |" for t in plan.targets]
    lines += [
        "",
        f"## 3. Retrieval evaluations (no training): {plan.retrieval_evaluations}",
        "",
        (
            f"**Total still to train**: {plan.intermediate_to_train} intermediate stage(s) + {plan.target_trials} "
            f"target trial(s); at most {amount(plan.total_steps())} optimizer steps and "
            f"{amount(plan.total_tokens())} training tokens (ASHA stops trials earlier)."
        ),
    ]
    return lines
