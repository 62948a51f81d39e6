"""Ray adapter: the target phase's Tune search space, search algorithm and number of samples.

The (intermediate task, target task) cells and the seeds are always a grid; ``search.algorithm``
only decides how the searched settings (``config.SEARCHABLE_SETTINGS``: learning rate, batch
size, epochs, warmup) are chosen within a cell, each chosen configuration running once per seed:

- ``grid``: every dimension is a ``tune.grid_search``, enumerated by Tune's
  ``BasicVariantGenerator`` (what Tune uses when given no search algorithm).
- ``random``: cells and seeds are ``tune.grid_search``, the settings Tune domains (a list is
  ``tune.choice``, a distribution ``tune.loguniform`` / ``uniform`` / ``randint``), drawn
  ``num_samples`` times by ``BasicVariantGenerator(constant_grid_search=True)``: each draw runs in
  every cell with every seed. Seeds thus repeat one configuration, and all cells see the same
  ``num_samples`` configurations (paired: intermediate tasks are compared on equal draws).
- ``optuna``: Tune runs one search algorithm per experiment, but a TPE model must learn from its
  own cell's scores only and must never choose cells. :class:`CellSearcher` is that one search
  algorithm: one Ray Tune ``OptunaSearch`` (Optuna's TPE sampler) per cell, cells visited round
  robin, each proposed configuration run once per seed; when all its seeds have finished, the
  mean over seeds of each trial's best English-dev ``score`` (0–100) is told to its cell's TPE
  (mode max). Rejected alternatives: one Tune experiment per cell runs cells one after another
  (Tune does not run ``Tuner.fit`` calls concurrently) and splits ASHA groups that span
  intermediate tasks; an ``OptunaSearch`` with the cell as categorical parameters lets TPE pick
  the cells instead of keeping them a grid.

The cells are one grid dimension, ``cell`` (:func:`cell_space`), rather than an intermediate ×
target product, so that a pruned sweep (``search.prune``) runs only its kept cells as a grid:
no trial of a pruned cell is ever created. Every trial config still carries ``intermediate_task``
and ``target_task`` (derived from its ``cell``), which trials, grouped ASHA and selection read.

Trials stopped early by ASHA count with their best score so far; a configuration none of whose
seeds reported a score is told to TPE as failed. Concurrency (``resources.max_concurrent_trials``)
is part of the returned search algorithm, so the ``Tuner`` must not set it again.
"""

from __future__ import annotations

import pickle
from collections import deque
from dataclasses import dataclass

from ray import tune
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.sample import Domain

from sweeper.config import Distribution, SweepConfig
from sweeper.sweep.grid import CELL

#: Keys of the target phase's search space that are always grid dimensions.
GRID_KEYS = (CELL, "seed")


@dataclass(frozen=True)
class TuneSearch:
    """What ``tune.Tuner`` needs to run the target phase's search.

    ``param_space`` goes to ``Tuner(param_space=...)`` (empty for optuna: :class:`CellSearcher`
    holds the space), ``search_alg`` and ``num_samples`` (total trials for optuna, draws for
    random, 1 for grid) to ``TuneConfig``; ``search_alg`` already limits concurrency.
    """

    param_space: dict
    search_alg: BasicVariantGenerator | ConcurrencyLimiter
    num_samples: int


def tune_domain(values: list | Distribution) -> Domain:
    """A searched setting's values as a Tune domain: list → ``tune.choice``; a distribution →
    ``tune.loguniform`` / ``tune.uniform`` / ``tune.randint`` (upper bound made inclusive)."""
    if isinstance(values, list):
        return tune.choice(values)
    if values.kind == "loguniform":
        return tune.loguniform(values.low, values.high)
    if values.kind == "uniform":
        return tune.uniform(values.low, values.high)
    return tune.randint(int(values.low), int(values.high) + 1)


def cell_name(intermediate: str, target: str) -> str:
    """A cell's value of the ``cell`` grid dimension, e.g. ``anli->panx``."""
    return f"{intermediate}->{target}"


def cell_space(cells: list[tuple[str, str]]) -> dict:
    """The cells as Tune search space entries: ``cell`` a ``tune.grid_search`` over
    :func:`cell_name` values, ``intermediate_task`` and ``target_task`` resolved from each trial's
    ``cell`` (``tune.sample_from``, evaluated after the grid is expanded)."""
    pairs = {cell_name(*cell): cell for cell in cells}
    return {
        CELL: tune.grid_search(list(pairs)),
        "intermediate_task": tune.sample_from(lambda config: pairs[config[CELL]][0]),
        "target_task": tune.sample_from(lambda config: pairs[config[CELL]][1]),
    }


def tune_search(config: SweepConfig, param_space: dict[str, list | Distribution], metric: str) -> TuneSearch:
    """The Tune search of the target phase (see the module docstring for each algorithm).

    Args:
        config: the sweep (``search``, ``resources.max_concurrent_trials``).
        param_space: :func:`sweeper.sweep.grid.target_param_space` of ``config`` (non-empty ``cell``;
            pruned or not).
        metric: the reported English-dev metric TPE maximises (0–100).
    """
    search, concurrency = config.search, config.resources.max_concurrent_trials
    cells = param_space[CELL]
    if search.algorithm == "grid":
        space = {**cell_space(cells), **{key: tune.grid_search(values) for key, values in param_space.items() if key != CELL}}
        return TuneSearch(space, BasicVariantGenerator(max_concurrent=concurrency), 1)
    settings = {key: tune_domain(values) for key, values in param_space.items() if key not in GRID_KEYS}
    if search.algorithm == "random":
        space = {**cell_space(cells), "seed": tune.grid_search(param_space["seed"]), **settings}
        generator = BasicVariantGenerator(max_concurrent=concurrency, constant_grid_search=True, random_state=search.seed)
        return TuneSearch(space, generator, search.num_samples)
    searcher = CellSearcher(cells, param_space["seed"], settings, search.num_samples, metric, search.seed)
    total = len(cells) * search.num_samples * len(param_space["seed"])
    return TuneSearch({}, ConcurrencyLimiter(searcher, max_concurrent=concurrency), total)


@dataclass
class _Proposal:
    """One configuration a cell's TPE proposed: its seeds' best scores as they finish."""

    cell: tuple[str, str]
    pending: int
    scores: list[float]


class CellSearcher(Searcher):
    """One Ray Tune ``OptunaSearch`` (TPE) per (intermediate, target) cell, in one experiment.

    Suggests ``num_samples`` configurations per cell, cells in round robin, each configuration
    once per seed (consecutive trials); a trial config is ``intermediate_task``, ``target_task``,
    the settings of ``space`` and ``seed``. A configuration's objective is the mean over its seeds
    of each trial's best reported ``metric`` (mode max). Returns ``Searcher.FINISHED`` once every
    cell's configurations have been suggested.

    Args:
        cells: (intermediate task, target task) pairs.
        seeds: the seeds every configuration runs with.
        space: setting → Tune domain (``tune.choice``, ``loguniform``, ``uniform``, ``randint``).
        num_samples: configurations per cell.
        metric: the reported score to maximise.
        seed: seeds cell ``k``'s TPE sampler with ``seed + k`` (``None``: unseeded).
    """

    def __init__(
        self,
        cells: list[tuple[str, str]],
        seeds: list[int],
        space: dict[str, Domain],
        num_samples: int,
        metric: str,
        seed: int | None = None,
    ):
        super().__init__(metric=metric, mode="max")
        distributions = OptunaSearch.convert_search_space(space)
        self._searchers = {
            cell: OptunaSearch(space=distributions, metric=metric, mode="max", seed=None if seed is None else seed + index)
            for index, cell in enumerate(cells)
        }
        self._seeds = list(seeds)
        self._to_propose = {cell: num_samples for cell in cells}
        self._cell_order = deque(cells)
        self._queue: deque[tuple[str, dict]] = deque()  # (proposal id, trial config) not yet suggested
        self._proposals: dict[str, _Proposal] = {}
        self._trial_proposal: dict[str, str] = {}
        self._best: dict[str, float] = {}

    def suggest(self, trial_id: str) -> dict | str:
        if not self._queue and not self._propose():
            return Searcher.FINISHED
        proposal_id, trial_config = self._queue.popleft()
        self._trial_proposal[trial_id] = proposal_id
        return trial_config

    def _propose(self) -> bool:
        """Ask the next cell with configurations left for one; queue it once per seed."""
        for _ in range(len(self._cell_order)):
            cell = self._cell_order[0]
            self._cell_order.rotate(-1)
            if self._to_propose[cell]:
                self._to_propose[cell] -= 1
                proposal_id = f"{cell[0]}->{cell[1]}#{len(self._proposals)}"
                settings = self._searchers[cell].suggest(proposal_id)
                self._proposals[proposal_id] = _Proposal(cell=cell, pending=len(self._seeds), scores=[])
                for seed in self._seeds:
                    trial_config = {"intermediate_task": cell[0], "target_task": cell[1], **settings, "seed": seed}
                    self._queue.append((proposal_id, trial_config))
                return True
        return False

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if self.metric in result:
            self._best[trial_id] = max(self._best.get(trial_id, float("-inf")), float(result[self.metric]))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result and self.metric in result:
            self.on_trial_result(trial_id, result)
        proposal_id = self._trial_proposal.pop(trial_id)
        proposal = self._proposals[proposal_id]
        if trial_id in self._best:
            proposal.scores.append(self._best.pop(trial_id))
        proposal.pending -= 1
        if proposal.pending:
            return
        searcher = self._searchers[proposal.cell]
        if proposal.scores:
            searcher.on_trial_complete(proposal_id, result={self.metric: sum(proposal.scores) / len(proposal.scores)})
        else:
            searcher.on_trial_complete(proposal_id, error=True)

    def save(self, checkpoint_path: str) -> None:
        """Pickle the searcher's state (Tune calls this with its experiment checkpoints)."""
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__.copy(), file)

    def restore(self, checkpoint_path: str) -> None:
        """Restore the state :meth:`save` wrote."""
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))
