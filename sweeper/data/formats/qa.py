"""Reader for extractive QA data in the SQuAD JSON format.

SQuAD v1.1 and v2.0, XQuAD, MLQA and TyDiQA-GoldP (as released for XTREME) all use it. The
reader returns examples in the Hugging Face ``squad`` schema::

    {"id": str, "title": str, "context": str, "question": str,
     "answers": {"text": list[str], "answer_start": list[int]}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweeper.data.formats._io import get_field, load_json
from sweeper.errors import DataFormatError

_STRIPPED_ANSWERS = {"text": [""], "answer_start": [0]}
"""What google-research/xtreme ``utils_preprocess.py`` ``remove_qa_test_annotations`` leaves of
every question's answers in the XQuAD and MLQA test files (and, in some versions, TyDiQA-GoldP
dev): ``[{"answer_start": 0, "text": ""}]``."""


def _answers(qa: dict[str, Any], context: str, path: Path, where: str) -> dict[str, list]:
    """Return the HF ``answers`` dict of one SQuAD question, checking every offset."""
    texts: list[str] = []
    starts: list[int] = []
    if qa.get("is_impossible") is True:  # SQuAD 2.0: no answer; ``plausible_answers`` are not gold
        return {"text": texts, "answer_start": starts}
    for answer in get_field(qa, "answers", list, path, None, where):
        if not isinstance(answer, dict):
            raise DataFormatError(path, None, f"{where}answers must hold objects, got {answer!r:.80}")
        text = get_field(answer, "text", str, path, None, where)
        start = get_field(answer, "answer_start", int, path, None, where)
        found = context[start : start + len(text)] if start >= 0 else ""
        if found != text:
            raise DataFormatError(
                path,
                None,
                f"{where}answer {text!r} does not occur at answer_start {start} of the context "
                f"(the context has {found!r} there); "
                "expected context[answer_start:answer_start+len(text)] == text",
            )
        texts.append(text)
        starts.append(start)
    return {"text": texts, "answer_start": starts}


def read_squad_json(path: Path) -> list[dict]:
    """Read a SQuAD-format JSON file.

    Format: ``{"version": ..., "data": [{"title", "paragraphs": [{"context", "qas": [{"id",
    "question", "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``. Sources:
    SQuAD-explorer ``train/dev-v1.1.json`` and ``train/dev-v2.0.json``; deepmind/xquad
    ``xquad.{lang}.json``; MLQA_V1 ``{dev,test}-context-{lang}-question-{lang}.json``;
    TyDiQA-GoldP v1.1 as split per language by google-research/xtreme ``utils_preprocess.py``
    (``tydiqa.{lang}.{train,dev}.json``). SQuAD 2.0 questions with ``is_impossible: true`` get empty
    answer lists (their ``plausible_answers`` are not gold). A missing ``title`` becomes ``""``;
    integer question ids are turned into strings. A file in which *every* question has the single
    answer ``{"text": "", "answer_start": 0}`` is one whose annotations XTREME's
    ``download_data.sh`` removed (``remove_qa_test_annotations``, run on ``xquad/``,
    ``mlqa/MLQA_V1/test/`` and, in some versions, the TyDiQA-GoldP dev files): its ``answers``
    are ``None`` (leaderboard input only), never an empty gold answer to score against.

    Returns:
        One example per question, in file order, in the HF ``squad`` schema (see module doc).

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: the file is not valid JSON (with its line), a level of the nesting is
            missing or has the wrong type, a question id repeats, or an ``answer_start`` does not
            point at its answer text in the context (the message names the question id).
    """
    document = load_json(path)
    if not isinstance(document, dict):
        raise DataFormatError(
            path,
            None,
            f"expected a JSON object with a 'data' list, got a JSON {type(document).__name__}",
        )
    examples: list[dict] = []
    seen: set[str] = set()
    for article_index, article in enumerate(get_field(document, "data", list, path, None)):
        in_article = f"article {article_index}: "
        if not isinstance(article, dict):
            raise DataFormatError(path, None, f"{in_article}expected an object with 'paragraphs'")
        title = get_field(article, "title", str, path, None, in_article) if "title" in article else ""
        for paragraph_index, paragraph in enumerate(get_field(article, "paragraphs", list, path, None, in_article)):
            in_paragraph = f"article {article_index} paragraph {paragraph_index}: "
            if not isinstance(paragraph, dict):
                raise DataFormatError(path, None, f"{in_paragraph}expected an object with 'context' and 'qas'")
            context = get_field(paragraph, "context", str, path, None, in_paragraph)
            for qa in get_field(paragraph, "qas", list, path, None, in_paragraph):
                if not isinstance(qa, dict):
                    raise DataFormatError(path, None, f"{in_paragraph}'qas' must hold objects, got {qa!r:.80}")
                question_id = str(get_field(qa, "id", (str, int), path, None, in_paragraph))
                in_question = f"question {question_id!r}: "
                if question_id in seen:
                    raise DataFormatError(path, None, f"{in_question}question id occurs more than once")
                seen.add(question_id)
                examples.append(
                    {
                        "id": question_id,
                        "title": title,
                        "context": context,
                        "question": get_field(qa, "question", str, path, None, in_question),
                        "answers": _answers(qa, context, path, in_question),
                    }
                )
    if examples and all(example["answers"] == _STRIPPED_ANSWERS for example in examples):
        for example in examples:
            example["answers"] = None
    return examples
