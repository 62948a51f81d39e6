"""Tests of the original-format readers in :mod:`sweeper.data.formats`.

Real files come from the shared offline data folder (``SWEEPER_DATA_DIR``, default
``/work/shared/data``; tests that need a file it lacks are skipped). Formats with no offline copy
are tested on a few rows the test writes in the original layout.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from sweeper.data.formats import NLI_LABELS, READERS, BuccCorpus, read_bucc, read_examples
from sweeper.data.formats.tagging import read_label_ids_json
from sweeper.errors import ConfigError, DataFormatError, MissingDataError

DATA_DIR = Path(os.environ.get("SWEEPER_DATA_DIR", "/work/shared/data"))
XQUAD_LANGUAGES = "ar de el en es hi ro ru th tr vi zh".split()
TYDIQA_LANGUAGES = "ar bn en fi id ko ru sw te".split()
UPOS_TAGS = set("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
PANX_TAGS = {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"}


def real(relative: str) -> Path:
    """Return a file of the shared data folder, or skip the test when it is not there."""
    path = DATA_DIR / relative
    if not path.exists():
        pytest.skip(f"real data file not available: {path}")
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    return write(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def write_tsv_like_xtreme(path: Path, rows: list[list[str]]) -> Path:
    """Write rows the way XTREME's utils_preprocess.py does (csv.writer, tab delimiter)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t").writerows(rows)
    return path


def squad_document(qas: list[dict], context: str, title: str = "T") -> dict:
    return {
        "version": "1.1",
        "data": [{"title": title, "paragraphs": [{"context": context, "qas": qas}]}],
    }


def assert_located(error: DataFormatError, path: Path, line: int | None, *fragments: str) -> None:
    """The error names the file, the line and what was expected."""
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(error).startswith(where), str(error)
    assert error.path == path and error.line == line
    for fragment in fragments:
        assert fragment in str(error), str(error)


# ------------------------------------------------------------------------------------- registry


def test_registry_lists_every_format():
    assert set(READERS) == {
        "glue_mnli_tsv", "glue_qqp_tsv", "xnli_tsv", "xnli_mt_tsv", "pawsx_tsv", "anli_jsonl", "snli_jsonl",
        "hellaswag_jsonl", "cosmosqa_csv", "commonsenseqa_jsonl", "xcopa_jsonl", "squad_json",
        "xtreme_tagging_tsv", "ccg_tsv", "tatoeba_txt", "bucc", "xnli_release_tsv", "pawsx_release_tsv",
    }  # fmt: skip


def test_unknown_format_suggests_the_closest_name(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown data format 'squad_jsn'\. Did you mean 'squad_json'\?"):
        read_examples("squad_jsn", tmp_path / "x.json")


def test_missing_file_names_the_expected_path(tmp_path):
    missing = tmp_path / "panx" / "train-en.tsv"
    with pytest.raises(MissingDataError, match="expected .*panx/train-en.tsv"):
        read_examples("xtreme_tagging_tsv", missing)


def test_read_examples_accepts_a_string_path():
    path = real("english/anli/R1/dev.jsonl")
    assert read_examples("anli_jsonl", str(path)) == READERS["anli_jsonl"](path)


# -------------------------------------------------------------------------- real: extractive QA


def test_tydiqa_english_train_has_3696_answered_questions():
    examples = read_examples("squad_json", real("xtreme/tydiqa/tydiqa-goldp-v1.1-train/tydiqa.en.train.json"))
    assert len(examples) == 3696
    assert len({example["id"] for example in examples}) == 3696
    for example in examples:
        answers = example["answers"]
        assert len(answers["text"]) == len(answers["answer_start"]) == 1
        start, text = answers["answer_start"][0], answers["text"][0]
        assert example["context"][start : start + len(text)] == text


def test_tydiqa_dev_has_5077_questions_over_nine_languages():
    counts = {
        lang: len(read_examples("squad_json", real(f"xtreme/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.{lang}.dev.json")))
        for lang in TYDIQA_LANGUAGES
    }
    assert sum(counts.values()) == 5077
    assert counts["en"] == 440


@pytest.mark.parametrize("lang", XQUAD_LANGUAGES)
def test_xquad_has_1190_questions_parallel_to_english(lang):
    examples = read_examples("squad_json", real(f"xtreme/xquad/xquad.{lang}.json"))
    english = read_examples("squad_json", real("xtreme/xquad/xquad.en.json"))
    assert len(examples) == 1190
    assert [example["id"] for example in examples] == [example["id"] for example in english]
    assert set(examples[0]) == {"id", "title", "context", "question", "answers"}


def test_squad_v2_sample_reads_in_hf_schema():
    examples = read_examples("squad_json", real("samples/squad_v2/dev-v2.0.json"))
    assert [example["id"] for example in examples] == [
        "56ddde6b9a695914005b9628",
        "56ddde6b9a695914005b9629",
    ]
    assert examples[0]["title"] == "Normans"
    assert examples[0]["answers"] == {"text": ["France"] * 4, "answer_start": [159] * 4}
    assert examples[1]["answers"]["text"][1] == "in the 10th and 11th centuries"


# -------------------------------------------------------------------------- real: token tagging


@pytest.fixture(scope="module")
def panx_en_train():
    return read_examples("xtreme_tagging_tsv", real("xtreme/panx/train-en.tsv"))


@pytest.fixture(scope="module")
def udpos_en_train():
    return read_examples("xtreme_tagging_tsv", real("xtreme/udpos/train-en.tsv"))


def test_panx_english_train_has_20000_sentences(panx_en_train):
    assert len(panx_en_train) == 20000
    assert panx_en_train[0] == {
        "id": "0",
        "tokens": ["R.H.", "Saunders", "(", "St.", "Lawrence", "River", ")", "(", "968", "MW", ")"],
        "tags": ["B-ORG", "I-ORG", "O", "B-ORG", "I-ORG", "I-ORG", "O", "O", "O", "O", "O"],
    }
    assert {tag for example in panx_en_train for tag in example["tags"]} == PANX_TAGS
    assert all(len(example["tokens"]) == len(example["tags"]) for example in panx_en_train)


def test_udpos_english_train_has_21253_sentences(udpos_en_train):
    assert len(udpos_en_train) == 21253
    assert udpos_en_train[0]["tokens"][:3] == ["Al", "-", "Zaman"]
    assert {tag for example in udpos_en_train for tag in example["tags"]} == UPOS_TAGS


def test_every_shipped_tagging_file_reads():
    folders = [DATA_DIR / "xtreme" / "panx", DATA_DIR / "xtreme" / "udpos"]
    files = sorted(path for folder in folders if folder.is_dir() for path in folder.glob("*.tsv"))
    if not files:
        pytest.skip("no PAN-X/UD-POS files in the shared data folder")
    for path in files:
        examples = read_examples("xtreme_tagging_tsv", path)
        assert examples, path
        tagset = PANX_TAGS if path.parent.name == "panx" else UPOS_TAGS
        assert {tag for example in examples for tag in example["tags"]} <= tagset, path


def test_tokens_with_a_colon_that_are_not_a_language_prefix_are_kept():
    tokens = {
        token for example in read_examples("xtreme_tagging_tsv", real("xtreme/panx/dev-en.tsv")) for token in example["tokens"]
    }
    assert "bar:24" in tokens
    german = read_examples("xtreme_tagging_tsv", real("xtreme/udpos/dev-de.tsv"))
    assert "xml:base" in {token for example in german for token in example["tokens"]}


# -------------------------------------------------------- real: classification, multiple choice


@pytest.mark.parametrize(("round_", "count"), [("R1", 1000), ("R2", 1000), ("R3", 1198)])
def test_anli_dev_rounds(round_, count):
    examples = read_examples("anli_jsonl", real(f"english/anli/{round_}/dev.jsonl"))
    assert len(examples) == count
    assert {example["label"] for example in examples} == set(NLI_LABELS)
    first = examples[0]
    assert set(first) == {"id", "text_a", "text_b", "label"} and first["text_b"]


def test_anli_r1_maps_e_n_c_to_label_names():
    examples = read_examples("anli_jsonl", real("english/anli/R1/dev.jsonl"))
    assert Counter(example["label"] for example in examples) == {
        "entailment": 334,
        "contradiction": 333,
        "neutral": 333,
    }
    assert examples[0]["id"] == "bf628cf5-6948-4595-a6d0-daf99beb47b9"
    assert examples[0]["label"] == "contradiction"


def test_hellaswag_validation_has_10042_examples():
    examples = read_examples("hellaswag_jsonl", real("english/hellaswag/hellaswag_val.jsonl"))
    assert len(examples) == 10042
    first = examples[0]
    assert first["id"] == "0" and first["context"] == "A man is sitting on a roof. he" and first["question"] == ""
    assert first["label"] == 3 and first["choices"][3] == "starts pulling up roofing on a roof."
    assert {len(example["choices"]) for example in examples} == {4}


def test_cosmosqa_validation_has_2985_examples():
    examples = read_examples("cosmosqa_csv", real("english/cosmosqa/valid.csv"))
    assert len(examples) == 2985
    assert examples[0]["question"] == "Why is this person asking about divorce ?"
    assert examples[0]["label"] == 1 and len(examples[0]["choices"]) == 4
    assert Counter(example["label"] for example in examples) == {2: 761, 3: 751, 0: 744, 1: 729}


def test_commonsenseqa_dev_has_1221_examples():
    examples = read_examples("commonsenseqa_jsonl", real("english/commonsenseqa/dev_rand_split.jsonl"))
    assert len(examples) == 1221
    first = examples[0]
    assert first["context"] == "" and first["question"].startswith("A revolving door is convenient")
    assert first["choices"] == ["bank", "library", "department store", "mall", "new york"] and first["label"] == 0
    assert Counter(example["label"] for example in examples)[1] == 255  # answerKey B


@pytest.mark.parametrize(("split", "count"), [("train", 3), ("dev_matched", 2), ("dev_mismatched", 2)])
def test_glue_mnli_samples(split, count):
    examples = read_examples("glue_mnli_tsv", real(f"samples/glue/MNLI/{split}.tsv"))
    assert len(examples) == count
    assert all(example["label"] in NLI_LABELS and example["text_a"] and example["text_b"] for example in examples)


def test_glue_mnli_uses_pair_ids_and_gold_labels():
    first = read_examples("glue_mnli_tsv", real("samples/glue/MNLI/dev_matched.tsv"))[0]
    assert first["id"] == "63735n" and first["label"] == "neutral"
    assert first["text_a"] == "The new rights are nice enough"


@pytest.mark.parametrize(("split", "count"), [("train", 3), ("dev", 2)])
def test_glue_qqp_samples(split, count):
    examples = read_examples("glue_qqp_tsv", real(f"samples/glue/QQP/{split}.tsv"))
    assert len(examples) == count
    assert {example["label"] for example in examples} <= {"0", "1"}


def test_glue_qqp_fields():
    first = read_examples("glue_qqp_tsv", real("samples/glue/QQP/dev.tsv"))[0]
    assert first == {
        "id": "201359",
        "text_a": "Why are African-Americans so beautiful?",
        "text_b": "Why are hispanics so beautiful?",
        "label": "0",
    }


# -------------------------------------------------------------------------------- real: Tatoeba


def test_every_tatoeba_pair_reads_aligned():
    folder = DATA_DIR / "xtreme" / "tatoeba"
    pairs = sorted(path for path in folder.glob("tatoeba.*-eng.*") if path.suffix != ".eng") if folder.is_dir() else []
    if not pairs:
        pytest.skip("no Tatoeba files in the shared data folder")
    assert len(pairs) == 112
    for path in pairs:
        examples = read_examples("tatoeba_txt", path)
        assert examples and all(example["source"] and example["target"] for example in examples), path


def test_tatoeba_german_first_pair():
    examples = read_examples("tatoeba_txt", real("xtreme/tatoeba/tatoeba.deu-eng.deu"))
    assert len(examples) == 1000
    assert examples[0] == {
        "id": "0",
        "source": "Maria sagte, sie wisse nicht, wo Tom sei.",
        "target": "Mary said she didn't know where Tom was.",
    }


# -------------------------------------------- formats without offline data: written by the test


def test_xnli_tsv_undoes_xtreme_csv_quoting(tmp_path):
    rows = [
        ['He said "no" twice.', "He spoke.", "entailment"],
        ["A\ttab inside", "B", "neutral"],
        ["C", "D", "contradiction"],
    ]
    examples = read_examples("xnli_tsv", write_tsv_like_xtreme(tmp_path / "dev-de.tsv", rows))
    assert [(e["text_a"], e["text_b"], e["label"]) for e in examples] == [tuple(row) for row in rows]
    assert [example["id"] for example in examples] == ["0", "1", "2"]


def test_xnli_tsv_maps_contradictory(tmp_path):
    path = write_tsv_like_xtreme(tmp_path / "train-en.tsv", [["P", "H", "contradictory"]])
    assert read_examples("xnli_tsv", path)[0]["label"] == "contradiction"


def test_xnli_test_file_as_xtreme_writes_it_is_read_without_labels(tmp_path):
    # utils_preprocess.py xnli_preprocess: `if split == 'test': writer.writerow([sent1, sent2])`
    path = write_tsv_like_xtreme(tmp_path / "test-de.tsv", [["P", "H"], ['Er sagt "ja".', "H2"]])
    examples = read_examples("xnli_tsv", path)
    assert examples == [
        {"id": "0", "text_a": "P", "text_b": "H", "label": None},
        {"id": "1", "text_a": 'Er sagt "ja".', "text_b": "H2", "label": None},
    ]


def test_xtreme_pair_file_mixing_labelled_and_unlabelled_rows_is_rejected(tmp_path):
    path = write_tsv_like_xtreme(tmp_path / "test-de.tsv", [["P", "H", "neutral"], ["P2", "H2"]])
    with pytest.raises(DataFormatError) as caught:
        read_examples("xnli_tsv", path)
    assert_located(caught.value, path, 2, "expected 3 tab-separated columns", "got 2", "in every row or in none")


def test_xnli_release_file_keeps_every_language_in_file_order(tmp_path):
    header = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre"]  # fmt: skip
    rows = [["de", "contradictory", "", "", "", "", 'Er "sagt"', "Nein", "7", "13", "travel"],
            ["en", "neutral", "", "", "", "", "He says", "Maybe", "7", "13", "travel"],
            ["de", "entailment", "", "", "", "", "Ja", "Ja doch", "8", "14", "slate"]]  # fmt: skip
    path = write(tmp_path / "xnli.test.tsv", "".join("\t".join(row) + "\n" for row in [header, *rows]))
    examples = read_examples("xnli_release_tsv", path)
    assert [(e["language"], e["id"], e["text_a"], e["label"]) for e in examples] == [
        ("de", "13", 'Er "sagt"', "contradiction"),
        ("en", "13", "He says", "neutral"),
        ("de", "14", "Ja", "entailment"),
    ]


def test_pawsx_release_file(tmp_path):
    text = 'id\tsentence1\tsentence2\tlabel\n1\tDer "Hund"\tHund der\t0\n2\tA\tB\t1\n'
    examples = read_examples("pawsx_release_tsv", write(tmp_path / "test_2k.tsv", text))
    assert examples == [
        {"id": "1", "text_a": 'Der "Hund"', "text_b": "Hund der", "label": "0"},
        {"id": "2", "text_a": "A", "text_b": "B", "label": "1"},
    ]


def test_tagging_test_file_as_xtreme_writes_it_is_read_without_tags(tmp_path):
    # utils_preprocess.py panx_preprocess: `if 'test' in infile: fout.write(f'{token}\\n')`
    path = write(tmp_path / "test-de.tsv", "Angela\nMerkel\n\nBerlin\n")
    assert read_examples("xtreme_tagging_tsv", path) == [
        {"id": "0", "tokens": ["Angela", "Merkel"], "tags": None},
        {"id": "1", "tokens": ["Berlin"], "tags": None},
    ]


def test_squad_file_whose_answers_xtreme_removed_is_read_without_answers(tmp_path):
    # utils_preprocess.py remove_qa_test_annotations: every answer -> {"answer_start": 0, "text": ""}
    stripped = {"version": "1.1", "data": [{"paragraphs": [
        {"context": "Ein Text.", "qas": [{"id": "q1", "question": "Was?", "answers": [{"answer_start": 0, "text": ""}]}]},
        {"context": "Noch einer.", "qas": [{"id": "q2", "question": "Wer?", "answers": [{"answer_start": 0, "text": ""}]}]},
    ]}]}  # fmt: skip
    examples = read_examples("squad_json", write(tmp_path / "xquad.de.json", json.dumps(stripped)))
    assert [(example["id"], example["answers"]) for example in examples] == [("q1", None), ("q2", None)]


def test_pawsx_tsv(tmp_path):
    rows = [["Die Katze sitzt.", "Sitzt die Katze.", "1"], ["Eins", "Zwei", "0"]]
    examples = read_examples("pawsx_tsv", write_tsv_like_xtreme(tmp_path / "dev-de.tsv", rows))
    assert [(e["text_a"], e["text_b"], e["label"]) for e in examples] == [tuple(row) for row in rows]


def test_snli_jsonl_skips_pairs_without_gold_label(tmp_path):
    records = [
        {
            "pairID": "1e",
            "sentence1": "A dog runs.",
            "sentence2": "An animal moves.",
            "gold_label": "entailment",
            "annotator_labels": ["entailment"],
            "captionID": "1",
        },
        {
            "pairID": "1n",
            "sentence1": "A dog runs.",
            "sentence2": "A cat sleeps.",
            "gold_label": "-",
        },
        {
            "pairID": "1c",
            "sentence1": "A dog runs.",
            "sentence2": "No dog runs.",
            "gold_label": "contradiction",
        },
    ]
    examples = read_examples("snli_jsonl", write_jsonl(tmp_path / "snli_1.0_dev.jsonl", records))
    assert [(example["id"], example["label"]) for example in examples] == [
        ("1e", "entailment"),
        ("1c", "contradiction"),
    ]


def test_hellaswag_original_release_splits_context(tmp_path):
    record = {
        "ind": 24,
        "activity_label": "Roof shingle removal",
        "ctx_a": "A man is sitting on a roof.",
        "ctx_b": "he",
        "ctx": "A man is sitting on a roof. he",
        "endings": ["a", "b", "c", "d"],
        "label": 3,
        "split": "val",
    }
    example = read_examples("hellaswag_jsonl", write_jsonl(tmp_path / "hellaswag_val.jsonl", [record]))[0]
    assert example == {
        "id": "24",
        "context": "A man is sitting on a roof.",
        "question": "he",
        "choices": ["a", "b", "c", "d"],
        "label": 3,
    }


def test_xcopa_jsonl(tmp_path):
    records = [
        {
            "premise": "Kaup oli mullikilesse mässitud.",
            "choice1": "See oli õrn.",
            "choice2": "See oli väike.",
            "question": "cause",
            "label": 0,
            "idx": 1,
            "changed": False,
        },
        {
            "premise": "P",
            "choice1": "A",
            "choice2": "B",
            "question": "effect",
            "label": 1,
            "idx": 2,
        },
    ]
    examples = read_examples("xcopa_jsonl", write_jsonl(tmp_path / "val.et.jsonl", records))
    assert examples[0] == {
        "id": "1",
        "context": "Kaup oli mullikilesse mässitud.",
        "question": "cause",
        "choices": ["See oli õrn.", "See oli väike."],
        "label": 0,
    }
    assert examples[1]["question"] == "effect" and examples[1]["label"] == 1


def test_mlqa_file_reads_with_the_squad_reader(tmp_path):
    context = "北京是中华人民共和国的首都。"
    qas = [
        {
            "id": "q1",
            "question": "中国的首都是哪里？",
            "answers": [{"text": "北京", "answer_start": 0}],
        }
    ]
    path = write(
        tmp_path / "dev-context-zh-question-zh.json",
        json.dumps(squad_document(qas, context), ensure_ascii=False),
    )
    assert read_examples("squad_json", path) == [
        {
            "id": "q1",
            "title": "T",
            "context": context,
            "question": "中国的首都是哪里？",
            "answers": {"text": ["北京"], "answer_start": [0]},
        }
    ]


def test_squad_v2_unanswerable_questions_get_empty_answers(tmp_path):
    context = "The Normans gave their name to Normandy."
    qas = [
        {
            "id": "a",
            "question": "Who?",
            "answers": [{"text": "The Normans", "answer_start": 0}],
            "is_impossible": False,
        },
        {
            "id": "u",
            "question": "Who gave a name to Paris?",
            "answers": [],
            "is_impossible": True,
            "plausible_answers": [{"text": "The Normans", "answer_start": 0}],
        },
    ]
    document = squad_document(qas, context) | {"version": "v2.0"}
    examples = read_examples("squad_json", write(tmp_path / "dev-v2.0.json", json.dumps(document)))
    assert examples[0]["answers"] == {"text": ["The Normans"], "answer_start": [0]}
    assert examples[1]["answers"] == {"text": [], "answer_start": []}


def test_raw_panx_language_prefix_is_stripped(tmp_path):
    path = write(tmp_path / "train", "en:Karl\tB-PER\nen:Marx\tI-PER\n\nen:bar:24\tO\n")
    assert read_examples("xtreme_tagging_tsv", path) == [
        {"id": "0", "tokens": ["Karl", "Marx"], "tags": ["B-PER", "I-PER"]},
        {"id": "1", "tokens": ["bar:24"], "tags": ["O"]},
    ]


def test_tagging_file_without_trailing_blank_line_and_crlf(tmp_path):
    path = write(tmp_path / "dev-xx.tsv", "a\tX\r\nb\tY\r\n\r\n\r\nc\tZ")
    assert [example["tokens"] for example in read_examples("xtreme_tagging_tsv", path)] == [
        ["a", "b"],
        ["c"],
    ]
    assert read_examples("xtreme_tagging_tsv", path)[0]["tags"] == ["X", "Y"]


def test_ccg_tsv(tmp_path):
    path = write(tmp_path / "ccg.dev", "Pierre Vinken joined .\tN/N N (S\\NP)/NP .\nIt rains\tNP S\\NP\n")
    assert read_examples("ccg_tsv", path) == [
        {
            "id": "0",
            "tokens": ["Pierre", "Vinken", "joined", "."],
            "tags": ["N/N", "N", "(S\\NP)/NP", "."],
        },
        {"id": "1", "tokens": ["It", "rains"], "tags": ["NP", "S\\NP"]},
    ]


@pytest.fixture
def bucc_dir(tmp_path):
    write(tmp_path / "de-en.dev.de", "de-000000001\tDas ist gut.\nde-000000002\tNoch ein Satz.\n")
    write(tmp_path / "de-en.dev.en", "en-000000001\tAnother sentence.\nen-000000002\tThat is good.\n")
    write(tmp_path / "de-en.dev.gold", "de-000000001\ten-000000002\n")
    return tmp_path


@pytest.mark.parametrize("side", ["de", "en", "gold"])
def test_bucc_reads_a_pair_from_any_of_its_files(bucc_dir, side):
    corpus = read_examples("bucc", bucc_dir / f"de-en.dev.{side}")
    assert corpus == BuccCorpus(
        source={"de-000000001": "Das ist gut.", "de-000000002": "Noch ein Satz."},
        target={"en-000000001": "Another sentence.", "en-000000002": "That is good."},
        gold={("de-000000001", "en-000000002")},
    )


def test_bucc_without_gold(bucc_dir):
    (bucc_dir / "de-en.dev.gold").unlink()
    with pytest.raises(MissingDataError, match="de-en.dev.gold"):
        read_examples("bucc", bucc_dir / "de-en.dev.de")
    assert read_bucc(bucc_dir / "de-en.dev.de", require_gold=False).gold == set()


def test_bucc_test_split_without_gold_explains_where_it_went(bucc_dir):
    for side in ("de", "en"):
        (bucc_dir / f"de-en.dev.{side}").rename(bucc_dir / f"de-en.test.{side}")
    with pytest.raises(MissingDataError, match="training-gold") as caught:
        read_examples("bucc", bucc_dir / "de-en.test.de")
    assert str(bucc_dir / "de-en.test.gold") in str(caught.value)


def test_bucc_gold_pair_with_unknown_id(bucc_dir):
    gold = write(bucc_dir / "de-en.dev.gold", "de-000000001\ten-000000002\nde-000000003\ten-000000001\n")
    with pytest.raises(DataFormatError) as caught:
        read_examples("bucc", bucc_dir / "de-en.dev.de")
    assert_located(caught.value, gold, 2, "'de-000000003'", "de-en.dev.de")


def test_tatoeba_needs_the_non_english_file(tmp_path):
    english = write(tmp_path / "tatoeba.deu-eng.eng", "Hello.\n")
    with pytest.raises(ConfigError, match="tatoeba.{xxx}-eng.{xxx}"):
        read_examples("tatoeba_txt", english)


def test_tatoeba_missing_english_side(tmp_path):
    with pytest.raises(MissingDataError, match="tatoeba.fra-eng.eng"):
        read_examples("tatoeba_txt", write(tmp_path / "tatoeba.fra-eng.fra", "Bonjour.\n"))


def test_tatoeba_empty_line(tmp_path):
    source = write(tmp_path / "tatoeba.fra-eng.fra", "Bonjour.\n\nMerci.\n")
    write(tmp_path / "tatoeba.fra-eng.eng", "Hello.\nYes.\nThanks.\n")
    with pytest.raises(DataFormatError) as caught:
        read_examples("tatoeba_txt", source)
    assert_located(caught.value, source, 2, "empty line; expected one sentence per line")


def test_tatoeba_sides_of_different_length(tmp_path):
    source = write(tmp_path / "tatoeba.fra-eng.fra", "Bonjour.\nMerci.\n")
    write(tmp_path / "tatoeba.fra-eng.eng", "Hello.\n")
    with pytest.raises(DataFormatError) as caught:
        read_examples("tatoeba_txt", source)
    assert_located(caught.value, source, None, "2 lines, but", "has 1")


# -------------------------------------------------------------------------------- corrupt input

QQP_HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
COSMOS_HEADER = "id,context,question,answer0,answer1,answer2,answer3,label\n"
ANLI_ROW = {"uid": "1", "context": "c", "hypothesis": "h", "label": "e"}
CSQA_ROW = {
    "id": "1",
    "answerKey": "F",
    "question": {"stem": "s", "choices": [{"label": "A", "text": "a"}]},
}
XCOPA_ROW = {
    "idx": 1,
    "premise": "p",
    "choice1": "a",
    "choice2": "b",
    "question": "why",
    "label": 0,
}


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


# (format, file name, content, 1-based line of the error, fragment of the message)
CORRUPT = {
    "tagging-3-columns": (
        "xtreme_tagging_tsv",
        "train-en.tsv",
        "a\tO\nb\tO\n\nc\tB-PER\textra\n",
        4,
        "expected 2 tab-separated columns token<TAB>tag, got 3",
    ),
    "tagging-no-tag": (
        "xtreme_tagging_tsv",
        "test-en.tsv",
        "a\tO\nb\n",
        2,
        "got 1 (a file has a tag on every token line (train/dev) or on none",
    ),
    "tagging-tag-after-untagged": (
        "xtreme_tagging_tsv",
        "test-en.tsv",
        "a\nb\tO\n",
        2,
        "token<TAB>tag line in a file whose first token has no tag",
    ),
    "tagging-empty-token": ("xtreme_tagging_tsv", "dev-en.tsv", "a\tO\n\tO\n", 2, "empty token"),
    "ccg-count-mismatch": (
        "ccg_tsv",
        "ccg.train",
        "a b\tN N\nc d\tN\n",
        2,
        "2 space-separated tokens but 1 tags",
    ),
    "jsonl-invalid-json": (
        "anli_jsonl",
        "dev.jsonl",
        jsonl(ANLI_ROW) + '{"uid": "2",\n',
        2,
        "invalid JSON",
    ),
    "jsonl-missing-field": (
        "anli_jsonl",
        "dev.jsonl",
        jsonl({"uid": "1", "context": "c", "hypothesis": "h"}),
        1,
        "missing field 'label'",
    ),
    "anli-unknown-label": (
        "anli_jsonl",
        "dev.jsonl",
        "\n" + jsonl({**ANLI_ROW, "label": "x"}),
        2,
        "unknown label 'x': expected one of 'e', 'n', 'c'",
    ),
    "jsonl-not-an-object": (
        "anli_jsonl",
        "dev.jsonl",
        '["a", "b"]\n',
        1,
        "expected one JSON object per line",
    ),
    "snli-label-type": (
        "snli_jsonl",
        "snli.jsonl",
        jsonl({"pairID": "1", "sentence1": "a", "sentence2": "b", "gold_label": 1}),
        1,
        "field 'gold_label' must be str, got int",
    ),
    "hellaswag-label-range": (
        "hellaswag_jsonl",
        "val.jsonl",
        jsonl({"ind": 1, "ctx": "c", "endings": ["a", "b"], "label": 2}),
        1,
        "label must be an integer from 0 to 1, got 2",
    ),
    "commonsenseqa-answer-key": (
        "commonsenseqa_jsonl",
        "dev.jsonl",
        jsonl(CSQA_ROW),
        1,
        "unknown answerKey 'F'",
    ),
    "xcopa-question": ("xcopa_jsonl", "val.jsonl", jsonl(XCOPA_ROW), 1, "unknown question 'why'"),
    "csv-open-quote": (
        "cosmosqa_csv",
        "valid.csv",
        COSMOS_HEADER + '1,c,q,a,b,c,d,0\n2,"open,q,a,b,c,d,1\n',
        3,
        "malformed quoted field",
    ),
    "cosmosqa-label-range": (
        "cosmosqa_csv",
        "valid.csv",
        COSMOS_HEADER + "1,c,q,a,b,c,d,4\n",
        2,
        "label must be an integer from 0 to 3",
    ),
    "tsv-column-count": (
        "glue_qqp_tsv",
        "dev.tsv",
        QQP_HEADER + "1\t2\t3\tq1\tq2\n",
        2,
        "expected 6 tab-separated columns id<TAB>qid1<TAB>qid2<TAB>question1<TAB>question2<TAB>is_duplicate, got 5",
    ),
    "qqp-label": (
        "glue_qqp_tsv",
        "dev.tsv",
        QQP_HEADER + "1\t2\t3\tq1\tq2\tyes\n",
        2,
        "unknown is_duplicate 'yes'",
    ),
    "mnli-no-gold-label": (
        "glue_mnli_tsv",
        "test_matched.tsv",
        "index\tpairID\tsentence1\tsentence2\n0\t1n\ta\tb\n",
        1,
        "header lacks column(s) gold_label",
    ),
    "pawsx-label": (
        "pawsx_tsv",
        "dev-fr.tsv",
        "a\tb\t1\na\tb\t2\n",
        2,
        "unknown label '2': expected one of '0', '1'",
    ),
    "xnli-column-count": (
        "xnli_tsv",
        "dev-fr.tsv",
        "a\tb\tentailment\na\tb\tneutral\tx\n",
        2,
        "expected 3 tab-separated columns",
    ),
    "json-syntax": (
        "squad_json",
        "dev.json",
        '{"data": [\n  {"title": "x",\n   "paragraphs": [}\n]}\n',
        3,
        "invalid JSON",
    ),
    "bucc-duplicate-id": (
        "bucc",
        "fr-en.dev.fr",
        "fr-1\tUn.\nfr-1\tDeux.\n",
        2,
        "sentence id 'fr-1' occurs more than once",
    ),
}


@pytest.mark.parametrize(
    ("fmt", "name", "content", "line", "fragment"),
    list(CORRUPT.values()),
    ids=list(CORRUPT),
)
def test_corrupt_input_names_file_line_and_expectation(tmp_path, fmt, name, content, line, fragment):
    path = write(tmp_path / name, content)
    with pytest.raises(DataFormatError) as caught:
        read_examples(fmt, path)
    assert_located(caught.value, path, line, fragment)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "dev-xx.tsv"
    path.write_bytes(b"a\tO\n\nb\tO\n\xff\xfe\tO\n")
    with pytest.raises(DataFormatError) as caught:
        read_examples("xtreme_tagging_tsv", path)
    assert_located(caught.value, path, 4, "not valid UTF-8")


def test_squad_answer_offset_mismatch_names_file_and_question(tmp_path):
    qas = [
        {"id": "ok", "question": "Who?", "answers": [{"text": "Normans", "answer_start": 4}]},
        {
            "id": "56ddde6b9a695914005b9629",
            "question": "When?",
            "answers": [{"text": "Normans", "answer_start": 5}],
        },
    ]
    path = write(tmp_path / "xquad.en.json", json.dumps(squad_document(qas, "The Normans came.")))
    with pytest.raises(DataFormatError) as caught:
        read_examples("squad_json", path)
    assert_located(
        caught.value,
        path,
        None,
        "question '56ddde6b9a695914005b9629'",
        "answer_start 5",
        "'ormans ",
    )


def test_squad_missing_nesting_level_names_the_question(tmp_path):
    qas = [{"id": "q7", "answers": []}]
    path = write(tmp_path / "train.json", json.dumps(squad_document(qas, "ctx")))
    with pytest.raises(DataFormatError) as caught:
        read_examples("squad_json", path)
    assert_located(caught.value, path, None, "question 'q7': missing field 'question'")


def test_squad_duplicate_question_id(tmp_path):
    qas = [{"id": "q", "question": "a", "answers": []}, {"id": "q", "question": "b", "answers": []}]
    path = write(tmp_path / "train.json", json.dumps(squad_document(qas, "ctx")))
    with pytest.raises(DataFormatError, match="question 'q': question id occurs more than once"):
        read_examples("squad_json", path)


def test_label_ids_json_orders_jiant_tags_to_id_by_id(tmp_path):
    # jiant's CCG tags_to_id.json; ids may be ints or digit strings (CCGTask.get_tags_to_id: int(v)).
    path = write(tmp_path / "tags_to_id.json", json.dumps({"N": "1", "N/N": 0, "(S\\NP)/NP": 2}))
    assert read_label_ids_json(path) == ["N/N", "N", "(S\\NP)/NP"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[]", "expected a non-empty JSON object {label: id}"),
        ("{}", "expected a non-empty JSON object {label: id}"),
        ('{"N": -1}', "label 'N': id must be a non-negative integer, got -1"),
        ('{"N": true}', "label 'N': id must be a non-negative integer, got True"),
        ('{"N": 0, "NP": "0"}', "labels 'N' and 'NP' share id 0"),
        ('{"N": 0, "NP": 2}', "ids must be 0..1 without gaps; id 1 is missing"),
    ],
)
def test_label_ids_json_rejects_what_is_not_an_inventory(tmp_path, content, fragment):
    path = write(tmp_path / "tags_to_id.json", content)
    with pytest.raises(DataFormatError) as error:
        read_label_ids_json(path)
    assert_located(error.value, path, None, fragment)
