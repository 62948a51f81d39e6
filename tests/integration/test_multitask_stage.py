"""A real multi-task intermediate stage (no Ray): tiny XLM-R, real data, tagging + QA + MLM heads
on one encoder; the saved encoder starts a target stage. Translated SQuAD in its release layout."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from _checkpoints import KeptCheckpoints
from transformers import AutoModel, XLMRobertaConfig, XLMRobertaForMaskedLM

from sweeper.cache.markers import ENCODER_MARKER, encoder_is_complete
from sweeper.config import SweepConfig, TrainingConfig, ZeroShotConfig
from sweeper.errors import MissingDataError
from sweeper.registry import get_task
from sweeper.sweep.grid import intermediate_stages
from sweeper.sweep.multitask import check_multitask_stage
from sweeper.sweep.validation import validate_sweep
from sweeper.training.inputs import StageInputs
from sweeper.training.multitask import build_multitask_model, mlm_model, run_multitask_stage
from sweeper.training.stages import run_target_stage
from sweeper.training.trainer import BEST_WEIGHTS_DIR

SETTINGS = {
    "learning_rate": 1.0e-3,
    "per_device_train_batch_size": 8,
    "max_seq_length": 96,
    "doc_stride": 32,
    "max_query_length": 32,
    "max_steps": 6,
    "eval_steps": 3,
    "max_train_examples": 24,
    "max_dev_examples": 12,
    "warmup_ratio": 0.0,
}
MLM = {
    "train_files": ["xtreme/tatoeba/tatoeba.deu-eng.deu", "xtreme/tatoeba/tatoeba.fra-eng.fra"],
    "dev_files": ["xtreme/tatoeba/tatoeba.spa-eng.spa"],
}


def sweep(multitask: dict, data_dir=None) -> SweepConfig:
    config = SweepConfig.model_validate(
        {
            "name": "mt",
            "model": "tiny-xlmr",
            "intermediate_tasks": ["none", "mix"],
            "target_tasks": ["panx"],
            "zero_shot": {"languages": ["de"]},
            "param_space": {"learning_rate": [1.0e-4]},
            "intermediate": SETTINGS,
            "multitask": {"mix": multitask},
        }
    )
    if data_dir is not None:
        validate_sweep(config, data_dir)
    return config


def head_parameters(model, member: str) -> dict[str, torch.Tensor]:
    """A member's own parameters (its head), without the shared encoder's."""
    head = model.heads[member]
    return {
        name: value.detach().clone()
        for name, value in head.named_parameters()
        if not name.startswith(head.base_model_prefix + ".")
    }


def encoder_dir_of(stage, root: Path) -> Path:
    """An encoder folder named as the stage cache names it (``<name>-<key>``), under ``root``."""
    return root / "stages" / "intermediate" / f"{stage.name}-{stage.key}"


@pytest.fixture(scope="module")
def trained(tiny_dir, data_dir, tmp_path_factory):
    config = sweep({"tasks": ["panx", "tydiqa", "mlm"], "sampling": "temperature", "temperature": 2.0, "mlm": MLM}, data_dir)
    (stage,) = intermediate_stages(config)
    _, initial, _ = build_multitask_model(stage, str(tiny_dir), data_dir)
    out = tmp_path_factory.mktemp("multitask")
    evaluations = []
    outcome = run_multitask_stage(
        stage, str(tiny_dir), data_dir, out / "work", encoder_dir_of(stage, out), lambda *args: evaluations.append(args)
    )
    assert outcome.probabilities == pytest.approx({"panx": 1 / 3, "tydiqa": 1 / 3, "mlm": 1 / 3}), "24 examples each"
    return stage, out, initial, outcome.model, outcome.result, evaluations


def test_every_member_is_scored_on_english_dev_and_the_mean_selects(trained):
    _, _, _, _, result, evaluations = trained
    assert [(index, step) for index, step, _ in evaluations] == [(1, 3), (2, 6)]
    for _, _, metrics in evaluations:
        assert {"panx/f1", "panx/accuracy", "tydiqa/exact_match", "tydiqa/f1", "mlm/accuracy"} <= set(metrics)
        assert all(0.0 <= value <= 100.0 for value in metrics.values())
        assert metrics["score"] == pytest.approx((metrics["panx/f1"] + metrics["tydiqa/f1"] + metrics["mlm/accuracy"]) / 3)
    assert result.best_score == max(metrics["score"] for _, _, metrics in evaluations)


def test_every_head_and_the_shared_encoder_were_trained(trained, tiny_dir):
    _, _, initial, model, _, _ = trained
    for member in ("panx", "tydiqa", "mlm"):
        before, after = head_parameters(initial, member), head_parameters(model, member)
        assert before.keys() == after.keys() and before
        changed = [name for name in before if not torch.equal(before[name], after[name])]
        assert changed, f"the {member} head never received a gradient step"
    pretrained = AutoModel.from_pretrained(tiny_dir).state_dict()
    trained_encoder = model.encoder.state_dict()
    assert any(not torch.equal(pretrained[name], trained_encoder[name]) for name in pretrained)
    for member in ("panx", "tydiqa", "mlm"):
        assert getattr(model.heads[member], model.heads[member].base_model_prefix) is model.encoder, "one shared encoder"
    decoder = model.heads["mlm"].lm_head.decoder.weight
    assert decoder is model.encoder.get_input_embeddings().weight, "the MLM decoder is tied to the shared embeddings"


def test_the_encoder_is_saved_once_and_starts_a_target_stage(trained, tiny_dir, data_dir, tmp_path):
    stage, out, _, model, _, _ = trained
    stages_dir = out / "stages" / "intermediate"
    assert [path.name for path in stages_dir.iterdir()] == [encoder_dir_of(stage, out).name], (
        "one encoder folder, no .partial left"
    )
    encoder_dir = encoder_dir_of(stage, out)
    assert encoder_is_complete(encoder_dir)
    marker = json.loads((encoder_dir / ENCODER_MARKER).read_text())
    assert marker["task"] == "mix" and marker["members"] == ["panx", "tydiqa", "mlm"]
    assert sum(marker["probabilities"].values()) == pytest.approx(1.0)
    assert json.loads((encoder_dir / "config.json").read_text())["architectures"] == ["XLMRobertaModel"], "no heads"
    saved = AutoModel.from_pretrained(encoder_dir).state_dict()
    assert all(torch.equal(value, model.encoder.state_dict()[name].cpu()) for name, value in saved.items()), (
        "the best model's encoder"
    )
    assert not (out / "work" / "trainer").exists(), "Trainer checkpoints are removed"

    settings = TrainingConfig(**{**SETTINGS, "max_steps": 2, "eval_steps": 2})
    inputs = StageInputs(str(tiny_dir), encoder_dir, get_task("panx"), settings, data_dir, tmp_path)
    result, zero_shot, _ = run_target_stage(
        inputs, ZeroShotConfig(languages=["de"], max_examples_per_language=4), lambda *a: None
    )
    assert result.best_step == 2 and set(zero_shot.per_language) == {"de"}


def test_translated_squad_is_an_intermediate_member_in_its_release_layout(tiny_dir, data_dir, tmp_path):
    # XTREME's translate-train SQuAD (squad.translate.train.en-{lang}.json, SQuAD v1.1 JSON) under
    # download/squad/translate-train/; here real translated SQuAD paragraphs (XQuAD de/es) stand in,
    # and SQuAD v1.1 dev is XQuAD's English file (a subset of it).
    root = tmp_path / "data"
    squad = root / "xtreme" / "squad"
    (squad / "translate-train").mkdir(parents=True)
    for language in ("de", "es"):
        shutil.copy(
            data_dir / "xtreme" / "xquad" / f"xquad.{language}.json",
            squad / "translate-train" / f"squad.translate.train.en-{language}.json",
        )
    shutil.copy(data_dir / "xtreme" / "xquad" / "xquad.en.json", squad / "dev-v1.1.json")
    member = {"task": "squad_v1", "train_split": "translate_train", "languages": ["de", "es"]}
    (french,) = intermediate_stages(sweep({"tasks": [{**member, "languages": ["de", "fr"]}]}))
    with pytest.raises(MissingDataError, match="squad.translate.train.en-fr.json"):
        check_multitask_stage(french, root)
    (stage,) = intermediate_stages(sweep({"tasks": [member]}))
    check_multitask_stage(stage, root)
    _, _, (head,) = build_multitask_model(stage, str(tiny_dir), root)
    assert head.name == "squad_v1" and head.num_examples == 2 * SETTINGS["max_train_examples"], "24 German + 24 Spanish"
    evaluations = []
    result = run_multitask_stage(
        stage, str(tiny_dir), root, tmp_path / "work", encoder_dir_of(stage, tmp_path), lambda *args: evaluations.append(args)
    ).result
    assert encoder_is_complete(encoder_dir_of(stage, tmp_path))
    assert {"squad_v1/exact_match", "squad_v1/f1"} <= set(evaluations[-1][2])
    assert result.best_score == max(metrics["score"] for _, _, metrics in evaluations)


def test_classification_and_multiple_choice_heads_train_together(tiny_dir, data_dir, tmp_path):
    # offline only the dev files exist: ANLI R1 dev and CommonsenseQA dev serve as train and dev
    overrides = {
        "anli": {
            "splits": {
                "train": {"format": "anli_jsonl", "files": ["anli/R1/dev.jsonl"]},
                "dev": {"format": "anli_jsonl", "files": ["anli/R3/dev.jsonl"]},
            }
        },
        "commonsenseqa": {
            "splits": {
                "train": get_task("commonsenseqa").splits["dev"].model_dump(),
                "dev": get_task("commonsenseqa").splits["dev"].model_dump(),
            }
        },
    }
    config = SweepConfig.model_validate(
        {
            **sweep({"tasks": ["anli", "commonsenseqa"], "sampling": "proportional"}).model_dump(),
            "task_overrides": overrides,
            "training_overrides": {"mix": {"max_steps": 4, "eval_steps": 4}},
        }
    )
    (stage,) = intermediate_stages(config)
    _, initial, _ = build_multitask_model(stage, str(tiny_dir), data_dir)
    outcome = run_multitask_stage(
        stage, str(tiny_dir), data_dir, tmp_path / "work", encoder_dir_of(stage, tmp_path), lambda *a: None
    )
    assert outcome.probabilities == pytest.approx({"anli": 0.5, "commonsenseqa": 0.5}), "24 examples each"
    assert {"anli/accuracy", "commonsenseqa/accuracy"} <= set(outcome.result.history[-1][1])
    assert outcome.model.heads["commonsenseqa"].classifier.out_features == 1, "one score per choice"
    for member in ("anli", "commonsenseqa"):
        before, after = head_parameters(initial, member), head_parameters(outcome.model, member)
        assert any(not torch.equal(before[name], after[name]) for name in before), member


def test_the_mlm_member_uses_a_pretrained_head_or_says_it_builds_one(tiny_dir, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="sweeper.training.multitask"):
        mlm_model(str(tiny_dir))
    assert "has no pretrained masked-LM head" in caplog.text, "tiny-xlmr is an encoder only"
    caplog.clear()
    pretrained = XLMRobertaForMaskedLM(XLMRobertaConfig.from_pretrained(tiny_dir))
    pretrained.save_pretrained(tmp_path / "with-head")
    with caplog.at_level("WARNING", logger="sweeper.training.multitask"):
        loaded = mlm_model(str(tmp_path / "with-head"))
    assert "masked-LM head" not in caplog.text
    assert torch.equal(loaded.lm_head.dense.weight, pretrained.lm_head.dense.weight), "the pretrained lm_head is kept"


def test_a_multitask_run_resumed_from_its_checkpoint_ends_as_the_uninterrupted_one(tiny_dir, data_dir, tmp_path):
    """What a retried or restored multi-task trial does: continue from a reported checkpoint with
    the same task batches (on CPU with a fixed seed: the same later scores and the same saved
    encoder), even when the trial's own checkpoint folders are gone (the best model's files
    travel in the last checkpoint when an earlier evaluation was the best)."""
    config = sweep({"tasks": ["panx", "mlm"], "sampling": "uniform", "mlm": MLM}, data_dir)
    (stage,) = intermediate_stages(config)
    kept = {1: tmp_path / "kept-1", 2: tmp_path / "kept-2"}
    keep = KeptCheckpoints(kept)
    evaluations = []
    full = run_multitask_stage(
        stage,
        str(tiny_dir),
        data_dir,
        tmp_path / "full",
        tmp_path / "full-encoder",
        lambda *args: evaluations.append(args),
        on_checkpoint=keep,
    )
    assert [(index, step) for index, step, _ in evaluations] == [(1, 3), (2, 6)]
    assert keep.calls == ["checkpoint", "checkpoint", "flush"], "flushed once, after the last checkpoint"
    assert keep.calls == ["checkpoint", "checkpoint", "flush"], "flushed once, after the last checkpoint"
    assert not (tmp_path / "full" / "trainer").exists(), "the run's own checkpoints are gone"
    assert (kept[2] / BEST_WEIGHTS_DIR).is_dir() == (full.result.best_step == 3), "the best model travels along"
    full_encoder = AutoModel.from_pretrained(tmp_path / "full-encoder").state_dict()
    for evaluation, folder in kept.items():
        resumed_evaluations = []
        resumed = run_multitask_stage(
            stage,
            str(tiny_dir),
            data_dir,
            tmp_path / f"resumed-{evaluation}",
            tmp_path / f"resumed-{evaluation}-encoder",
            lambda *args, out=resumed_evaluations: out.append(args),
            resume_from=folder,
        )
        assert resumed_evaluations == evaluations[evaluation:], "the evaluations after the checkpoint, numbered as before"
        assert resumed.result.history == full.result.history
        encoder = AutoModel.from_pretrained(tmp_path / f"resumed-{evaluation}-encoder").state_dict()
        assert all(torch.equal(value, encoder[name]) for name, value in full_encoder.items()), "the same best encoder"
