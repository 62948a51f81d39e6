"""A faithful re-implementation of XTREME's official scorer, kept apart from sweeper's code so the
fidelity tests compare two independent implementations.

Transcribed from google-research/xtreme at commit 838c13b (the commit of
``../shared/data/xtreme_mock/expected_scores.json``): ``evaluate.py`` (``read_tag``,
``read_label``, ``read_squad``, ``f1``, ``accuracy``, ``bucc_f1``, ``evaluate_one_task``),
``third_party/evaluate_squad.py`` (SQuAD v1.1 ``evaluate-v1.1.py``) and
``third_party/evaluate_mlqa.py`` (MLQA ``mlqa_evaluation_v1.py``); the chunking of seqeval 0.0.12
(``seqeval/metrics/sequence_labeling.py``: ``get_entities``, ``end_of_chunk``,
``start_of_chunk``, ``f1_score``, ``precision_score``, ``recall_score``), the version behind the
published XTREME numbers. Only Python 2 idioms and I/O plumbing differ; files are opened as
``evaluate.py`` opens them, in text mode with UTF-8 (the encoding of every XTREME file).
"""

# ruff: noqa: SIM401, C403, TRY002 -- kept as the official scripts write it

from __future__ import annotations

import json
import re
import string
import sys
import unicodedata
from collections import Counter

# --- evaluate.py readers -------------------------------------------------------------------------


def read_tag(file):
    labels, example = [], []
    with open(file, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                example.append(line)
            else:
                labels.append(example)
                example = []
    if example:
        labels.append(example)
    return labels


def read_label(file):
    with open(file, encoding="utf-8") as f:
        return [line.strip() for line in f]


def read_squad(file):
    with open(file, encoding="utf-8") as dataset_file:
        dataset_json = json.load(dataset_file)
        return dataset_json["data"] if "data" in dataset_json else dataset_json


# --- seqeval 0.0.12 ------------------------------------------------------------------------------


def get_entities(seq, suffix=False):
    if any(isinstance(s, list) for s in seq):
        seq = [item for sublist in seq for item in sublist + ["O"]]
    prev_tag, prev_type, begin_offset, chunks = "O", "", 0, []
    for i, chunk in enumerate(seq + ["O"]):
        if suffix:
            tag, type_ = chunk[-1], chunk.split("-")[0]
        else:
            tag, type_ = chunk[0], chunk.split("-")[-1]
        if end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin_offset, i - 1))
        if start_of_chunk(prev_tag, tag, prev_type, type_):
            begin_offset = i
        prev_tag, prev_type = tag, type_
    return chunks


def end_of_chunk(prev_tag, tag, prev_type, type_):
    chunk_end = False
    if prev_tag == "E":
        chunk_end = True
    if prev_tag == "S":
        chunk_end = True
    if prev_tag == "B" and tag == "B":
        chunk_end = True
    if prev_tag == "B" and tag == "S":
        chunk_end = True
    if prev_tag == "B" and tag == "O":
        chunk_end = True
    if prev_tag == "I" and tag == "B":
        chunk_end = True
    if prev_tag == "I" and tag == "S":
        chunk_end = True
    if prev_tag == "I" and tag == "O":
        chunk_end = True
    if prev_tag != "O" and prev_tag != "." and prev_type != type_:
        chunk_end = True
    return chunk_end


def start_of_chunk(prev_tag, tag, prev_type, type_):
    chunk_start = False
    if tag == "B":
        chunk_start = True
    if tag == "S":
        chunk_start = True
    if prev_tag == "E" and tag == "E":
        chunk_start = True
    if prev_tag == "E" and tag == "I":
        chunk_start = True
    if prev_tag == "S" and tag == "E":
        chunk_start = True
    if prev_tag == "S" and tag == "I":
        chunk_start = True
    if prev_tag == "O" and tag == "E":
        chunk_start = True
    if prev_tag == "O" and tag == "I":
        chunk_start = True
    if tag != "O" and tag != "." and prev_type != type_:
        chunk_start = True
    return chunk_start


def seqeval_counts(y_true, y_pred):
    true_entities, pred_entities = set(get_entities(y_true)), set(get_entities(y_pred))
    return len(true_entities & pred_entities), len(pred_entities), len(true_entities)


def f1_score(y_true, y_pred):
    nb_correct, nb_pred, nb_true = seqeval_counts(y_true, y_pred)
    p = nb_correct / nb_pred if nb_pred > 0 else 0
    r = nb_correct / nb_true if nb_true > 0 else 0
    return 2 * p * r / (p + r) if p + r > 0 else 0


def precision_score(y_true, y_pred):
    nb_correct, nb_pred, _ = seqeval_counts(y_true, y_pred)
    return nb_correct / nb_pred if nb_pred > 0 else 0


def recall_score(y_true, y_pred):
    nb_correct, _, nb_true = seqeval_counts(y_true, y_pred)
    return nb_correct / nb_true if nb_true > 0 else 0


# --- evaluate.py metrics -------------------------------------------------------------------------


def f1(labels, predictions, language=None):
    return {
        "f1": f1_score(labels, predictions) * 100,
        "precision": precision_score(labels, predictions) * 100,
        "recall": recall_score(labels, predictions) * 100,
    }


def accuracy(labels, predictions, language=None):
    correct = sum([int(p == l) for p, l in zip(predictions, labels)])  # noqa: E741 (transcribed as in evaluate.py)
    return {"accuracy": float(correct) / len(predictions) * 100}


def bucc_f1(labels, predictions, language=None):
    labels = set([tuple(line.split("\t")) for line in labels])
    predictions = set([tuple(line.split("\t")) for line in predictions])
    ncorrect = len(labels.intersection(predictions))
    if ncorrect > 0:
        prec, rec = ncorrect / len(predictions), ncorrect / len(labels)
        f1_val = 2 * prec * rec / (prec + rec)
    else:
        prec = rec = f1_val = 0
    return {"f1": f1_val * 100, "precision": prec * 100, "recall": rec * 100}


# --- third_party/evaluate_squad.py (evaluate-v1.1.py) --------------------------------------------


def squad_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def _token_f1(prediction_tokens, ground_truth_tokens):
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def _qa_evaluate(dataset, predictions, normalize):
    f1_total = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue  # "Unanswered question ... will receive score 0."
                ground_truths = [x["text"] for x in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact_match += max(normalize(prediction) == normalize(g) for g in ground_truths)
                f1_total += max(_token_f1(normalize(prediction).split(), normalize(g).split()) for g in ground_truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1_total / total}


def squad_em_f1(labels, predictions, language=None):
    return _qa_evaluate(labels, predictions, squad_normalize_answer)


# --- third_party/evaluate_mlqa.py (mlqa_evaluation_v1.py) ----------------------------------------

PUNCT = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}.union(string.punctuation)
WHITESPACE_LANGS = ["en", "es", "hi", "vi", "de", "ar"]
MIXED_SEGMENTATION_LANGS = ["zh"]


def whitespace_tokenize(text):
    return text.split()


def mixed_segmentation(text):
    segs_out, temp_str = [], ""
    for char in text:
        if re.search(r"[\u4e00-\u9fa5]", char) or char in PUNCT:
            if temp_str != "":
                segs_out.extend(whitespace_tokenize(temp_str))
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != "":
        segs_out.extend(whitespace_tokenize(temp_str))
    return segs_out


def mlqa_normalize_answer(s, lang):
    def remove_articles(text, lang):
        if lang == "en":
            return re.sub(r"\b(a|an|the)\b", " ", text)
        elif lang == "es":
            return re.sub(r"\b(un|una|unos|unas|el|la|los|las)\b", " ", text)
        elif lang == "hi":
            return text
        elif lang == "vi":
            return re.sub(r"\b(của|là|cái|chiếc|những)\b", " ", text)
        elif lang == "de":
            return re.sub(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b", " ", text)
        elif lang == "ar":
            return re.sub("\\sال^|ال", " ", text)
        elif lang == "zh":
            return text
        raise Exception(f"Unknown Language {lang}")

    def white_space_fix(text, lang):
        if lang in WHITESPACE_LANGS:
            tokens = whitespace_tokenize(text)
        elif lang in MIXED_SEGMENTATION_LANGS:
            tokens = mixed_segmentation(text)
        else:
            raise Exception(f"Unknown Language {lang}")
        return " ".join([t for t in tokens if t.strip() != ""])

    def remove_punc(text):
        return "".join(ch for ch in text if ch not in PUNCT)

    return white_space_fix(remove_articles(remove_punc(s.lower()), lang), lang)


def mlqa_em_f1(labels, predictions, language):
    return _qa_evaluate(labels, predictions, lambda text: mlqa_normalize_answer(text, language))


# --- evaluate.py dispatch ------------------------------------------------------------------------

READER_FUNCTION = {
    "pawsx": read_label,
    "xnli": read_label,
    "panx": read_tag,
    "udpos": read_tag,
    "bucc2018": read_label,
    "tatoeba": read_label,
    "xquad": read_squad,
    "mlqa": read_squad,
    "tydiqa": read_squad,
}
METRIC_FUNCTION = {
    "pawsx": accuracy,
    "xnli": accuracy,
    "panx": f1,
    "udpos": f1,
    "bucc2018": bucc_f1,
    "tatoeba": accuracy,
    "xquad": squad_em_f1,
    "mlqa": mlqa_em_f1,
    "tydiqa": squad_em_f1,
}


def evaluate_one_task(prediction_file, label_file, task, language=None):
    predictions = READER_FUNCTION[task](prediction_file)
    labels = READER_FUNCTION[task](label_file)
    if task not in ["bucc2018", "mlqa", "tydiqa", "xquad"]:
        assert len(predictions) == len(labels), f"Number of examples in {prediction_file} and {label_file} not matched"
    return METRIC_FUNCTION[task](labels, predictions, language)
