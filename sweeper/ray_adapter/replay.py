"""Replay a finished sweep's target phase under another scheduler, from its recorded dev curves.

No training and no Ray trials: the same :class:`~sweeper.ray_adapter.scheduling.GroupedASHAScheduler` a sweep
runs (or Ray Tune's ``FIFOScheduler`` for no early stopping) is fed each trial's recorded English-
dev evaluations in the order and at the times a sweep would deliver them, through the scheduler
API Tune itself calls (``on_trial_add``; ``on_trial_result`` per result; ``on_trial_complete``
with the last result when a trial returns or the scheduler stops it, as ``TuneController.stop_trial``
does; ``on_trial_remove`` for a censored trial, below), with stub ``ray.tune.experiment.Trial`` objects (``stub=True``: no
trainable is resolved) that carry the trial's config, so grouping works as in the sweep. The
schedulers read nothing of the controller argument Tune passes; the replay passes ``None``.

Timing model (discrete events): trials start in the order the sweep started them, at most
``max_concurrent_trials`` at once; a trial's k-th evaluation arrives ``seconds[k]`` after its
(k−1)-th (its recorded durations), and a trial that ends (stopped, finished, or out of recorded
evaluations) frees its slot for the next pending trial at that moment. Simultaneous results are
delivered in trial order. ASHA is asynchronous, so this order matters as in a real sweep; with
the recorded durations it is the sweep's own order up to scheduling noise.

A trial the sweep stopped early has a curve only up to its stop. When a replayed schedule would
let it go on, the replay cannot know its later scores: the trial is *censored* (counted with the
steps it did record, a lower bound) and a target whose replayed selection could depend on it is
marked uncertain.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from sweeper.config import METRIC, TIME_ATTR, SchedulerConfig
from sweeper.ray_adapter.scheduling import target_scheduler
from sweeper.results.replay import CENSORED, COMPLETED, STOPPED, DevCurve, ReplayedTrial


def make_scheduler(settings: SchedulerConfig) -> TrialScheduler:
    """The scheduler a sweep with ``settings`` runs its target phase under
    (:func:`~sweeper.ray_adapter.scheduling.target_scheduler`, Tune's FIFO for ``type: fifo``), its
    state not persisted."""
    return target_scheduler(settings) or FIFOScheduler()


def replay(curves: Sequence[DevCurve], scheduler: TrialScheduler, max_concurrent_trials: int) -> list[ReplayedTrial]:
    """Feed ``curves`` (in the sweep's start order) to ``scheduler`` as a sweep would.

    Returns:
        One :class:`ReplayedTrial` per curve, in the order of ``curves``.

    Raises:
        ValueError: ``max_concurrent_trials`` < 1, or two curves share a trial id.
    """
    if max_concurrent_trials < 1:
        raise ValueError(f"max_concurrent_trials must be at least 1, got {max_concurrent_trials}")
    if len({curve.trial_id for curve in curves}) != len(curves):
        raise ValueError("every curve needs its own trial_id")
    trials = [
        Trial("replay", config=dict(curve.config), trial_id=f"t{index:06d}", stub=True) for index, curve in enumerate(curves)
    ]
    pending = deque(range(len(curves)))
    events: list[tuple[float, int, int]] = []  # (time, trial index, evaluation index)
    outcomes: dict[int, ReplayedTrial] = {}

    def start(now: float) -> None:
        index = pending.popleft()
        scheduler.on_trial_add(None, trials[index])
        heapq.heappush(events, (now + curves[index].seconds[0], index, 0))

    while pending and len(events) < max_concurrent_trials:
        start(0.0)
    while events:
        now, index, evaluation = heapq.heappop(events)
        curve, trial = curves[index], trials[index]
        result = {TIME_ATTR: evaluation + 1, METRIC: curve.scores[evaluation]}
        decision = scheduler.on_trial_result(None, trial, result)
        last = evaluation + 1 == len(curve.scores)
        if decision == TrialScheduler.STOP or (last and curve.finished):
            # Tune ends a running trial it stops, and one that returns, with on_trial_complete.
            outcome = STOPPED if decision == TrialScheduler.STOP else COMPLETED
            scheduler.on_trial_complete(None, trial, result)
        elif last:
            outcome = CENSORED
            scheduler.on_trial_remove(None, trial)
        else:
            heapq.heappush(events, (now + curve.seconds[evaluation + 1], index, evaluation + 1))
            continue
        outcomes[index] = ReplayedTrial(
            curve, outcome, evaluation + 1, curve.steps[evaluation], max(curve.scores[: evaluation + 1]), now
        )
        if pending:
            start(now)
    return [outcomes[index] for index in range(len(curves))]
