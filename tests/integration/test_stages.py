"""The three stages as plain functions (no Ray): tiny XLM-R, a few real examples per task."""

import json

import pytest
from _checkpoints import KeptCheckpoints
from transformers import AutoModelForQuestionAnswering

from sweeper.cache.markers import encoder_is_complete
from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.registry import TaskSpec, get_task
from sweeper.training.inputs import StageInputs
from sweeper.training.stages import run_intermediate_stage, run_target_stage

SETTINGS = TrainingConfig(
    learning_rate=1e-3,
    per_device_train_batch_size=8,
    max_seq_length=96,
    doc_stride=32,
    max_query_length=32,
    max_steps=4,
    eval_steps=2,
    max_train_examples=24,
    max_dev_examples=12,
    warmup_ratio=0.0,
)
ANLI_OFFLINE = {
    "train": {"format": "anli_jsonl", "files": ["anli/R1/dev.jsonl"]},
    "dev": {"format": "anli_jsonl", "files": ["anli/R3/dev.jsonl"]},
}


@pytest.fixture(scope="module")
def anli_encoder(tiny_dir, data_dir, tmp_path_factory):
    task = TaskSpec.model_validate({**get_task("anli").model_dump(), "splits": ANLI_OFFLINE})
    out = tmp_path_factory.mktemp("intermediate")
    evaluations = []
    inputs = StageInputs(str(tiny_dir), None, task, SETTINGS, data_dir, out / "work")
    result = run_intermediate_stage(inputs, out / "encoder", lambda *args: evaluations.append(args))
    return out / "encoder", result, evaluations


def test_intermediate_stage_saves_a_complete_encoder_without_head(anli_encoder):
    encoder_dir, result, evaluations = anli_encoder
    assert encoder_is_complete(encoder_dir)
    assert [(index, step) for index, step, _ in evaluations] == [(1, 2), (2, 4)]
    assert all(0.0 <= metrics["accuracy"] <= 100.0 for _, _, metrics in evaluations)
    assert result.best_score == max(metrics["score"] for _, _, metrics in evaluations)
    config = json.loads((encoder_dir / "config.json").read_text())
    assert config["architectures"] == ["XLMRobertaModel"], "encoder only: the NLI head is dropped"


def test_target_from_intermediate_encoder_gets_a_fresh_qa_head(anli_encoder, tiny_dir, data_dir, tmp_path):
    encoder_dir, _, _ = anli_encoder
    inputs = StageInputs(str(tiny_dir), encoder_dir, get_task("tydiqa"), SETTINGS, data_dir, tmp_path)
    result, zero_shot, best_dir = run_target_stage(
        inputs, ZeroShotConfig(languages=["ar", "en", "sw"], max_examples_per_language=6), lambda *args: None
    )
    model = AutoModelForQuestionAnswering.from_pretrained(best_dir)
    assert model.qa_outputs.out_features == 2, "start and end logits, not the 3 NLI labels"
    assert set(zero_shot.per_language) == {"ar", "en", "sw"}
    for scores in zero_shot.per_language.values():
        assert 0.0 <= scores["exact_match"] <= scores["f1"] <= 100.0
    predictions = json.loads((zero_shot.predictions_dir / "dev-sw.json").read_text())
    assert len(predictions) == 6 and all(isinstance(text, str) for text in predictions.values())
    assert result.best_step in (2, 4)


def test_tagging_target_from_the_pretrained_model_writes_xtreme_predictions(tiny_dir, data_dir, tmp_path):
    inputs = StageInputs(str(tiny_dir), None, get_task("panx"), SETTINGS, data_dir, tmp_path)
    _, zero_shot, _ = run_target_stage(
        inputs, ZeroShotConfig(languages=["de", "zh"], max_examples_per_language=5), lambda *args: None, ["de", "zh"]
    )
    assert set(zero_shot.per_language["de"]) == {"precision", "recall", "f1", "accuracy"}
    assert zero_shot.dev_per_language == zero_shot.per_language, "PAN-X is scored on dev: target dev is the same evaluation"
    lines = (zero_shot.predictions_dir / "dev-zh.tsv").read_text().split("\n\n")
    assert len(lines) == 5, "one block per sentence, blank line between sentences"
    labels = set(get_task("panx").labels)
    assert all(label in labels for block in lines for label in block.split())


@pytest.mark.parametrize("task_id", ["hellaswag", "cosmosqa", "commonsenseqa"])
def test_multiple_choice_intermediate_stage_on_real_rows(task_id, tiny_dir, data_dir, tmp_path):
    # Only the validation files exist offline; train and evaluate on disjoint-enough prefixes of it.
    spec = get_task(task_id)
    dev = spec.splits["dev"].model_dump()
    task = TaskSpec.model_validate({**spec.model_dump(), "splits": {"train": dev, "dev": dev}})
    evaluations = []
    inputs = StageInputs(str(tiny_dir), None, task, SETTINGS.model_copy(update={"max_steps": 2}), data_dir, tmp_path / "work")
    run_intermediate_stage(inputs, tmp_path / "encoder", lambda *args: evaluations.append(args))
    assert encoder_is_complete(tmp_path / "encoder")
    assert len(evaluations) == 1 and 0.0 <= evaluations[0][2]["accuracy"] <= 100.0


def test_target_scored_on_the_target_languages_dev_split(tiny_dir, data_dir, tmp_path):
    inputs = StageInputs(str(tiny_dir), None, get_task("udpos"), SETTINGS, data_dir, tmp_path)
    _, zero_shot, _ = run_target_stage(
        inputs, ZeroShotConfig(languages=["ar", "en"], max_examples_per_language=4), lambda *args: None, ["ar"]
    )
    assert set(zero_shot.per_language) == {"ar", "en"} and set(zero_shot.dev_per_language) == {"ar"}
    assert 0.0 <= zero_shot.dev_per_language["ar"]["f1"] <= 100.0
    names = sorted(path.name for path in zero_shot.predictions_dir.iterdir())
    assert names == ["dev-ar.tsv", "test-ar.tsv", "test-en.tsv"]
    dev_tokens = (zero_shot.predictions_dir / "dev-ar.tsv").read_text().split("\n\n")
    assert len(dev_tokens) == 4, "the first 4 dev sentences, not the test ones"


def test_a_run_resumed_from_its_checkpoint_ends_as_the_uninterrupted_one(tiny_dir, data_dir, tmp_path):
    """What a retried or restored trial does: continue from the checkpoint of evaluation 1 (on CPU
    with a fixed seed, the resumed run's later evaluations and its best model equal the others)."""
    settings = SETTINGS.model_copy(update={"max_steps": 6})
    kept, kept_last = tmp_path / "kept-checkpoint", tmp_path / "kept-last-checkpoint"
    keep_first = KeptCheckpoints({1: kept, 3: kept_last})

    full = StageInputs(str(tiny_dir), None, get_task("panx"), settings, data_dir, tmp_path / "full")
    evaluations = []
    result, _, best_dir = run_target_stage(
        full,
        ZeroShotConfig(languages=["de"], max_examples_per_language=5),
        lambda *args: evaluations.append(args),
        on_checkpoint=keep_first,
    )
    checkpoints = keep_first.checkpoints
    assert [(evaluation, step) for evaluation, step, *_ in checkpoints] == [(1, 2), (2, 4), (3, 6)]
    assert [metrics for *_, metrics, _ in checkpoints] == [metrics for *_, metrics in evaluations]
    assert {"optimizer.pt", "scheduler.pt", "trainer_state.json"} <= set(checkpoints[0][3]), "a full checkpoint to resume from"
    assert keep_first.calls == ["checkpoint"] * 3 + ["flush"], "flushed once, after the last checkpoint"

    resumed = StageInputs(str(tiny_dir), None, get_task("panx"), settings, data_dir, tmp_path / "resumed", resume_from=kept)
    resumed_evaluations = []
    resumed_result, _, resumed_best = run_target_stage(
        resumed, ZeroShotConfig(languages=["de"], max_examples_per_language=5), lambda *args: resumed_evaluations.append(args)
    )
    assert resumed_evaluations == evaluations[1:], "evaluations 2 and 3 again, numbered as before, same scores"
    assert resumed_result.history == result.history, "the history before the checkpoint comes with it"
    assert (resumed_result.best_score, resumed_result.best_step) == (result.best_score, result.best_step)
    assert (resumed_best / "model.safetensors").read_bytes() == (best_dir / "model.safetensors").read_bytes()

    # Cut short after its last checkpoint (e.g. in zero-shot evaluation): nothing is left to train.
    done = StageInputs(str(tiny_dir), None, get_task("panx"), settings, data_dir, tmp_path / "full", resume_from=kept_last)
    done_evaluations = []
    done_result, _, _ = run_target_stage(
        done, ZeroShotConfig(languages=["de"], max_examples_per_language=5), lambda *args: done_evaluations.append(args)
    )
    assert done_evaluations == [] and done_result.history == result.history
    assert (done_result.best_score, done_result.best_step) == (result.best_score, result.best_step)
