"""bench/reuse.py: training steps of a finished sweep's I × T grid with stage reuse (each
intermediate stage trained once, its encoder loaded by every target trial of its task) against
retraining the intermediate stage inside each target trial. Read from the sweep's MLflow records;
``bench/asha.py`` prints the same figures for its full run.

    python bench/reuse.py OUTPUT      # a folder `sweeper run` wrote
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common
from bench.asha import reuse, summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="a finished sweep's output folder")
    args = parser.parse_args()
    summary = summarize(args.output, wall=float("nan"))
    result = {"output": str(args.output), **reuse(summary), "intermediate_steps": summary["intermediate_steps"]}
    result["trials_per_intermediate"] = summary["trials_per_intermediate"]
    result["target_steps"] = summary["target_steps"]
    print(f"{'intermediate':14}{'steps':>8}{'target trials':>15}")
    for task, steps in summary["intermediate_steps"].items():
        print(f"{task:14}{steps:8d}{summary['trials_per_intermediate'][task]:15d}")
    print(
        f"with reuse: {result['total_steps_reused']} steps ({result['intermediate_steps_reused']} intermediate + "
        f"{summary['target_steps']} target); retraining in each trial: {result['total_steps_retrained']} "
        f"({result['ratio']:.2f}x)"
    )
    common.emit(result)


if __name__ == "__main__":
    main()
