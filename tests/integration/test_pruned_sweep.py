"""End to end: a sweep with ``search.prune`` (LogME, keep 1) through Ray Tune + Ray Train + MLflow.

The smoke sweep with intermediate tasks none, anli and udpos, one target (PAN-X), one learning
rate: both intermediate stages train, LogME ranks the two encoders (and none) on PAN-X's English
training data, and only the best-ranked one and ``none`` get a target trial; the pruned cell has
no trial (no run, no failure). ``plan`` shows bounds before the run, the exact decision after.
"""

import json

import pytest
from _sweep_cli import SMOKE, run_sweep, runner

from sweeper.commands.cli import app

OVERRIDES = [
    "intermediate_tasks=[none, anli, udpos]",
    "target_tasks=[panx]",
    "param_space.learning_rate=[3.0e-4]",
    "search.prune={method: logme, keep: 1, max_examples: 32}",
    "zero_shot.languages=[en, sw]",
]


def _plan(tmp_path, data_dir, cache) -> str:
    result = runner.invoke(
        app,
        [
            "plan",
            str(SMOKE),
            *OVERRIDES,
            f"storage.stage_cache_dir={cache}",
            "--data-dir",
            str(data_dir),
            "--output",
            str(tmp_path / "plan"),
        ],
    )
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rendered Markdown, lines wrapped to the terminal


@pytest.mark.slow
def test_a_pruned_sweep_trains_only_the_kept_cells_and_says_so(tmp_path, data_dir, tiny_dir):
    cache = tmp_path / "stage_cache"
    before = _plan(tmp_path, data_dir, cache)
    assert "the prune happens at run time" in before and "Target trials: ≤ 2 " in before  # (keep 1 + none) × 1 per cell
    assert "at least 1 skipped" in before

    sweep = run_sweep(SMOKE, tmp_path / "out", data_dir, [*OVERRIDES, f"storage.stage_cache_dir={cache}"])
    decision = json.loads((sweep.output / "prune.json").read_text())["panx"]
    assert decision["method"] == "logme" and len(decision["kept"]) == 2 and "none" in decision["kept"]
    (pruned,) = decision["pruned"]
    assert {*decision["kept"], pruned["intermediate_task"]} == {"none", "anli", "udpos"}
    targets = [run for run in sweep.children if run.data.tags["stage"] == "target"]
    trained = sorted(run.data.tags["intermediate_task"] for run in targets)
    assert trained == sorted(decision["kept"]) and pruned["intermediate_task"] not in trained
    assert all(run.info.status == "FINISHED" for run in targets)  # no skipped or failed trial
    assert sorted(run.data.tags["intermediate_task"] for run in sweep.children if run.data.tags["stage"] == "intermediate") == [
        "anli",
        "udpos",
    ]

    parent = sweep.client.get_run(sweep.record.parent_run_id).data
    assert json.loads(parent.tags["prune.panx"]) == decision
    for task in ("none", "anli", "udpos"):
        assert f"rank/panx/{task}/logme" in parent.metrics
    report = (sweep.output / "report.md").read_text()
    assert "## Pruned grid" in report and "selection ran over a pruned grid" in report
    assert f"`{pruned['intermediate_task']}` {pruned['score']:.4f} ({pruned['rank']})" in report
    assert "Selected over a pruned grid" in report

    after = _plan(tmp_path, data_dir, cache)  # every encoder cached now: ranked as run ranked
    assert "ranked now as run will rank" in after
    assert f"panx {', '.join(decision['kept'])} {pruned['intermediate_task']} {pruned['score']:.4f} ({pruned['rank']})" in after
    assert "Target trials: 2 " in after and "1 skipped" in after
