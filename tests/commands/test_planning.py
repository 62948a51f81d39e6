"""`sweeper plan`: counts of the stage graph, cached encoders in the shared stage cache, step
counts from the data, data `run` will need; nothing started."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cache.markers import ENCODER_MARKER, STAGE_MARKER
from sweeper.cache.store import cached_intermediate_stages, sweep_stage_cache
from sweeper.commands.cli import app
from sweeper.commands.plan import build_plan, plan_lines
from sweeper.config import SweepConfig, load_config
from sweeper.errors import SweepConfigWarning
from sweeper.sweep.grid import target_settings
from sweeper.sweep.tasks import resolve_task

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "search_spaces" / "smoke.yaml"
PAPER = REPO / "search_spaces" / "paper.yaml"
INTERMEDIATE = ["none", "anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "ccg", "cosmosqa", "commonsenseqa"]
TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
runner = CliRunner()


def _text(result) -> str:
    return " ".join(result.output.split())


def test_the_papers_full_grid_is_counted_per_stage(tmp_path):
    config = SweepConfig.model_validate(
        {
            "name": "paper",
            "model": "xlm-roberta-large",
            "intermediate_tasks": INTERMEDIATE,
            "target_tasks": TARGETS,
            "param_space": {"learning_rate": [5.0e-6, 1.0e-5, 2.0e-5], "seed": [1, 2]},
            "storage": {"stage_cache_dir": str(tmp_path / "cache")},
        }
    )
    plan = build_plan(config, tmp_path, None, config.model)
    assert [stage.task for stage in plan.intermediate] == INTERMEDIATE[1:], "9 intermediate stages, none for `none`"
    assert plan.intermediate_to_train == 9
    assert plan.trials_per_cell == 3 * 2
    assert [target.task for target in plan.targets] == ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa"]
    assert plan.target_trials == 10 * 7 * 6, "10 intermediate (with none) × 7 trained targets × 3 lr × 2 seeds"
    assert plan.retrieval_evaluations == 10 * 2, "BUCC and Tatoeba on each of the 10 encoders"
    assert plan.total_steps() is None, "epoch-based stages depend on the data size"


def test_a_pruned_grid_before_its_encoders_exist_is_counted_as_bounds(tmp_path):
    config = SweepConfig.model_validate(
        {
            "name": "paper",
            "model": "xlm-roberta-large",
            "intermediate_tasks": INTERMEDIATE,
            "target_tasks": TARGETS,
            "param_space": {"learning_rate": [5.0e-6, 1.0e-5, 2.0e-5], "seed": [1, 2]},
            "search": {"prune": {"method": "logme", "keep": 3}},
            "storage": {"stage_cache_dir": str(tmp_path / "cache")},
        }
    )
    plan = build_plan(config, tmp_path, None, config.model)
    assert plan.prune.pending and not plan.prune.pruning
    assert [(target.trials, target.skipped) for target in plan.targets] == [((3 + 1) * 6, (10 - 4) * 6)] * 7
    assert plan.target_trials == 4 * 7 * 6 and plan.target_trials_cached is None
    text = " ".join(" ".join(plan_lines(config, plan)).split())
    assert "Target trials: ≤ 168 " in text and "at least 252 skipped" in text and "the prune happens at run time" in text


@pytest.mark.filterwarnings("error::sweeper.errors.SweepConfigWarning")  # the shipped grid's rates are stable
def test_shipped_paper_grid_plans_without_data(tmp_path):
    args = ["plan", str(PAPER), f"storage.stage_cache_dir={tmp_path / 'cache'}", "--output", str(tmp_path / "out")]
    result = runner.invoke(app, args, env={"SWEEPER_DATA_DIR": None})  # no local data: the Hub
    assert result.exit_code == 0, result.output
    text = _text(result)
    assert "Model xlm-roberta-large" in text
    assert "1. Intermediate stages: 9 (9 to train, 0 cached)" in text
    assert "2. Target trials: 420 (10 intermediate × 7 trained target(s) × 6 per cell, grid search × seeds; 0 cached)" in text
    for target in ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa"]:
        assert f"{target} 60 " in text, f"{target}: 10 intermediate tasks × 3 learning rates × 2 seeds"
    assert "3. Retrieval evaluations (no training): 20 (0 cached)" in text
    assert "data-dependent optimizer steps" in text
    # what only `run` needs is listed, not refused: BUCC has no Hub source, CCG's labels are a local file
    assert "task 'bucc2018', split 'test'" in text and "has no Hub source; pass --data-dir" in text
    assert "task 'ccg' reads its labels from ccg/tags_to_id.json" in text
    assert not (tmp_path / "out").exists(), "plan writes no output"


def test_xlmr_large_sweep_searching_1e_4_is_warned_about_not_refused(tmp_path):
    args = ["plan", str(PAPER), "param_space.learning_rate=[1e-5,1e-4]", f"storage.stage_cache_dir={tmp_path / 'cache'}"]
    with pytest.warns(
        SweepConfigWarning, match=r"param_space.learning_rate = 0.0001: fine-tuning xlm-roberta-large at learning rates >= 0.0001"
    ):
        result = runner.invoke(app, args, env={"SWEEPER_DATA_DIR": None})
    assert result.exit_code == 0, result.output
    assert "2. Target trials: 280" in _text(result)


def test_unstable_rate_warning_only_for_models_known_to_diverge():
    from sweeper.models.learning_rates import unstable_rate_warning

    assert unstable_rate_warning("FacebookAI/xlm-roberta-large", {"param_space.learning_rate": 3e-5}) is None
    assert "param_space.learning_rate = 0.0002" in unstable_rate_warning(
        "FacebookAI/xlm-roberta-large", {"param_space.learning_rate": 2e-4}
    )
    assert unstable_rate_warning("tiny-xlmr", {"param_space.learning_rate": 1e-3}) is None


def test_epoch_based_steps_are_counted_from_the_data(tmp_path, data_dir):
    result = runner.invoke(
        app,
        [
            "plan",
            str(PAPER),
            "--data-dir",
            str(data_dir),
            f"storage.stage_cache_dir={tmp_path / 'cache'}",
            "target_tasks=[udpos, panx, tydiqa]",
        ],
    )
    assert result.exit_code == 0, result.output
    text = _text(result)
    # udpos: 21,253 sentences / 32 per step → 665 steps per epoch × 10 epochs; tokens ≤ steps × 32 × 256
    # (cached: unknown, since MNLI's data, hence its encoder's key, is missing)
    assert f"udpos 60 unknown 21,253 {665 * 10:,} {665 * 10 * 32 * 256:,}" in text
    assert f"panx 60 unknown 20,000 {625 * 10:,} {625 * 10 * 32 * 256:,}" in text
    # tydiqa: 3,696 questions / 16 per step → 231 × 2 epochs, at least (a context may give several windows)
    assert f"tydiqa 60 unknown 3,696 ≥ {231 * 2:,} ≥ {231 * 2 * 16 * 384:,}" in text
    assert "grid search × seeds; cached: unknown, data missing)" in text
    assert "task 'mnli', split 'train': 1 data file(s) missing" in text
    config = load_config(PAPER, [f"storage.stage_cache_dir={tmp_path / 'cache'}"])
    mnli = next(stage for stage in build_plan(config, tmp_path, data_dir, config.model).intermediate if stage.task == "mnli")
    assert (mnli.cached, mnli.encoder_dir, mnli.cost.steps) == (None, None, None), "MNLI is not on disk: no key, no count"


def test_smoke_plan_cost_and_shared_cache(tmp_path, data_dir, tiny_dir):
    output, cache = tmp_path / "out", tmp_path / "cache"
    args = ["plan", str(SMOKE), f"storage.stage_cache_dir={cache}", "--data-dir", str(data_dir), "--output", str(output)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = _text(result)
    assert "1. Intermediate stages: 1 (1 to train, 0 cached)" in text
    assert "2. Target trials: 8 (2 intermediate × 2 trained target(s) × 2 per cell, grid search × seeds; 0 cached)" in text
    # anli: 4 steps × batch 8 × 64 tokens; 8 target trials: 6 steps × batch 8 × 96 tokens
    assert f"at most {4 + 8 * 6} optimizer steps" in text
    assert f"{4 * 8 * 64 + 8 * 6 * 8 * 96:,} training tokens" in text
    assert f"Stage cache: {cache}" in text
    assert not output.exists(), "plan writes no output"

    # another sweep (another output folder) finished the same stage in the shared cache
    config = load_config(SMOKE, [f"storage.stage_cache_dir={cache}"])
    (stage,) = cached_intermediate_stages(config, str(tiny_dir), data_dir)
    stage.path.mkdir(parents=True)
    (stage.path / ENCODER_MARKER).write_text(json.dumps({"task": "anli"}), encoding="utf-8")
    text = _text(runner.invoke(app, [*args[:-1], str(tmp_path / "elsewhere")]))
    assert "1. Intermediate stages: 1 (0 to train, 1 cached)" in text
    assert "anli cached: reused" in text
    assert f"at most {8 * 6} optimizer steps" in text, "a cached encoder is reused, not retrained"

    # and one of the target trials: the anli -> panx trial at learning rate 3e-4, seed 1
    trial = {"intermediate_task": "anli", "target_task": "panx", "learning_rate": 3.0e-4, "seed": 1}
    target = sweep_stage_cache(config, str(tiny_dir), data_dir).target_stage(
        stage, "anli", resolve_task(config, "panx"), target_settings(config, trial)
    )
    target.path.mkdir(parents=True)
    (target.path / STAGE_MARKER).write_text(json.dumps({"history": [], "best_score": 0.0}), encoding="utf-8")
    text = _text(runner.invoke(app, [*args[:-1], str(tmp_path / "elsewhere")]))
    assert "grid search × seeds; 1 cached), each followed by zero-shot evaluation" in text
    assert "panx 4 1 " in text and "tydiqa 4 0 " in text
    assert "0 intermediate stage(s) + 7 target trial(s)" in text and f"at most {7 * 6} optimizer steps" in text


def test_random_search_cannot_know_its_cached_trials(tmp_path, data_dir, tiny_dir):
    result = runner.invoke(
        app,
        [
            "plan",
            str(SMOKE),
            f"storage.stage_cache_dir={tmp_path / 'cache'}",
            "--data-dir",
            str(data_dir),
            "search.algorithm=random",
            "search.num_samples=3",
        ],
    )
    assert result.exit_code == 0, result.output
    text = _text(result)
    assert "search × seeds; cached: unknown before random search samples the trials)" in text
    assert "3. Retrieval evaluations (no training): 0 (0 cached)" in text
    disabled = runner.invoke(
        app,
        [
            "plan",
            str(SMOKE),
            f"storage.stage_cache_dir={tmp_path / 'cache'}",
            "--data-dir",
            str(data_dir),
            "storage.cache_target_stages=false",
        ],
    )
    assert "not cached: storage.cache_target_stages is false" in _text(disabled)


def test_bad_input_fails_with_exit_code_2(tmp_path, data_dir):
    result = runner.invoke(app, ["plan", str(SMOKE), "target_tasks=[tydiqaa]", "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "Did you mean 'tydiqa'?" in _text(result)
