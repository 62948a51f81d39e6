"""bench/bad_input_refusal.py: how long `sweeper` takes to refuse each case of the bad-input catalogue.

Every case of ``tests/commands/test_bad_inputs.py`` runs as a user runs it: a fresh
``python -m sweeper.commands.cli ...`` process (offline, no GPU visible, a private sweeper cache,
no ``$RAY_ADDRESS``), timed from start to exit. Printed per case: the wall time and its ratio to a
bare ``python -c pass`` measured in the same run (the interpreter's own start-up), then the
median, the slowest case and how many took over ``--limit`` seconds (issue 16: every refusal within
2 s on a quiet 2-core machine). Each case must exit with code 2.

    python bench/bad_input_refusal.py [--data-dir ../shared/data] [--limit 2] [--repeat 1] [--cases ID ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "commands"))

from test_bad_inputs import CASES, build_world  # noqa: E402  (the catalogue lives with its test)


def _timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    return time.perf_counter() - started, done.returncode, done.stderr + done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("SWEEPER_DATA_DIR", REPO.parent / "shared" / "data"))
    )
    parser.add_argument("--limit", type=float, default=2.0, help="seconds a refusal may take")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest counts")
    parser.add_argument("--cases", nargs="*", help="only these case ids (default: the whole catalogue)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "world").mkdir()
        world = build_world(root / "world", args.data_dir.resolve())
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "SWEEPER_CACHE_DIR": str(root / "cache")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env.pop("RAY_ADDRESS", None)
        env.pop("MLFLOW_TRACKING_URI", None)
        bare = min(_timed(["-c", "pass"], root, env)[0] for _ in range(max(3, args.repeat)))
        print(f"python -c pass: {bare:.2f} s (the unit of the ratios below)")
        times, wrong = {}, []
        for case, build, _ in [case for case in CASES if not args.cases or case[0] in args.cases]:
            work = root / "work" / case
            work.mkdir(parents=True)
            runs = [_timed(["-m", "sweeper.commands.cli", *build(world, work / "out")], work, env) for _ in range(args.repeat)]
            times[case] = min(seconds for seconds, _, _ in runs)
            if any(code != 2 for _, code, _ in runs):
                wrong.append(f"{case}: exit {[code for _, code, _ in runs]}: {runs[-1][2].strip()[-300:]}")
            print(f"{case:45s} {times[case]:6.2f} s  {times[case] / bare:5.1f}×")
    slowest = max(times, key=times.get)
    over = [case for case, seconds in times.items() if seconds > args.limit]
    print(
        f"\n{len(times)} cases: median {statistics.median(times.values()):.2f} s, slowest {slowest} "
        f"{times[slowest]:.2f} s; {len(over)} over {args.limit:g} s{': ' + ', '.join(over) if over else ''}"
    )
    for line in wrong:
        print(f"NOT EXIT 2: {line}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
