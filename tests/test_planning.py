"""`sweeper plan`: counts of the stage graph, cached encoders, cost bounds; nothing started."""

import json
from pathlib import Path

from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.config import SweepConfig, load_config
from sweeper.plan import ENCODER_MARKER, intermediate_stages
from sweeper.planning import build_plan

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "search_spaces" / "smoke.yaml"
INTERMEDIATE = ["none", "anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "ccg", "cosmosqa", "commonsenseqa"]
TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
runner = CliRunner()


def test_the_papers_full_grid_is_counted_per_stage(tmp_path):
    config = SweepConfig.model_validate({
        "name": "paper", "model": "xlm-roberta-large", "intermediate_tasks": INTERMEDIATE, "target_tasks": TARGETS,
        "param_space": {"learning_rate": [1.0e-5, 3.0e-5, 1.0e-4], "seed": [1, 2]},
    })
    plan = build_plan(config, tmp_path)
    assert [stage.task for stage in plan.intermediate] == INTERMEDIATE[1:], "9 intermediate stages, none for `none`"
    assert plan.intermediate_to_train == 9
    assert plan.trials_per_cell == 3 * 2
    assert [target.task for target in plan.targets] == ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa"]
    assert plan.target_trials == 10 * 7 * 6, "10 intermediate (with none) × 7 trained targets × 3 lr × 2 seeds"
    assert plan.retrieval_evaluations == 10 * 2, "BUCC and Tatoeba on each of the 10 encoders"
    assert plan.total_steps() is None, "epoch-based stages depend on the data size"


def test_smoke_plan_cost_and_cache(tmp_path, data_dir):
    output = tmp_path / "out"
    result = runner.invoke(app, ["plan", str(SMOKE), "--data-dir", str(data_dir), "--output", str(output)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1. Intermediate stages: 1 (1 to train, 0 cached)" in text
    assert "2. Target trials: 8 (2 intermediate × 2 trained target(s) × 2 per cell" in text
    # anli: 4 steps × batch 8 × 64 tokens; 8 target trials: 6 steps × batch 8 × 96 tokens
    assert f"at most {4 + 8 * 6} optimizer steps" in text
    assert f"{4 * 8 * 64 + 8 * 6 * 8 * 96:,} training tokens" in text
    assert not output.exists(), "plan writes nothing"

    config = load_config(SMOKE, [])
    (stage,) = intermediate_stages(config)
    encoder = stage.encoder_dir(output)
    encoder.mkdir(parents=True)
    (encoder / ENCODER_MARKER).write_text(json.dumps({"task": "anli"}), encoding="utf-8")
    plan = build_plan(config, output)
    assert [s.cached for s in plan.intermediate] == [True]
    assert plan.total_steps() == 8 * 6, "a cached encoder is reused, not retrained"


def test_bad_input_fails_with_exit_code_2(tmp_path, data_dir):
    result = runner.invoke(app, ["plan", str(SMOKE), "target_tasks=[tydiqaa]", "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "Did you mean 'tydiqa'?" in " ".join(result.output.split())
