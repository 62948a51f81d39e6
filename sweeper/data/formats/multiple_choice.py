"""Readers for multiple-choice data in each release's original file format.

Every reader returns a list of examples in the multiple-choice schema::

    {"id": str, "context": str, "question": str, "choices": list[str], "label": int}

``label`` is the 0-based index of the correct choice. ``context`` or ``question`` is ``""`` where
the data set has no such part; a model input is built from context, question and each choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweeper.data.formats._io import (
    choice_index,
    get_field,
    iter_header_rows,
    iter_jsonl,
    map_label,
)
from sweeper.errors import DataFormatError

_COSMOSQA_CHOICES = ("answer0", "answer1", "answer2", "answer3")
_XCOPA_QUESTIONS = {"cause": "cause", "effect": "effect"}


def _example(example_id: str, context: str, question: str, choices: list[str], label: int) -> dict:
    return {
        "id": example_id,
        "context": context,
        "question": question,
        "choices": choices,
        "label": label,
    }


def _string_list(record: dict[str, Any], key: str, path: Path, line: int) -> list[str]:
    values = get_field(record, key, list, path, line)
    if len(values) < 2 or not all(isinstance(value, str) for value in values):
        raise DataFormatError(path, line, f"field {key!r} must be a list of at least 2 strings, got {values!r:.120}")
    return values


def read_hellaswag_jsonl(path: Path) -> list[dict]:
    """Read a HellaSwag file (``hellaswag_{train,val}.jsonl``).

    Format: JSON Lines with ``ind`` (int), ``endings`` (list of 4 str), ``label`` (int, or a
    digit string in hub exports) and the context, either split as ``ctx_a`` (full sentences) +
    ``ctx_b`` (the start of the sentence the ending completes; may be ``""``), as in the original
    rowanz/hellaswag release, or only as ``ctx`` (= ``ctx_a + " " + ctx_b``) in exports that drop
    the split. ``activity_label``, ``source_id``, ``split``, ``split_type`` are ignored. The
    original ``hellaswag_test.jsonl`` has no ``label`` and is rejected.

    Returns:
        Multiple-choice examples with ``id`` = ``str(ind)`` and ``choices`` = ``endings``. With
        ``ctx_a``/``ctx_b``: ``context`` = ``ctx_a`` and ``question`` = ``ctx_b``, the prefix of
        every choice (jiant and the HF loader pair ``ctx_a`` with ``ctx_b + " " + ending``);
        with only ``ctx``: ``context`` = ``ctx`` and ``question`` = ``""``.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a line is not a JSON object, a field is missing or has the wrong type,
            or ``label`` is not a valid ending index.
    """
    examples = []
    for number, record in iter_jsonl(path):
        ind = get_field(record, "ind", (int, str), path, number)
        endings = _string_list(record, "endings", path, number)
        if "ctx_a" in record or "ctx_b" in record:
            context = get_field(record, "ctx_a", str, path, number)
            question = get_field(record, "ctx_b", str, path, number)
        else:
            context, question = get_field(record, "ctx", str, path, number), ""
        label = choice_index(
            get_field(record, "label", (int, str), path, number),
            len(endings),
            path,
            number,
            "label",
        )
        examples.append(_example(str(ind), context, question, endings, label))
    return examples


def read_cosmosqa_csv(path: Path) -> list[dict]:
    """Read a Cosmos QA file (``train.csv``, ``valid.csv``).

    Format: comma-separated with a header row ``id,context,question,answer0,answer1,answer2,
    answer3,label`` and standard CSV double-quote quoting (fields may contain commas, quotes and
    newlines); ``label`` is the 0-based index of the correct answer. Source: wilburOne/cosmosqa
    ``data/``; the unlabelled ``test.jsonl`` is not in this format.

    Returns:
        Multiple-choice examples with ``id``, ``context``, ``question``, ``choices`` =
        ``[answer0, answer1, answer2, answer3]`` and ``label`` (int).

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a header column is missing, a row has a different number of columns,
            a quoted field is unterminated, or ``label`` is not 0-3.
    """
    required = ("id", "context", "question", *_COSMOSQA_CHOICES, "label")
    examples = []
    for number, row in iter_header_rows(path, required, delimiter=",", quoted=True):
        choices = [row[key] for key in _COSMOSQA_CHOICES]
        label = choice_index(row["label"], len(choices), path, number, "label")
        examples.append(_example(row["id"], row["context"], row["question"], choices, label))
    return examples


def read_commonsenseqa_jsonl(path: Path) -> list[dict]:
    """Read a CommonsenseQA file (``train_rand_split.jsonl``, ``dev_rand_split.jsonl``).

    Format: JSON Lines with ``id``, ``answerKey`` (``"A"``-``"E"``) and a nested ``question``
    object holding ``stem`` (the question text) and ``choices`` (list of ``{"label", "text"}``);
    ``question.question_concept`` is ignored. Source: the CommonsenseQA release
    (``s3.amazonaws.com/commensenseqa``, v1.11 random split). The test file has no ``answerKey``
    and is rejected.

    Returns:
        Multiple-choice examples with ``context`` = ``""``, ``question`` = ``question.stem``,
        ``choices`` = the choice texts sorted by their label (A-E) and ``label`` = the index of
        ``answerKey`` in that order.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a field is missing or has the wrong type, choice labels repeat, or
            ``answerKey`` is not one of the choice labels.
    """
    examples = []
    for number, record in iter_jsonl(path):
        example_id = get_field(record, "id", str, path, number)
        answer_key = get_field(record, "answerKey", str, path, number)
        question = get_field(record, "question", dict, path, number)
        stem = get_field(question, "stem", str, path, number, where="question: ")
        choices: dict[str, str] = {}
        for choice in get_field(question, "choices", list, path, number, where="question: "):
            if not isinstance(choice, dict):
                raise DataFormatError(path, number, f"question.choices must hold objects, got {choice!r:.80}")
            choice_label = get_field(choice, "label", str, path, number, where="question.choices: ")
            if choice_label in choices:
                raise DataFormatError(path, number, f"question.choices repeats label {choice_label!r}")
            choices[choice_label] = get_field(choice, "text", str, path, number, where="question.choices: ")
        order = sorted(choices)
        label = map_label(answer_key, {key: index for index, key in enumerate(order)}, path, number, "answerKey")
        examples.append(_example(example_id, "", stem, [choices[key] for key in order], label))
    return examples


def read_xcopa_jsonl(path: Path) -> list[dict]:
    """Read an XCOPA (or English COPA) file (``{val,test}.{lang}.jsonl``, ``{train,val}.en.jsonl``).

    Format: JSON Lines with ``idx`` (int), ``premise``, ``choice1``, ``choice2``, ``question``
    (``"cause"`` or ``"effect"``) and ``label`` (0 or 1); ``changed`` is ignored. Source:
    cambridgeltl/xcopa ``data/{lang}/`` and SuperGLUE ``COPA.zip``, as fetched by
    google-research/xtreme ``scripts/download_data.sh`` (``download_xcopa``).

    Returns:
        Multiple-choice examples with ``id`` = ``str(idx)``, ``context`` = ``premise``,
        ``question`` = ``"cause"``/``"effect"``, ``choices`` = ``[choice1, choice2]``, ``label``.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a field is missing or has the wrong type, ``question`` is neither
            ``cause`` nor ``effect``, or ``label`` is not 0/1.
    """
    examples = []
    for number, record in iter_jsonl(path):
        idx = get_field(record, "idx", (int, str), path, number)
        premise, choice1, choice2, raw_question = (
            get_field(record, key, str, path, number) for key in ("premise", "choice1", "choice2", "question")
        )
        question = map_label(raw_question, _XCOPA_QUESTIONS, path, number, "question")
        label = choice_index(get_field(record, "label", (int, str), path, number), 2, path, number, "label")
        examples.append(_example(str(idx), premise, question, [choice1, choice2], label))
    return examples
