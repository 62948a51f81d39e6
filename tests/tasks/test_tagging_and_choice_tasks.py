"""CCG supertagging (labels from the data set's tags_to_id.json) and XCOPA (multiple choice): task
files, loading rows written in the original formats, one tiny stage each through ``sweeper.training.stages``.
CCGbank is LDC-licensed and XCOPA/COPA are not offline: every file here is written by the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _task_data import TINY, write_jsonl, write_text

from sweeper.cache.markers import encoder_is_complete
from sweeper.config import SweepConfig, ZeroShotConfig
from sweeper.data.sources import load_split, resolve_labels
from sweeper.errors import ConfigError, DataFormatError, MissingDataError
from sweeper.registry import get_task
from sweeper.sweep.validation import validate_sweep
from sweeper.task_types import get_task_type
from sweeper.training.inputs import StageInputs
from sweeper.training.stages import run_intermediate_stage, run_target_stage

XCOPA_LANGUAGES = ["et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh"]

# jiant's scripts/ccg/ccg_to_num.py numbers tags in order of first appearance over train, test, dev.
CCG_TAGS = ["N/N", "N", "(S[dcl]\\NP)/NP", ".", "NP", "S[dcl]\\NP", "NP[nb]/N", ",", "(NP\\NP)/NP"]
CCG_TRAIN = [
    ("Pierre Vinken joined the board .", "N/N N (S[dcl]\\NP)/NP NP[nb]/N N ."),
    ("It rains .", "NP S[dcl]\\NP ."),
    ("Vinken , chairman of Elsevier , joined .", "N , N (NP\\NP)/NP N , S[dcl]\\NP ."),
    ("The board joined .", "NP[nb]/N N S[dcl]\\NP ."),
]
CCG_DEV = [("Elsevier joined the board .", "N (S[dcl]\\NP)/NP NP[nb]/N N ."), ("It joined .", "NP S[dcl]\\NP .")]


def ccg_lines(rows: list[tuple[str, str]]) -> str:
    return "".join(f"{tokens}\t{tags}\n" for tokens, tags in rows)


@pytest.fixture
def ccg_dir(tmp_path) -> Path:
    """jiant's CCG layout under `english/ccg/`: ccg.{train,dev,test} and tags_to_id.json."""
    root = tmp_path / "data" / "english" / "ccg"
    write_text(root / "ccg.train", ccg_lines(CCG_TRAIN * 3))
    write_text(root / "ccg.dev", ccg_lines(CCG_DEV))
    write_text(root / "ccg.test", ccg_lines(CCG_DEV))
    write_text(root / "tags_to_id.json", json.dumps({tag: str(index) for index, tag in enumerate(CCG_TAGS)}))
    return tmp_path / "data"


def test_ccg_task_file_reads_its_labels_from_the_data_set():
    spec = get_task("ccg")
    assert (spec.task_type, spec.metric, spec.labels, spec.labels_file) == (
        "token_tagging",
        "accuracy",
        None,
        "ccg/tags_to_id.json",
    )
    assert [spec.splits[split].files for split in ("train", "dev", "test")] == [
        ["ccg/ccg.train"],
        ["ccg/ccg.dev"],
        ["ccg/ccg.test"],
    ]


def test_ccg_loads_and_resolves_the_inventory_in_id_order(ccg_dir):
    spec = resolve_labels(get_task("ccg"), ccg_dir)
    assert spec.labels == CCG_TAGS and spec.labels_file is None
    assert resolve_labels(spec, ccg_dir) is spec, "a spec with inline labels is returned as it is"
    train = load_split(spec, "train", ccg_dir)
    assert len(train) == 12 and train[0]["tokens"][:2] == ["Pierre", "Vinken"]
    assert {tag for example in train + load_split(spec, "dev", ccg_dir) for tag in example["tags"]} <= set(CCG_TAGS)


def test_ccg_label_inventory_errors_are_early_and_located(ccg_dir, tmp_path):
    inventory = ccg_dir / "english" / "ccg" / "tags_to_id.json"
    inventory.write_text(json.dumps({"N": 0, "NP": 2}), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"tags_to_id.json: ids must be 0..1 without gaps; id 1 is missing"):
        resolve_labels(get_task("ccg"), ccg_dir)
    inventory.unlink()
    with pytest.raises(MissingDataError, match=r"<data-dir>/english/ccg/tags_to_id.json"):
        resolve_labels(get_task("ccg"), ccg_dir)
    with pytest.raises(ConfigError, match="reads its labels from ccg/tags_to_id.json in a local data directory"):
        resolve_labels(get_task("ccg"), None)


def sweep_config(intermediate: list[str], targets: list[str]) -> SweepConfig:
    return SweepConfig.model_validate(
        {
            "name": "t",
            "model": "tiny-xlmr",
            "intermediate_tasks": intermediate,
            "target_tasks": targets,
            "param_space": {"learning_rate": [1e-4]},
        }
    )


def test_sweep_validation_checks_the_ccg_inventory_before_launch(ccg_dir, data_dir):
    (ccg_dir / "xtreme").symlink_to(data_dir / "xtreme", target_is_directory=True)
    config = sweep_config(["ccg"], ["panx"])
    validate_sweep(config.model_copy(update={"zero_shot": ZeroShotConfig(languages=["de"])}), ccg_dir)
    (ccg_dir / "english" / "ccg" / "tags_to_id.json").unlink()
    with pytest.raises(MissingDataError, match="label inventory"):
        validate_sweep(config.model_copy(update={"zero_shot": ZeroShotConfig(languages=["de"])}), ccg_dir)
    with pytest.raises(ConfigError, match="needs|local data directory"):
        validate_sweep(config, None)


def test_ccg_intermediate_stage_uses_the_inventory_for_head_and_scores(ccg_dir, tiny_dir, tmp_path):
    # The task file names a labels_file; the stage resolves it before sizing the head.
    evaluations = []
    inputs = StageInputs(str(tiny_dir), None, get_task("ccg"), TINY, ccg_dir, tmp_path / "work")
    run_intermediate_stage(inputs, tmp_path / "encoder", lambda *args: evaluations.append(args))
    assert encoder_is_complete(tmp_path / "encoder")
    [(_, step, metrics)] = evaluations
    assert step == 2 and 0.0 <= metrics["accuracy"] <= 100.0 and metrics["score"] == metrics["accuracy"]
    head = get_task_type("token_tagging").model_kwargs(resolve_labels(get_task("ccg"), ccg_dir))
    assert json.loads((tmp_path / "encoder" / "config.json").read_text())["architectures"] == ["XLMRobertaModel"]
    assert head["num_labels"] == len(CCG_TAGS) and head["id2label"] == dict(enumerate(CCG_TAGS))


# ------------------------------------------------------------------------------------- XCOPA


def copa_record(index: int, language: str) -> dict:
    return {
        "premise": f"{language} premise {index}",
        "choice1": f"{language} first {index}",
        "choice2": f"{language} second {index}",
        "question": ["cause", "effect"][index % 2],
        "label": index % 2,
        "idx": index,
        **({"changed": False} if language != "en" else {}),
    }


@pytest.fixture
def xcopa_dir(tmp_path) -> Path:
    """COPA and XCOPA rows under download/xcopa/, named as xtreme's download_xcopa stores them."""
    root = tmp_path / "data" / "xtreme" / "xcopa"
    write_jsonl(root / "train.en.jsonl", [copa_record(index, "en") for index in range(12)])
    write_jsonl(root / "val.en.jsonl", [copa_record(index, "en") for index in range(4)])
    for language in XCOPA_LANGUAGES:
        write_jsonl(root / f"test.{language}.jsonl", [copa_record(index, language) for index in range(5)])
    return tmp_path / "data"


def test_xcopa_task_file():
    spec = get_task("xcopa")
    assert (spec.task_type, spec.metric, spec.zero_shot.split) == ("multiple_choice", "accuracy", "test")
    assert spec.zero_shot.languages == XCOPA_LANGUAGES
    assert spec.splits["test"].sources[0].hub.path == "cambridgeltl/xcopa"
    assert {spec.splits[split].sources[0].hub.converter for split in spec.splits} == {"copa"}


def test_xcopa_loads_copa_and_every_language(xcopa_dir):
    spec = get_task("xcopa")
    assert len(load_split(spec, "train", xcopa_dir, "en")) == 12
    assert load_split(spec, "dev", xcopa_dir, "en")[1] == {
        "id": "1",
        "context": "en premise 1",
        "question": "effect",
        "choices": ["en first 1", "en second 1"],
        "label": 1,
    }
    for language in XCOPA_LANGUAGES:
        examples = load_split(spec, "test", xcopa_dir, language)
        assert [example["context"] for example in examples] == [f"{language} premise {index}" for index in range(5)]


def test_xcopa_files_renamed_by_later_xtreme_scripts_fail_early(xcopa_dir):
    # Later download scripts store test-{lang}.jsonl with every label overwritten by 0: not scorable.
    (xcopa_dir / "xtreme" / "xcopa" / "test.qu.jsonl").rename(xcopa_dir / "xtreme" / "xcopa" / "test-qu.jsonl")
    with pytest.raises(MissingDataError, match=r"xcopa/test.qu.jsonl"):
        load_split(get_task("xcopa"), "test", xcopa_dir, "qu")


def test_xcopa_target_stage_writes_choice_index_predictions(xcopa_dir, tiny_dir, tmp_path):
    inputs = StageInputs(str(tiny_dir), None, get_task("xcopa"), TINY, xcopa_dir, tmp_path)
    result, zero_shot, _ = run_target_stage(inputs, ZeroShotConfig(languages=["ht", "qu"]), lambda *args: None)
    assert result.best_step == 2
    assert set(zero_shot.per_language) == {"ht", "qu"}
    assert all(0.0 <= scores["accuracy"] <= 100.0 for scores in zero_shot.per_language.values())
    lines = (zero_shot.predictions_dir / "test-qu.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and set(lines) <= {"0", "1"}
