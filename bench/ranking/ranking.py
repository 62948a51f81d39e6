"""bench/ranking: how well LogME (``sweeper rank``) predicts the offline grid's own results.

Usage (after ``sweeper run bench/ranking/grid.yaml --output OUT`` and
``sweeper rank bench/ranking/grid.yaml --output RANK``, both over one stage cache)::

    python bench/ranking/ranking.py OUT RANK [--keep 3]

Per trained target it prints, against the grid's per-cell results (each cell: the mean over its
completed seeds of the zero-shot XTREME task score, and of the best English-dev score):

* Kendall τ (``scipy.stats.kendalltau``, τ-b) between LogME and each of the two;
* Regret@1 / Regret@3: zero-shot points lost by training only LogME's top 1 / top 3 cells
  (``none`` always kept besides them, as ``search.prune`` would) against the grid's best cell;
* the seed standard deviation of the zero-shot score, averaged over the target's cells (the noise
  any regret must be read against);
* the share of the target's training steps a prune to ``--keep`` intermediate tasks + ``none``
  would have saved (steps of the skipped cells' trials over all, from the trials' recorded steps).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from scipy.stats import kendalltau

from sweeper.config import NO_INTERMEDIATE
from sweeper.results.ranking import from_json
from sweeper.tracking.curves import load_dev_curves
from sweeper.tracking.runs import Tracker
from sweeper.tracking.sweep_record import SweepRecord


def cell_table(output: Path) -> tuple[dict, dict]:
    """(target → intermediate → {zero_shot, english_dev, zero_shot_std, steps}), and the records."""
    record = SweepRecord.read(output)
    curves, records = load_dev_curves(Tracker(record.tracking_uri), record)
    steps = {curve.trial_id: curve.steps[-1] for curve in curves}
    cells: dict[str, dict[str, dict]] = {}
    for trial in records.values():
        cell = cells.setdefault(trial.target_task, {}).setdefault(
            trial.intermediate_task, {"zero_shot": [], "english_dev": [], "steps": 0}
        )
        cell["steps"] += steps[trial.run_id]
        if trial.outcome == "completed":
            cell["zero_shot"].append(trial.zero_shot_score)
            cell["english_dev"].append(trial.english_dev)
    for per_target in cells.values():
        for cell in per_target.values():
            scores = cell["zero_shot"]
            cell["zero_shot_std"] = statistics.stdev(scores) if len(scores) > 1 else None
            cell["zero_shot"] = statistics.fmean(scores)
            cell["english_dev"] = statistics.fmean(cell["english_dev"])
    return cells, records


def regret(ranked: list[str], zero_shot: dict[str, float], k: int) -> float:
    """Points of zero-shot score lost by keeping LogME's top ``k`` intermediate tasks plus ``none``."""
    kept = [name for name in ranked if name != NO_INTERMEDIATE][:k] + [NO_INTERMEDIATE]
    return max(zero_shot.values()) - max(zero_shot[name] for name in kept if name in zero_shot)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid_output", type=Path)
    parser.add_argument("rank_output", type=Path)
    parser.add_argument("--keep", type=int, default=3, help="intermediate tasks kept per target besides none")
    args = parser.parse_args()
    cells, _ = cell_table(args.grid_output)
    rankings = from_json(json.loads((args.rank_output / "ranking.json").read_text(encoding="utf-8")))
    rows = []
    for target, per_cell in cells.items():
        ranking = rankings[target]
        names = [cell.intermediate_task for cell in ranking.cells]
        logme = [ranking.score_of(name) for name in names]
        zero_shot = {name: per_cell[name]["zero_shot"] for name in names}
        dev = {name: per_cell[name]["english_dev"] for name in names}
        kept = set(ranking.top(args.keep)) | {NO_INTERMEDIATE}
        total = sum(cell["steps"] for cell in per_cell.values())
        saved = sum(cell["steps"] for name, cell in per_cell.items() if name not in kept)
        stds = [cell["zero_shot_std"] for cell in per_cell.values() if cell["zero_shot_std"] is not None]
        rows.append(
            {
                "target": target,
                "cells": len(names),
                "logme_order": names,
                "zero_shot_order": sorted(zero_shot, key=zero_shot.get, reverse=True),
                "tau_zero_shot": kendalltau(logme, [zero_shot[name] for name in names]).statistic,
                "tau_english_dev": kendalltau(logme, [dev[name] for name in names]).statistic,
                "regret_at_1": regret(names, zero_shot, 1),
                "regret_at_3": regret(names, zero_shot, 3),
                "seed_std_zero_shot": statistics.fmean(stds) if stds else None,
                "steps_saved_share": saved / total if total else 0.0,
            }
        )
    print(json.dumps(rows, indent=2))
    print()
    print(
        "| target | cells | LogME order | zero-shot order | τ zero-shot | τ English dev | Regret@1 | Regret@3 "
        f"| seed std (zero-shot) | steps saved, keep {args.keep} |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        std = "–" if row["seed_std_zero_shot"] is None else f"{row['seed_std_zero_shot']:.2f}"
        print(
            f"| {row['target']} | {row['cells']} | {' > '.join(row['logme_order'])} | {' > '.join(row['zero_shot_order'])} "
            f"| {row['tau_zero_shot']:.2f} | {row['tau_english_dev']:.2f} | {row['regret_at_1']:.2f} "
            f"| {row['regret_at_3']:.2f} | {std} | {100 * row['steps_saved_share']:.0f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
