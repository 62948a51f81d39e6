"""Classification tasks of the library: MNLI, QQP, ANLI+ (three sources in three formats), XNLI,
PAWS-X. Loading on the shared GLUE samples / ANLI dev rounds and on rows written in each release's
format; one tiny training + evaluation step per new task through ``sweeper.training.stages``."""

from __future__ import annotations

from pathlib import Path

import pytest
from _task_data import TINY, link, write_jsonl, write_xtreme_tsv

from sweeper.cache.markers import encoder_is_complete
from sweeper.config import ZeroShotConfig
from sweeper.data.formats import NLI_LABELS
from sweeper.data.sources import load_split, proportional_counts, split_files
from sweeper.errors import ConfigError, MissingDataError, UnlabelledDataError
from sweeper.registry import TaskSpec, get_task
from sweeper.task_types import get_task_type
from sweeper.training.inputs import StageInputs
from sweeper.training.stages import run_intermediate_stage, run_target_stage

XNLI_LANGUAGES = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]
PAWSX_LANGUAGES = ["de", "en", "es", "fr", "ja", "ko", "zh"]


# ----------------------------------------------------------------------------------- task files


def test_task_files_declare_the_paper_setup():
    for task_id in ("mnli", "anli_plus", "xnli"):
        assert get_task(task_id).labels == list(NLI_LABELS), "one 3-way NLI label order everywhere"
    assert get_task("qqp").labels == get_task("pawsx").labels == ["0", "1"]
    assert get_task("xnli").zero_shot.languages == XNLI_LANGUAGES
    assert get_task("pawsx").zero_shot.languages == PAWSX_LANGUAGES
    assert [get_task(task_id).zero_shot.split for task_id in ("xnli", "pawsx")] == ["test", "test"]
    for task_id in ("mnli", "qqp", "anli_plus"):
        assert get_task(task_id).zero_shot is None, "intermediate only"
    formats = [source.format for source in get_task("anli_plus").splits["train"].sources]
    assert formats == ["anli_jsonl", "glue_mnli_tsv", "snli_jsonl"]
    assert get_task("anli_plus").splits["dev"].files == [f"anli/R{r}/dev.jsonl" for r in (1, 2, 3)]


def test_every_source_of_the_new_tasks_has_a_hub_source():
    for task_id in ("mnli", "qqp", "anli_plus", "xnli", "pawsx"):
        for split in get_task(task_id).splits.values():
            assert all(source.hub is not None for source in split.sources), task_id


# ----------------------------------------------------------------------------- GLUE (samples)


def test_mnli_loads_the_glue_sample_with_dev_matched(data_dir):
    spec = get_task("mnli")
    samples = data_dir / "samples"
    assert split_files(spec, "dev", samples)[0].name == "dev_matched.tsv"
    train = load_split(spec, "train", samples)
    dev = load_split(spec, "dev", samples)
    assert (len(train), len(dev)) == (3, 2)
    assert {example["label"] for example in train + dev} <= set(spec.labels)
    assert all(example["text_a"] and example["text_b"] for example in train + dev)


def test_qqp_loads_the_glue_sample_with_binary_labels(data_dir):
    spec = get_task("qqp")
    train = load_split(spec, "train", data_dir / "samples")
    dev = load_split(spec, "dev", data_dir / "samples")
    assert (len(train), len(dev)) == (3, 2)
    assert [example["label"] for example in train] == ["0", "1", "0"]
    assert train[0]["id"] == "133273"


# ------------------------------------------------------------------- ANLI+ (three sources)


def snli_records() -> list[dict]:
    return [
        {"pairID": "s1", "sentence1": "A dog runs.", "sentence2": "An animal moves.", "gold_label": "entailment"},
        {"pairID": "s2", "sentence1": "A man sleeps.", "sentence2": "A man sings.", "gold_label": "contradiction"},
        {"pairID": "s3", "sentence1": "Kids play.", "sentence2": "Kids are happy.", "gold_label": "-"},
        {"pairID": "s4", "sentence1": "A cat sits.", "sentence2": "The cat is black.", "gold_label": "neutral"},
    ]


@pytest.fixture
def anli_plus_dir(tmp_path, data_dir) -> Path:
    """An `english` layout: the real ANLI rounds, the GLUE MNLI sample, a written SNLI file."""
    root = tmp_path / "data"
    link(data_dir / "english" / "anli", root / "english" / "anli")
    link(data_dir / "samples" / "glue" / "MNLI", root / "english" / "glue" / "MNLI")
    write_jsonl(root / "english" / "snli_1.0" / "snli_1.0_train.jsonl", snli_records())
    return root


def anli_plus_offline() -> TaskSpec:
    """anli_plus with ANLI's train rounds replaced by its R1 dev round (only dev is offline)."""
    spec = get_task("anli_plus").model_dump()
    spec["splits"]["train"]["sources"][0]["files"] = ["anli/R1/dev.jsonl"]
    return TaskSpec.model_validate(spec)


def test_anli_plus_train_concatenates_three_formats_in_order(anli_plus_dir):
    examples = load_split(anli_plus_offline(), "train", anli_plus_dir)
    assert len(examples) == 1000 + 3 + 3, "ANLI R1 dev + MNLI sample + SNLI without the '-' pair"
    anli, mnli, snli = examples[:1000], examples[1000:1003], examples[1003:]
    assert anli[0]["id"].startswith(anli[0]["id"][:8]) and all(len(example["id"]) > 2 for example in anli)
    assert [example["id"] for example in snli] == ["s1", "s2", "s4"]
    assert [example["label"] for example in snli] == ["entailment", "contradiction", "neutral"]
    assert {example["label"] for example in examples} == set(NLI_LABELS)
    assert mnli[0]["text_a"] and mnli[0]["label"] in NLI_LABELS


def test_anli_plus_subsample_keeps_every_source_in_proportion(anli_plus_dir):
    full = load_split(anli_plus_offline(), "train", anli_plus_dir)
    examples = load_split(anli_plus_offline(), "train", anli_plus_dir, limit=400)
    # sizes 1000/3/3: shares 397.6/1.19/1.19 -> 398/1/1 (largest remainder), each source's first examples
    assert examples == full[:398] + full[1000:1001] + full[1003:1004]
    assert proportional_counts([1000, 3, 3], 400) == [398, 1, 1]
    assert proportional_counts([5, 5], 20) == [5, 5] and proportional_counts([5, 5], 3) == [2, 1]
    assert load_split(get_task("anli"), "dev", anli_plus_dir, limit=7) == load_split(get_task("anli"), "dev", anli_plus_dir)[:7]


def test_anli_plus_dev_is_the_three_anli_dev_rounds(anli_plus_dir):
    dev = load_split(get_task("anli_plus"), "dev", anli_plus_dir)
    assert len(dev) == 1000 + 1000 + 1198


def test_anli_plus_missing_source_names_its_path_and_layout(anli_plus_dir):
    (anli_plus_dir / "english" / "snli_1.0" / "snli_1.0_train.jsonl").unlink()
    with pytest.raises(MissingDataError) as error:
        load_split(anli_plus_offline(), "train", anli_plus_dir)
    message = str(error.value)
    assert str(anli_plus_dir / "english" / "snli_1.0" / "snli_1.0_train.jsonl") in message
    assert "<data-dir>/english/snli_1.0/snli_1.0_train.jsonl" in message
    assert "glue/MNLI" not in message, "only the source with a missing file is named"


def test_a_source_without_hub_source_is_named_before_any_download():
    spec = get_task("anli_plus").model_dump()
    spec["splits"]["train"]["sources"][2]["hub"] = None
    with pytest.raises(ConfigError, match=r"snli_jsonl source \['snli_1.0/snli_1.0_train.jsonl'\] has no Hub source"):
        load_split(TaskSpec.model_validate(spec), "train", None)


# --------------------------------------------------------------- XNLI, PAWS-X (written rows)


def nli_rows(language: str) -> list[list[str]]:
    return [
        [f"{language} premise {index}", f"{language} hypothesis {index}", label]
        for index, label in enumerate(["entailment", "neutral", "contradiction", "neutral"])
    ]


def paws_rows(language: str) -> list[list[str]]:
    return [[f'{language} "quoted" sentence {index}', f"{language} other {index}", str(index % 2)] for index in range(4)]


XNLI_RELEASE_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
                       "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre"]  # fmt: skip


def write_xnli_release(path: Path, languages: list[str]) -> Path:
    """XNLI-1.0/xnli.test.tsv: every language in one file, header, no quoting, `contradictory`."""
    rows = [
        [
            language,
            "contradictory" if label == "contradiction" else label,
            "",
            "",
            "",
            "",
            premise,
            hypothesis,
            "1",
            f"{language}{index}",
            "fiction",
        ]
        for language in languages
        for index, (premise, hypothesis, label) in enumerate(nli_rows(language))
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(row) + "\n" for row in [XNLI_RELEASE_HEADER, *rows]), encoding="utf-8")
    return path


def write_pawsx_release(path: Path, language: str) -> Path:
    """x-final/{lang}/test_2k.tsv: header `id sentence1 sentence2 label`, no quoting."""
    rows = [["id", "sentence1", "sentence2", "label"], *([str(i + 1), *row] for i, row in enumerate(paws_rows(language)))]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def xtreme_dir(tmp_path) -> Path:
    """XNLI and PAWS-X as xtreme's download_data.sh leaves them (labelled train/dev, test-{lang}.tsv
    without labels) plus the labelled release files it starts from (XNLI-1.0, x-final)."""
    root = tmp_path / "data" / "xtreme"
    write_xtreme_tsv(root / "xnli" / "train-en.tsv", nli_rows("en") * 4)
    write_xtreme_tsv(root / "pawsx" / "train-en.tsv", paws_rows("en") * 4)
    for language in XNLI_LANGUAGES:
        write_xtreme_tsv(root / "xnli" / f"dev-{language}.tsv", nli_rows(language))
        write_xtreme_tsv(root / "xnli" / f"test-{language}.tsv", [row[:2] for row in nli_rows(language)])
    write_xnli_release(root / "xnli" / "XNLI-1.0" / "xnli.test.tsv", XNLI_LANGUAGES)
    for language in PAWSX_LANGUAGES:
        write_xtreme_tsv(root / "pawsx" / f"dev-{language}.tsv", paws_rows(language))
        write_xtreme_tsv(root / "pawsx" / f"test-{language}.tsv", [row[:2] for row in paws_rows(language)])
        write_pawsx_release(root / "pawsx" / "x-final" / language / "test_2k.tsv", language)
    return root.parent


@pytest.mark.parametrize("task_id", ["xnli", "pawsx"])
def test_xtreme_pair_tasks_load_every_split_and_language(task_id, xtreme_dir):
    spec = get_task(task_id)
    assert len(load_split(spec, "train", xtreme_dir, "en")) == 16
    assert len(load_split(spec, "dev", xtreme_dir, "en")) == 4
    rows = nli_rows if task_id == "xnli" else paws_rows
    for language in spec.zero_shot.languages:
        examples = load_split(spec, "test", xtreme_dir, language)
        assert [(e["text_a"], e["text_b"], e["label"]) for e in examples] == [tuple(row) for row in rows(language)]
        assert all(set(example) == {"id", "text_a", "text_b", "label"} for example in examples)
    if task_id == "pawsx":
        assert load_split(spec, "test", xtreme_dir, "de")[0]["text_a"] == 'de "quoted" sentence 0'


def xtreme_test_spec(task_id: str) -> TaskSpec:
    """The task with its test split read from XTREME's own test-{lang}.tsv (as a user with only
    XTREME's download would set it)."""
    spec = get_task(task_id).model_dump()
    spec["splits"]["test"] = {"format": f"{task_id}_tsv", "files": [f"{task_id}/test-{{lang}}.tsv"]}
    return TaskSpec.model_validate(spec)


@pytest.mark.parametrize("task_id", ["xnli", "pawsx"])
def test_xtreme_test_files_without_labels_are_refused_for_scoring_with_the_fix(task_id, xtreme_dir):
    with pytest.raises(UnlabelledDataError) as error:
        load_split(xtreme_test_spec(task_id), "test", xtreme_dir, "de")
    message = str(error.value)
    assert str(xtreme_dir / "xtreme" / task_id / "test-de.tsv") in message
    assert "has no gold labels" in message and f"tasks/{task_id}.yaml" in message and "split: dev" in message


@pytest.mark.parametrize("task_id", ["xnli", "pawsx"])
def test_xtreme_test_files_are_the_release_rows_without_labels(task_id, xtreme_dir):
    unlabelled = load_split(xtreme_test_spec(task_id), "test", xtreme_dir, "de", labelled=False)
    released = load_split(get_task(task_id), "test", xtreme_dir, "de")
    assert [(e["text_a"], e["text_b"]) for e in unlabelled] == [(e["text_a"], e["text_b"]) for e in released]
    assert {example["label"] for example in unlabelled} == {None}


# ------------------------------------------------------------- one tiny stage per new task


@pytest.mark.parametrize("task_id", ["mnli", "qqp"])
def test_glue_intermediate_stage_trains_on_the_samples(task_id, tiny_dir, data_dir, tmp_path):
    evaluations = []
    inputs = StageInputs(str(tiny_dir), None, get_task(task_id), TINY, data_dir / "samples", tmp_path / "work")
    run_intermediate_stage(inputs, tmp_path / "encoder", lambda *args: evaluations.append(args))
    assert encoder_is_complete(tmp_path / "encoder")
    [(_, step, metrics)] = evaluations
    assert step == 2 and 0.0 <= metrics["accuracy"] <= 100.0
    if task_id == "qqp":  # GLUE/jiant: selected on (accuracy + F1 of "duplicate") / 2, both logged too
        assert metrics["score"] == metrics["accuracy_and_f1"] == pytest.approx((metrics["accuracy"] + metrics["f1"]) / 2)
    else:
        assert metrics["score"] == metrics["accuracy"]


def test_qqp_scores_accuracy_f1_of_duplicates_and_their_mean():
    # gold 1 1 0 0 0 0 0 0 0 0, predicted 1 0 1 0 0 0 0 0 0 0: 8/10 correct -> accuracy 80.00;
    # duplicates ("1"): TP 1, predicted 2, gold 2 -> F1 = 2*1/(2+2) = 50.00; mean (80 + 50)/2 = 65.00.
    # (F1 of "0" would be 2*7/(8+8) = 87.50, mean 83.75: the positive class is the task file's "1".)
    labels = ["1", "1"] + ["0"] * 8
    predictions = ["1", "0", "1"] + ["0"] * 7
    examples = [{"id": str(i), "text_a": "q1", "text_b": "q2", "label": label} for i, label in enumerate(labels)]
    scores = get_task_type("classification").score(predictions, examples, get_task("qqp"), "en")
    assert {name: round(value, 2) for name, value in scores.items()} == {"accuracy": 80.0, "f1": 50.0, "accuracy_and_f1": 65.0}
    assert get_task("qqp").metric == "accuracy_and_f1"
    assert get_task_type("classification").score(predictions, examples, get_task("pawsx"), "en") == {"accuracy": 80.0}


def test_positive_label_must_be_one_of_two_labels():
    spec = get_task("qqp").model_dump()
    with pytest.raises(ValueError, match="positive_label"):
        TaskSpec.model_validate({**spec, "positive_label": "duplicate"})
    with pytest.raises(ValueError, match="positive_label"):
        TaskSpec.model_validate({**get_task("mnli").model_dump(), "positive_label": "neutral"})


@pytest.fixture(scope="module")
def anli_plus_encoder(tiny_dir, data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("anli_plus")
    link(data_dir / "english" / "anli", root / "english" / "anli")
    link(data_dir / "samples" / "glue" / "MNLI", root / "english" / "glue" / "MNLI")
    write_jsonl(root / "english" / "snli_1.0" / "snli_1.0_train.jsonl", snli_records())
    evaluations = []
    inputs = StageInputs(str(tiny_dir), None, anli_plus_offline(), TINY, root, root / "work")
    run_intermediate_stage(inputs, root / "encoder", lambda *args: evaluations.append(args))
    return root / "encoder", evaluations


def test_anli_plus_intermediate_stage_trains_one_shared_nli_head(anli_plus_encoder):
    encoder_dir, evaluations = anli_plus_encoder
    assert encoder_is_complete(encoder_dir)
    assert len(evaluations) == 1 and 0.0 <= evaluations[0][2]["accuracy"] <= 100.0


@pytest.mark.parametrize(("task_id", "languages"), [("xnli", ["de", "sw"]), ("pawsx", ["ja", "zh"])])
def test_xtreme_pair_target_from_anli_plus_writes_zero_shot_predictions(
    task_id, languages, anli_plus_encoder, tiny_dir, xtreme_dir, tmp_path
):
    spec = get_task(task_id)
    inputs = StageInputs(str(tiny_dir), anli_plus_encoder[0], spec, TINY, xtreme_dir, tmp_path)
    result, zero_shot, _ = run_target_stage(inputs, ZeroShotConfig(languages=languages), lambda *args: None)
    assert result.best_step == 2
    assert set(zero_shot.per_language) == set(languages)
    assert all(set(scores) == {"accuracy"} and 0.0 <= scores["accuracy"] <= 100.0 for scores in zero_shot.per_language.values())
    for language in languages:
        lines = (zero_shot.predictions_dir / f"test-{language}.tsv").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 4 and set(lines) <= set(spec.labels)
