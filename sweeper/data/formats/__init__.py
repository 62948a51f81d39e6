"""Readers for every data set's original file format, keyed by format name.

Each reader takes a :class:`pathlib.Path` and returns the whole file as a list of example dicts
(or, for BUCC, a :class:`BuccCorpus`), in one schema per task type; every example has an ``id``
(str):

* sentence(-pair) classification: ``{"id", "text_a", "text_b", "label"}`` (label name, str)
* multiple choice: ``{"id", "context", "question", "choices", "label"}`` (label: int index)
* extractive QA: ``{"id", "title", "context", "question", "answers": {"text", "answer_start"}}``
* token tagging: ``{"id", "tokens", "tags"}``
* parallel sentences: ``{"id", "source", "target"}``

Gold fields (``label``, ``tags``, ``answers``) are ``None`` in files that carry no labels: the
test files of XTREME's ``download/`` layout, which ``download_data.sh`` writes without labels
(google-research/xtreme README: "we remove labels of the test data during pre-processing").
They can be predicted (leaderboard submission) but not scored; see
:func:`sweeper.data.sources.load_split`.

A corrupt file raises :class:`~sweeper.errors.DataFormatError` naming the file, the 1-based line
(for whole-file JSON: the question id) and what was expected; a missing file raises
:class:`~sweeper.errors.MissingDataError` naming the expected path. Readers never return part
of a file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sweeper.data.formats._io import check_file
from sweeper.data.formats.classification import (
    NLI_LABELS,
    read_anli_jsonl,
    read_glue_mnli_tsv,
    read_glue_qqp_tsv,
    read_pawsx_release_tsv,
    read_pawsx_tsv,
    read_snli_jsonl,
    read_xnli_mt_tsv,
    read_xnli_release_tsv,
    read_xnli_tsv,
)
from sweeper.data.formats.multiple_choice import (
    read_commonsenseqa_jsonl,
    read_cosmosqa_csv,
    read_hellaswag_jsonl,
    read_xcopa_jsonl,
)
from sweeper.data.formats.qa import read_squad_json
from sweeper.data.formats.retrieval import BuccCorpus, read_bucc, read_tatoeba_txt
from sweeper.data.formats.tagging import read_ccg_tsv, read_xtreme_tagging_tsv
from sweeper.errors import ConfigError, did_you_mean

Reader = Callable[[Path], list[dict] | BuccCorpus]

READERS: dict[str, Reader] = {
    # sentence(-pair) classification
    "glue_mnli_tsv": read_glue_mnli_tsv,
    "glue_qqp_tsv": read_glue_qqp_tsv,
    "xnli_tsv": read_xnli_tsv,
    "xnli_mt_tsv": read_xnli_mt_tsv,
    "pawsx_tsv": read_pawsx_tsv,
    "xnli_release_tsv": read_xnli_release_tsv,
    "pawsx_release_tsv": read_pawsx_release_tsv,
    "anli_jsonl": read_anli_jsonl,
    "snli_jsonl": read_snli_jsonl,
    # multiple choice
    "hellaswag_jsonl": read_hellaswag_jsonl,
    "cosmosqa_csv": read_cosmosqa_csv,
    "commonsenseqa_jsonl": read_commonsenseqa_jsonl,
    "xcopa_jsonl": read_xcopa_jsonl,
    # extractive QA
    "squad_json": read_squad_json,
    # token tagging
    "xtreme_tagging_tsv": read_xtreme_tagging_tsv,
    "ccg_tsv": read_ccg_tsv,
    # retrieval
    "tatoeba_txt": read_tatoeba_txt,
    "bucc": read_bucc,
}
"""Format name → reader. Every reader but ``bucc`` returns ``list[dict]``; ``bucc`` returns a
:class:`BuccCorpus`."""


def read_examples(format: str, path: Path | str) -> list[dict] | BuccCorpus:
    """Read ``path`` with the reader registered for ``format``.

    Args:
        format: a key of :data:`READERS`, e.g. ``"squad_json"``.
        path: the data file (for ``tatoeba_txt`` the non-English file, for ``bucc`` any of the
            pair's files).

    Returns:
        The reader's result: a list of examples, or a :class:`BuccCorpus` for ``bucc``.

    Raises:
        ConfigError: ``format`` is not a registered format (with a did-you-mean suggestion).
        MissingDataError: ``path`` (or a sibling file the format needs) does not exist.
        DataFormatError: the file does not match the format.
    """
    reader = READERS.get(format)
    if reader is None:
        raise ConfigError(
            f"unknown data format {format!r}.{did_you_mean(format, READERS)} Known formats: {', '.join(sorted(READERS))}."
        )
    return reader(check_file(Path(path), f"{format} data file"))


__all__ = [
    "NLI_LABELS",
    "READERS",
    "BuccCorpus",
    "read_anli_jsonl",
    "read_bucc",
    "read_ccg_tsv",
    "read_commonsenseqa_jsonl",
    "read_cosmosqa_csv",
    "read_examples",
    "read_glue_mnli_tsv",
    "read_glue_qqp_tsv",
    "read_hellaswag_jsonl",
    "read_pawsx_release_tsv",
    "read_pawsx_tsv",
    "read_snli_jsonl",
    "read_squad_json",
    "read_tatoeba_txt",
    "read_xcopa_jsonl",
    "read_xnli_mt_tsv",
    "read_xnli_release_tsv",
    "read_xnli_tsv",
    "read_xtreme_tagging_tsv",
]
