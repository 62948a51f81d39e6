"""``sweeper score``: prediction files written by the real task types, gold from ../shared/data,
numbers computed by hand; every user error exits 2 with a message and no traceback."""

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer
from typer.testing import CliRunner

from sweeper.commands.cli import app
from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.data.sources import load_split
from sweeper.metrics.xtreme import task_score
from sweeper.registry import get_task
from sweeper.task_types import get_task_type
from sweeper.training.inputs import StageInputs
from sweeper.training.zero_shot import evaluate_zero_shot

runner = CliRunner()
PANX_N = 30  # gold sentences per language scored in the PAN-X tests


def score(*args: str, env: dict | None = None):
    return runner.invoke(app, ["score", *args], env={"COLUMNS": "200", **(env or {})})


def score_json(*args: str, env: dict | None = None) -> dict:
    result = score(*args, "--json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_user_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), "a user error, not a crash"
    assert "Traceback" not in result.output
    message = " ".join(result.stderr.split())  # rich wraps long lines
    for fragment in fragments:
        assert fragment in message, message


def write(task: str, predictions, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    get_task_type(get_task(task).task_type).write_predictions(predictions, path)
    return path


# --- PAN-X: gold tags for de, a damaged copy for zh --------------------------------------------


def spans(tags: list[str]) -> int:
    """Entities by conlleval's rule: a chunk starts at B-X, or at I-X after O or another type
    (the real zh data has I-ORG after O)."""
    return sum(tag.startswith("B-") or (tag.startswith("I-") and prev[2:] != tag[2:]) for prev, tag in zip(["O", *tags], tags))


@pytest.fixture(scope="module")
def panx_gold(data_dir):
    return {lang: [ex["tags"] for ex in load_split(get_task("panx"), "dev", data_dir, lang, PANX_N)] for lang in ("de", "zh")}


@pytest.fixture(scope="module")
def panx_dir(panx_gold, tmp_path_factory):
    folder = tmp_path_factory.mktemp("predictions")
    write("panx", panx_gold["de"], folder / "panx" / "dev-de.tsv")
    damaged = [["O"] * len(tags) if index % 2 == 0 else tags for index, tags in enumerate(panx_gold["zh"])]
    write("panx", damaged, folder / "panx" / "dev-zh.tsv")
    return folder


def expected_zh(panx_gold) -> dict[str, float]:
    """Even sentences blanked to O: every predicted span is gold (precision 100), recall = kept / all."""
    gold = panx_gold["zh"]
    total = sum(spans(tags) for tags in gold)
    kept = sum(spans(tags) for index, tags in enumerate(gold) if index % 2 == 1)
    tokens = sum(len(tags) for tags in gold)
    wrong = sum(tag != "O" for index, tags in enumerate(gold) if index % 2 == 0 for tag in tags)
    recall = 100 * kept / total
    return {
        "precision": 100.0,
        "recall": recall,
        "f1": 2 * 100 * recall / (100 + recall),
        "accuracy": 100 * (tokens - wrong) / tokens,
    }


def test_panx_per_language_and_xtreme_average(panx_dir, panx_gold, data_dir):
    zh = expected_zh(panx_gold)
    assert 0 < zh["recall"] < 100, "the damage must remove some entities and keep others"
    result = score_json(
        "--task", "panx", "--predictions", str(panx_dir), "--data-dir", str(data_dir), "--max-examples-per-language", str(PANX_N)
    )
    assert result["task"] == "panx" and result["split"] == "dev"
    assert list(result["languages"]) == ["de", "zh"]
    assert result["languages"]["de"]["metrics"] == pytest.approx(
        {"precision": 100.0, "recall": 100.0, "f1": 100.0, "accuracy": 100.0}
    )
    assert result["languages"]["zh"]["metrics"] == pytest.approx(zh)
    assert result["languages"]["zh"]["examples"] == PANX_N
    assert result["languages"]["zh"]["file"] == str(panx_dir / "panx" / "dev-zh.tsv")
    assert result["average"]["f1"] == pytest.approx((100 + zh["f1"]) / 2)
    assert result["average"]["accuracy"] == pytest.approx((100 + zh["accuracy"]) / 2)
    assert result["task_score"] == pytest.approx((100 + zh["f1"]) / 2), "PAN-X: average F1 (XTREME evaluate.py)"
    assert result["task_score_rule"] == "avg f1"
    assert not result["complete"] and len(result["missing_languages"]) == 38


def test_panx_table_and_data_dir_from_the_environment(panx_dir, panx_gold, data_dir):
    # the task's own folder works as well as its parent; SWEEPER_DATA_DIR stands in for --data-dir
    result = score(
        "--task",
        "panx",
        "--predictions",
        str(panx_dir / "panx"),
        "--max-examples-per-language",
        str(PANX_N),
        env={"SWEEPER_DATA_DIR": str(data_dir)},
    )
    assert result.exit_code == 0, result.output
    zh_f1 = expected_zh(panx_gold)["f1"]
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 3}
    assert f"{zh_f1:.2f}" in rows["zh"] and "dev-zh.tsv" in rows["zh"]
    assert f"{(100 + zh_f1) / 2:.2f}" in rows["avg"]
    text = " ".join(result.stdout.split())
    assert f"XTREME task score avg f1: {(100 + zh_f1) / 2:.2f} (2 of 40 languages; partial" in text


def test_languages_option_restricts_the_scored_files(panx_dir, data_dir):
    result = score_json(
        "--task",
        "panx",
        "--predictions",
        str(panx_dir),
        "--data-dir",
        str(data_dir),
        "--max-examples-per-language",
        str(PANX_N),
        "--languages",
        "de",
    )
    assert list(result["languages"]) == ["de"]
    assert result["task_score"] == pytest.approx(100.0)


# --- QA: TyDiQA (dev) and XQuAD (test, leaderboard file names) ---------------------------------


def test_tydiqa_first_gold_answer_is_exact_and_empty_answers_score_zero(data_dir, tmp_path):
    spec = get_task("tydiqa")
    en = load_split(spec, "dev", data_dir, "en")
    sw = load_split(spec, "dev", data_dir, "sw")
    write("tydiqa", {ex["id"]: ex["answers"]["text"][0] for ex in en}, tmp_path / "dev-en.json")
    answered = len(sw) // 3
    write(
        "tydiqa",
        {ex["id"]: ex["answers"]["text"][0] if i < answered else "" for i, ex in enumerate(sw)},
        tmp_path / "dev-sw.json",
    )
    result = score_json("--task", "tydiqa", "--predictions", str(tmp_path), "--data-dir", str(data_dir))
    sw_score = 100 * answered / len(sw)
    assert result["languages"]["en"]["metrics"] == pytest.approx({"exact_match": 100.0, "f1": 100.0})
    assert result["languages"]["sw"]["metrics"] == pytest.approx({"exact_match": sw_score, "f1": sw_score})
    assert result["languages"]["sw"]["examples"] == len(sw)
    assert result["average"] == pytest.approx({"exact_match": (100 + sw_score) / 2, "f1": (100 + sw_score) / 2})
    assert result["task_score"] == pytest.approx((100 + sw_score) / 2)
    assert result["task_score_rule"] == "(avg exact_match + avg f1) / 2"


def test_xquad_leaderboard_names_in_the_parent_folder(data_dir, tmp_path):
    spec = get_task("xquad")
    de = load_split(spec, "test", data_dir, "de")
    zh = load_split(spec, "test", data_dir, "zh")
    write("xquad", {ex["id"]: ex["answers"]["text"][0] for ex in de}, tmp_path / "xquad" / "test-de.json")
    # zh: a wrong but non-empty answer everywhere: EM 0; F1 0 as no token is shared with any gold answer
    write("xquad", {ex["id"]: "zzzz" for ex in zh}, tmp_path / "xquad" / "test-zh.json")
    result = score_json("--task", "xquad", "--predictions", str(tmp_path), "--data-dir", str(data_dir))
    assert result["split"] == "test"
    assert result["languages"]["de"]["metrics"] == pytest.approx({"exact_match": 100.0, "f1": 100.0})
    assert result["languages"]["zh"]["metrics"] == pytest.approx({"exact_match": 0.0, "f1": 0.0})
    assert result["languages"]["de"]["examples"] == 1190
    assert result["task_score"] == pytest.approx(50.0)
    assert result["missing_languages"] == ["ar", "el", "en", "es", "hi", "ru", "th", "tr", "vi"]


# --- sweeper's own zero-shot predictions score as sweeper logged them ------------------------

SETTINGS = TrainingConfig(max_seq_length=96, doc_stride=32, max_query_length=32, per_device_eval_batch_size=8)


@pytest.mark.parametrize(("task", "languages"), [("panx", ["de", "zh"]), ("tydiqa", ["en", "sw"])])
def test_score_of_zero_shot_predictions_equals_the_logged_metrics(task, languages, tiny_dir, data_dir, tmp_path):
    spec = get_task(task)
    task_type = get_task_type(spec.task_type)
    model = task_type.auto_model_class().from_pretrained(str(tiny_dir), **task_type.model_kwargs(spec))
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    inputs = StageInputs(str(tiny_dir), None, spec, SETTINGS, data_dir, tmp_path)
    logged = evaluate_zero_shot(model, tokenizer, inputs, ZeroShotConfig(languages=languages, max_examples_per_language=6))
    result = score_json(
        "--task",
        task,
        "--predictions",
        str(tmp_path / "predictions"),
        "--data-dir",
        str(data_dir),
        "--max-examples-per-language",
        "6",
    )
    assert list(result["languages"]) == languages
    for language in languages:  # same files, same metric code: equal, not only to two decimals
        assert result["languages"][language]["metrics"] == pytest.approx(logged.per_language[language], abs=1e-9)
    # the number the Train worker logs as zero_shot/<task>/avg/<split>/xtreme_score
    assert result["task_score"] == pytest.approx(task_score(task, logged.per_language), abs=1e-9)


# --- user errors: exit 2, a message, no traceback ----------------------------------------------


def test_unknown_task_suggests_the_close_one(tmp_path):
    assert_user_error(score("--task", "pnax", "--predictions", str(tmp_path)), "unknown task 'pnax'", "Did you mean 'panx'?")


def test_folder_without_prediction_files(data_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "dev-de.json").write_text("{}")  # wrong suffix for a tagging task
    assert_user_error(
        score("--task", "panx", "--predictions", str(tmp_path), "--data-dir", str(data_dir)),
        f"no panx prediction files in {tmp_path}",
        "expected files named dev-<lang>.tsv (e.g.",
        "found dev-de.json, notes.txt",
    )


def test_leaderboard_files_count_only_for_the_split_they_predict(panx_gold, data_dir, tmp_path):
    # PAN-X test-de.tsv predicts XTREME's unlabelled test split, never dev; TyDiQA test-sw.json is GoldP dev.
    write("panx", panx_gold["de"], tmp_path / "panx" / "test-de.tsv")
    assert_user_error(
        score("--task", "panx", "--predictions", str(tmp_path), "--data-dir", str(data_dir)),
        "no panx prediction files",
        "expected files named dev-<lang>.tsv",
        "found test-de.tsv",
    )
    gold = load_split(get_task("tydiqa"), "dev", data_dir, "sw", 10)
    write("tydiqa", {ex["id"]: ex["answers"]["text"][0] for ex in gold}, tmp_path / "tydiqa" / "test-sw.json")
    result = score(
        "--task",
        "tydiqa",
        "--predictions",
        str(tmp_path),
        "--data-dir",
        str(data_dir),
        "--max-examples-per-language",
        "10",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["languages"]["sw"]["metrics"] == {"exact_match": 100.0, "f1": 100.0}


def test_scoring_against_unlabelled_xtreme_test_files_is_refused(panx_gold, tmp_path):
    root = tmp_path / "data" / "xtreme" / "panx"
    root.mkdir(parents=True)
    (root / "test-de.tsv").write_text("Angela\nMerkel\n\nBerlin\n", encoding="utf-8")  # as panx_preprocess writes it
    write("panx", [["B-PER", "I-PER"], ["B-LOC"]], tmp_path / "preds" / "test-de.tsv")
    assert_user_error(
        score(
            "--task", "panx", "--split", "test", "--predictions", str(tmp_path / "preds"), "--data-dir", str(tmp_path / "data")
        ),
        "task 'panx', split 'test', language 'de'",
        "test-de.tsv has no gold labels",
        "removes the labels of the test data",
    )


def test_missing_predictions_folder(data_dir, tmp_path):
    assert_user_error(
        score("--task", "panx", "--predictions", str(tmp_path / "nope"), "--data-dir", str(data_dir)),
        f"predictions folder {tmp_path / 'nope'} does not exist",
    )


def test_tagging_file_with_fewer_sentences_than_gold(panx_gold, data_dir, tmp_path):
    path = write("panx", panx_gold["de"][:20], tmp_path / "dev-de.tsv")
    assert_user_error(
        score(
            "--task",
            "panx",
            "--predictions",
            str(tmp_path),
            "--data-dir",
            str(data_dir),
            "--max-examples-per-language",
            str(PANX_N),
        ),
        str(path),
        f"20 predictions do not match the {PANX_N} gold examples of panx/de",
        "--max-examples-per-language 20",
    )


def test_tagging_sentence_with_a_missing_token(panx_gold, data_dir, tmp_path):
    damaged = [list(tags) for tags in panx_gold["de"]]
    damaged[3] = damaged[3][:-1]
    write("panx", damaged, tmp_path / "dev-de.tsv")
    assert_user_error(
        score(
            "--task",
            "panx",
            "--predictions",
            str(tmp_path),
            "--data-dir",
            str(data_dir),
            "--max-examples-per-language",
            str(PANX_N),
        ),
        "dev-de.tsv",
        "y_pred[3]",
    )


def test_qa_file_with_wrong_question_ids_scores_missing_ones_zero_and_warns(data_dir, tmp_path):
    gold = load_split(get_task("tydiqa"), "dev", data_dir, "sw", 10)
    predictions = {ex["id"]: ex["answers"]["text"][0] for ex in gold[1:]} | {"not-a-question": "x"}
    path = write("tydiqa", predictions, tmp_path / "dev-sw.json")
    args = ("--task", "tydiqa", "--predictions", str(tmp_path), "--data-dir", str(data_dir), "--max-examples-per-language", "10")
    result = score(*args, "--json")
    # as evaluate-v1.1.py: the missing question scores 0 (9 of 10 exact), the unknown id is ignored
    assert result.exit_code == 0, result.output
    assert two_decimals(json.loads(result.stdout))["languages"]["sw"] == {"exact_match": 90.0, "f1": 90.0}
    warning = " ".join(result.stderr.split())
    assert str(path) in warning
    assert (
        f"1 gold question id(s) without a prediction (scored 0, as the official script does), e.g. '{gold[0]['id']}'" in warning
    )
    assert "1 prediction id(s) not in the gold data (ignored, as the official script does), e.g. 'not-a-question'" in warning
    assert_user_error(score(*args, "--strict"), "1 prediction file(s) with warnings (--strict)")


def test_empty_prediction_file_says_so(data_dir, tmp_path):
    (tmp_path / "dev-de.tsv").write_text("", encoding="utf-8")
    result = score(
        "--task", "panx", "--predictions", str(tmp_path), "--data-dir", str(data_dir), "--max-examples-per-language", "5"
    )
    assert_user_error(result, "0 predictions do not match the 5 gold examples of panx/de", "The file is empty")
    assert "--max-examples-per-language 0" not in result.stderr


def test_language_the_task_has_no_gold_for(panx_gold, data_dir, tmp_path):
    write("panx", panx_gold["de"], tmp_path / "dev-xx.tsv")
    assert_user_error(
        score("--task", "panx", "--predictions", str(tmp_path), "--data-dir", str(data_dir)),
        "no gold data for language(s) xx of task 'panx', split 'dev'",
        "dev-xx.tsv",
    )


def test_language_whose_gold_file_is_missing(panx_gold, data_dir, tmp_path):
    # th is a PAN-X language, but XTREME's download has no dev-th.tsv (../shared/data/README.md)
    path = write("panx", panx_gold["de"], tmp_path / "dev-th.tsv")
    assert_user_error(
        score("--task", "panx", "--predictions", str(tmp_path), "--data-dir", str(data_dir)),
        f"no gold data for {path} (language 'th')",
        "panx/dev-th.tsv",
    )


def test_requested_language_without_a_file(panx_dir, data_dir):
    assert_user_error(
        score("--task", "panx", "--predictions", str(panx_dir), "--data-dir", str(data_dir), "--languages", "de,fr"),
        "no panx prediction file for language(s) fr",
        "files were found for de, zh",
    )


def test_two_files_for_one_language(data_dir, tmp_path):
    write("tydiqa", {}, tmp_path / "dev-sw.json")
    write("tydiqa", {}, tmp_path / "test-sw.json")  # TyDiQA's leaderboard file predicts its dev split
    assert_user_error(
        score("--task", "tydiqa", "--predictions", str(tmp_path), "--data-dir", str(data_dir)),
        "hold tydiqa predictions for language 'sw'",
    )


def test_task_without_zero_shot_split_needs_split(tmp_path):
    assert_user_error(score("--task", "anli", "--predictions", str(tmp_path)), "task 'anli' has no zero-shot split; pass --split")


def test_unknown_split(tmp_path):
    assert_user_error(
        score("--task", "panx", "--predictions", str(tmp_path), "--split", "tset"), "task 'panx' has no split 'tset'"
    )


# --- every other task: written gold in its release format, hand-computed scores (2 decimals) -----


def two_decimals(result: dict) -> dict:
    return {
        "languages": {lang: {k: round(v, 2) for k, v in entry["metrics"].items()} for lang, entry in result["languages"].items()},
        "task_score": None if result["task_score"] is None else round(result["task_score"], 2),
    }


def test_xnli_scored_on_the_labelled_release_test_file(tmp_path):
    header = "language\tgold_label\ts1bp\ts2bp\ts1p\ts2p\tsentence1\tsentence2\tpromptID\tpairID\tgenre\n"
    labels = {
        "de": ["entailment", "neutral", "contradictory", "neutral"],
        "sw": ["neutral", "neutral", "entailment", "contradictory"],
    }
    rows = "".join(
        f"{lang}\t{label}\t\t\t\t\tP{i}\tH{i}\t1\t{lang}{i}\tfiction\n"
        for lang, tags in labels.items()
        for i, label in enumerate(tags)
    )
    release = tmp_path / "data" / "xtreme" / "xnli" / "XNLI-1.0" / "xnli.test.tsv"
    release.parent.mkdir(parents=True)
    release.write_text(header + rows, encoding="utf-8")
    write("xnli", ["entailment", "neutral", "contradiction", "neutral"], tmp_path / "p" / "test-de.tsv")  # 4/4
    write("xnli", ["entailment", "neutral", "neutral", "neutral"], tmp_path / "p" / "test-sw.tsv")  # 1/4 (index 1)
    result = score_json("--task", "xnli", "--predictions", str(tmp_path / "p"), "--data-dir", str(tmp_path / "data"))
    # de 100.00, sw 25.00; XTREME task score = mean accuracy (100 + 25) / 2 = 62.50
    assert two_decimals(result) == {"languages": {"de": {"accuracy": 100.0}, "sw": {"accuracy": 25.0}}, "task_score": 62.5}
    assert len(result["missing_languages"]) == 13


def test_pawsx_scored_on_the_x_final_release_files(tmp_path):
    for lang, labels in {"de": "0101", "ja": "1100"}.items():
        path = tmp_path / "data" / "xtreme" / "pawsx" / "x-final" / lang / "test_2k.tsv"
        path.parent.mkdir(parents=True)
        path.write_text(
            "id\tsentence1\tsentence2\tlabel\n" + "".join(f"{i + 1}\tS{i}\tT{i}\t{label}\n" for i, label in enumerate(labels)),
            encoding="utf-8",
        )
    write("pawsx", list("1100"), tmp_path / "p" / "test-de.tsv")  # gold 0101: indices 1, 2 wrong -> 2/4
    write("pawsx", list("1101"), tmp_path / "p" / "test-ja.tsv")  # gold 1100: index 3 wrong -> 3/4
    result = score_json("--task", "pawsx", "--predictions", str(tmp_path / "p"), "--data-dir", str(tmp_path / "data"))
    assert two_decimals(result) == {"languages": {"de": {"accuracy": 50.0}, "ja": {"accuracy": 75.0}}, "task_score": 62.5}


def test_udpos_seqeval_f1_as_xtreme_computes_it_on_pos_tags(tmp_path):
    gold = tmp_path / "data" / "xtreme" / "udpos" / "test-fr.tsv"
    gold.parent.mkdir(parents=True)
    gold.write_text("Le\tDET\nchat\tNOUN\ndort\tVERB\n.\tPUNCT\n\nIl\tPRON\nmange\tVERB\n", encoding="utf-8")
    write("udpos", [["DET", "NOUN", "NOUN", "PUNCT"], ["PRON", "VERB"]], tmp_path / "p" / "test-fr.tsv")
    result = score_json("--task", "udpos", "--predictions", str(tmp_path / "p"), "--data-dir", str(tmp_path / "data"))
    # XTREME evaluate.py scores UD-POS with seqeval, which reads a tag without B-/I- prefix as a chunk
    # and merges equal neighbours: gold chunks DET NOUN VERB PUNCT | PRON VERB (6); predicted
    # DET [NOUN NOUN] PUNCT | PRON VERB (5); correct DET, PUNCT, PRON, VERB (4).
    # P = 4/5, R = 4/6, F1 = 2PR/(P+R) = 72.73; token accuracy 5/6 = 83.33.
    scores = two_decimals(result)["languages"]["fr"]
    assert (scores["precision"], scores["recall"], scores["f1"], scores["accuracy"]) == (80.0, 66.67, 72.73, 83.33)
    assert round(result["task_score"], 2) == 72.73


def test_mlqa_uses_the_mlqa_script_per_language_normalization(tmp_path):
    context = "Der Hund schläft in Berlin Mitte."
    squad = {"version": "1.0", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": "Wer?", "answers": [{"text": "Der Hund", "answer_start": 0}]},
        {"id": "q2", "question": "Wo?", "answers": [{"text": "Berlin Mitte", "answer_start": context.index("Berlin")}]},
    ]}]}]}  # fmt: skip
    gold = tmp_path / "data" / "xtreme" / "mlqa" / "MLQA_V1" / "test" / "test-context-de-question-de.json"
    gold.parent.mkdir(parents=True)
    gold.write_text(json.dumps(squad), encoding="utf-8")
    write("mlqa", {"q1": "Hund", "q2": "Berlin"}, tmp_path / "p" / "test-de.json")
    result = score_json("--task", "mlqa", "--predictions", str(tmp_path / "p"), "--data-dir", str(tmp_path / "data"))
    # q1: the German article "der" is removed -> EM 1, F1 1; q2: "berlin" vs "berlin mitte": EM 0,
    # P 1, R 1/2, F1 2/3. de: EM 50.00, F1 83.33; task score (50 + 83.33) / 2 = 66.67.
    # (The SQuAD v1.1 script keeps "der": q1 would score EM 0.)
    assert two_decimals(result) == {"languages": {"de": {"exact_match": 50.0, "f1": 83.33}}, "task_score": 66.67}


def test_xcopa_accuracy(tmp_path):
    rows = [{"idx": 1, "premise": "P", "choice1": "A", "choice2": "B", "question": "cause", "label": 0},
            {"idx": 2, "premise": "Q", "choice1": "C", "choice2": "D", "question": "effect", "label": 1},
            {"idx": 3, "premise": "R", "choice1": "E", "choice2": "F", "question": "cause", "label": 1}]  # fmt: skip
    gold = tmp_path / "data" / "xtreme" / "xcopa" / "test.et.jsonl"
    gold.parent.mkdir(parents=True)
    gold.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    write("xcopa", [0, 0, 1], tmp_path / "p" / "test-et.tsv")  # index 1 wrong: 2/3
    result = score_json("--task", "xcopa", "--predictions", str(tmp_path / "p"), "--data-dir", str(tmp_path / "data"))
    assert two_decimals(result) == {"languages": {"et": {"accuracy": 66.67}}, "task_score": 66.67}


def test_qqp_dev_reports_accuracy_f1_and_their_mean(data_dir, tmp_path):
    write("qqp", ["1", "0"], tmp_path / "dev-en.tsv")  # GLUE sample dev gold: 0 0
    result = score_json(
        "--task", "qqp", "--split", "dev", "--predictions", str(tmp_path), "--data-dir", str(data_dir / "samples")
    )
    # accuracy 1/2 = 50.00; no true duplicate -> F1 0.00 (sklearn zero_division); mean 25.00; not an XTREME task
    assert two_decimals(result) == {
        "languages": {"en": {"accuracy": 50.0, "f1": 0.0, "accuracy_and_f1": 25.0}},
        "task_score": None,
    }


def test_xnli_dev_is_scored_in_every_declared_language(tmp_path):
    # XNLI declares dev data in every language (zero_shot.dev_split: dev); German dev was refused
    # with "gold data for: en" before.
    gold = tmp_path / "data" / "xtreme" / "xnli" / "dev-de.tsv"
    gold.parent.mkdir(parents=True)
    gold.write_text("P1\tH1\tentailment\nP2\tH2\tneutral\nP3\tH3\tcontradiction\nP4\tH4\tneutral\n", encoding="utf-8")
    # padded labels and a byte-order mark are tolerated (stripped, as evaluate.py strips lines), with a warning
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "dev-de.tsv").write_text("\ufeffentailment \n neutral\ncontradiction\nentailment\n", encoding="utf-8")
    result = score(
        "--task", "xnli", "--split", "dev", "--predictions", str(tmp_path / "p"), "--data-dir", str(tmp_path / "data"), "--json"
    )
    assert result.exit_code == 0, result.output
    assert two_decimals(json.loads(result.stdout))["languages"] == {"de": {"accuracy": 75.0}}
    warning = " ".join(result.stderr.split())
    assert "a UTF-8 byte-order mark at the start (dropped" in warning
    assert "2 line(s) with surrounding whitespace (stripped, as evaluate.py does)" in warning


def test_target_dev_and_dev_languages():
    from sweeper.results.scoring import gold_languages

    assert "de" in gold_languages(get_task("xnli"), "dev")
    assert gold_languages(get_task("mlqa"), "target_dev") == get_task("mlqa").zero_shot.languages
    assert gold_languages(get_task("mlqa"), "dev") == ["en"]  # SQuAD v1.1 dev, English only
