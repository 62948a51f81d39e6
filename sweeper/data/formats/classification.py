"""Readers for sentence(-pair) classification data in each release's original file format.

Every reader returns a list of examples in the classification schema::

    {"id": str, "text_a": str, "text_b": str | None, "label": str}

``label`` is the data set's label *name*: ``"entailment"``/``"neutral"``/``"contradiction"`` for
NLI (MNLI, XNLI, ANLI, SNLI), ``"0"``/``"1"`` for paraphrase (QQP, PAWS-X); ``None`` in files
without labels (the test files of XTREME's ``download/`` layout, which only leaderboard
predictions can use; :func:`sweeper.data.sources.load_split` refuses them for scoring).
"""

from __future__ import annotations

from pathlib import Path

from sweeper.data.formats._io import (
    column_count_error,
    get_field,
    iter_delimited,
    iter_header_rows,
    iter_jsonl,
    map_label,
)

NLI_LABELS = ("entailment", "neutral", "contradiction")
"""NLI label names, in the order jiant and the HF hub use for MNLI/XNLI/ANLI."""

_NLI = {name: name for name in NLI_LABELS}
_XNLI = {**_NLI, "contradictory": "contradiction"}  # XNLI-1.0/XNLI-MT spell it "contradictory"
_ANLI = {"e": "entailment", "n": "neutral", "c": "contradiction"}
_BINARY = {"0": "0", "1": "1"}


def _example(example_id: str, text_a: str, text_b: str | None, label: str) -> dict:
    return {"id": example_id, "text_a": text_a, "text_b": text_b, "label": label}


def read_glue_mnli_tsv(path: Path) -> list[dict]:
    """Read a GLUE MultiNLI file (``MNLI/train.tsv``, ``dev_matched.tsv``, ``dev_mismatched.tsv``).

    Format: tab-separated with a header row, no quoting (quote characters are text, as in the
    GLUE loaders' ``csv.QUOTE_NONE``). Columns are found by header name: ``sentence1`` (premise),
    ``sentence2`` (hypothesis), ``gold_label`` and, when present, ``pairID`` (used as ``id``;
    otherwise the 0-based row index). The other columns (``index``, ``promptID``, ``genre``,
    parses, ``label1``..``label5``) are ignored. Source: GLUE ``MNLI.zip``
    (``download_glue_data.py``); GLUE test files have no ``gold_label`` and are rejected.

    Returns:
        Classification examples; ``label`` is ``entailment``, ``neutral`` or ``contradiction``.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a required header column is missing, a row has a different number of
            columns than the header, or ``gold_label`` is not an NLI label.
    """
    examples = []
    for number, row in iter_header_rows(path, ("sentence1", "sentence2", "gold_label")):
        label = map_label(row["gold_label"], _NLI, path, number, "gold_label")
        example_id = row.get("pairID", str(len(examples)))
        examples.append(_example(example_id, row["sentence1"], row["sentence2"], label))
    return examples


def read_xnli_mt_tsv(path: Path) -> list[dict]:
    """Read a machine-translated MultiNLI training file of XNLI-MT 1.0
    (``XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv``): the translate-train data of XNLI.

    Format: tab-separated, header ``premise hypo label``, no quoting; labels ``entailment``,
    ``neutral``, ``contradictory`` (read as ``contradiction``), as XTREME's ``utils_preprocess.py``
    (``xnli_preprocess``) reads the English file of the same release. ``id`` is the row index.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a header column is missing, a row's column count differs, or a label is
            not an NLI label.
    """
    return [
        _example(str(index), row["premise"], row["hypo"], map_label(row["label"], _XNLI, path, number, "label"))
        for index, (number, row) in enumerate(iter_header_rows(path, ("premise", "hypo", "label")))
    ]


def read_glue_qqp_tsv(path: Path) -> list[dict]:
    """Read a GLUE Quora Question Pairs file (``QQP/train.tsv``, ``QQP/dev.tsv``).

    Format: tab-separated with a header row ``id qid1 qid2 question1 question2 is_duplicate``,
    no quoting; columns are found by header name. Source: GLUE ``QQP-clean.zip``
    (``download_glue_data.py``); the unlabelled GLUE test file is rejected.

    Returns:
        Classification examples: ``text_a`` = ``question1``, ``text_b`` = ``question2``,
        ``label`` = ``is_duplicate`` (``"0"`` or ``"1"``), ``id`` = the ``id`` column.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a required header column is missing, a row has a different number of
            columns than the header, or ``is_duplicate`` is not ``0``/``1``.
    """
    examples = []
    for number, row in iter_header_rows(path, ("id", "question1", "question2", "is_duplicate")):
        label = map_label(row["is_duplicate"], _BINARY, path, number, "is_duplicate")
        examples.append(_example(row["id"], row["question1"], row["question2"], label))
    return examples


def _read_xtreme_pair_tsv(path: Path, columns: tuple[str, str, str], labels: dict[str, str]) -> list[dict]:
    """Read a headerless ``text_a<TAB>text_b[<TAB>label]`` file written by XTREME's ``csv.writer``.

    Every row has the label column, or none does (XTREME's test files): then ``label`` is ``None``.
    """
    examples = []
    width = None
    for number, fields in iter_delimited(path, quoted=True):
        if width is None and len(fields) in (2, 3):
            width = len(fields)
        if len(fields) != width:
            raise column_count_error(
                path,
                number,
                columns[: width or 3],
                len(fields),
                short_hint=" (a file has the label column in every row or in none)",
            )
        label = map_label(fields[2], labels, path, number, columns[2]) if width == 3 else None
        examples.append(_example(str(len(examples)), fields[0], fields[1], label))
    return examples


def read_xnli_tsv(path: Path) -> list[dict]:
    """Read an XNLI file in the XTREME download layout (``xnli/{train,dev,test}-{lang}.tsv``).

    Format: ``premise<TAB>hypothesis<TAB>label`` without a header, written by
    google-research/xtreme ``utils_preprocess.py`` (``xnli_preprocess``, run by
    ``scripts/download_data.sh``) with Python's ``csv.writer``, so fields that contain a double
    quote are quoted and their quotes doubled; this reader undoes that quoting (XTREME's own
    reader, transformers' ``DataProcessor._read_tsv`` with ``quotechar=None``, keeps the quoting
    characters as text). ``train-en.tsv`` is the MultiNLI training set from XNLI-MT-1.0.
    XTREME writes ``test-{lang}.tsv`` *without* the label column (``premise<TAB>hypothesis``,
    ``xnli_preprocess``: ``if split == 'test': writer.writerow([sent1, sent2])``); such a file
    is read with ``label`` ``None`` (leaderboard input only).

    Returns:
        Classification examples with ``id`` = the 0-based row index and ``label`` one of
        ``entailment``, ``neutral``, ``contradiction`` (``contradictory`` is mapped to
        ``contradiction``, as XTREME's preprocessing does), or ``None`` in a file without labels.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a row does not have 3 columns (2 in a file without labels), a quoted
            field is unterminated, or the label is not an NLI label.
    """
    return _read_xtreme_pair_tsv(path, ("premise", "hypothesis", "label"), _XNLI)


def read_pawsx_tsv(path: Path) -> list[dict]:
    """Read a PAWS-X file in the XTREME download layout (``pawsx/{train,dev,test}-{lang}.tsv``).

    Format: ``sentence1<TAB>sentence2<TAB>label`` without a header, written by
    google-research/xtreme ``utils_preprocess.py`` (``pawsx_preprocess``) with ``csv.writer``
    from the PAWS-X release ``x-final/{lang}/{train,dev_2k,test_2k}.tsv`` (which has a header and
    an ``id`` column that XTREME drops). XTREME writes ``test-{lang}.tsv`` without the label
    column (``pawsx_preprocess(..., remove_label=(split == 'test'))``); such a file is read with
    ``label`` ``None`` (leaderboard input only).

    Returns:
        Classification examples with ``id`` = the 0-based row index and ``label`` ``"0"`` or
        ``"1"`` (``None`` in a file without labels).

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a row does not have 3 columns (2 in a file without labels), a quoted
            field is unterminated, or the label is not ``0``/``1``.
    """
    return _read_xtreme_pair_tsv(path, ("sentence1", "sentence2", "label"), _BINARY)


def read_xnli_release_tsv(path: Path) -> list[dict]:
    """Read an XNLI-1.0 release file (``XNLI-1.0/xnli.{dev,test}.tsv``), every language in one file.

    Format: tab-separated with a header row, no quoting; columns found by header name:
    ``language`` (ISO 639-1), ``gold_label``, ``sentence1`` (premise), ``sentence2``
    (hypothesis) and ``pairID``; the others (parses, ``promptID``, annotator labels) are
    ignored. These are the labelled files XTREME's ``xnli_preprocess`` reads (columns 0, 1, 6
    and 7) before writing ``test-{lang}.tsv`` without labels. Rows keep the file's order, so a
    language's examples are in the order of XTREME's ``{split}-{lang}.tsv``.

    Returns:
        Classification examples with ``id`` = ``pairID``, an NLI label name and a ``language``
        field (a task source with ``filter_language: true`` keeps one language and drops it).

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a required header column is missing, a row has a different number of
            columns than the header, or ``gold_label`` is not an NLI label.
    """
    examples = []
    for number, row in iter_header_rows(path, ("language", "gold_label", "sentence1", "sentence2", "pairID")):
        example = _example(
            row["pairID"], row["sentence1"], row["sentence2"], map_label(row["gold_label"], _XNLI, path, number, "gold_label")
        )
        examples.append({**example, "language": row["language"]})
    return examples


def read_pawsx_release_tsv(path: Path) -> list[dict]:
    """Read a PAWS-X release file (``x-final/{lang}/{train,dev_2k,test_2k}.tsv``).

    Format: tab-separated with the header ``id sentence1 sentence2 label``, no quoting (XTREME's
    ``pawsx_preprocess`` splits each line on tabs); columns found by header name. These are the
    labelled files from which XTREME writes ``pawsx/{split}-{lang}.tsv`` (dropping the ``id``,
    and the labels of the test split), in the same row order.

    Returns:
        Classification examples with ``id`` = the ``id`` column and ``label`` ``"0"``/``"1"``.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a required header column is missing, a row has a different number of
            columns than the header, or ``label`` is not ``0``/``1``.
    """
    return [
        _example(row["id"], row["sentence1"], row["sentence2"], map_label(row["label"], _BINARY, path, number, "label"))
        for number, row in iter_header_rows(path, ("id", "sentence1", "sentence2", "label"))
    ]


def read_anli_jsonl(path: Path) -> list[dict]:
    """Read an Adversarial NLI file (``anli_v1.0/R{1,2,3}/{train,dev,test}.jsonl``).

    Format: JSON Lines, one object per line with ``uid`` (str), ``context`` (premise),
    ``hypothesis`` and ``label`` (``"e"``, ``"n"`` or ``"c"``); other fields (``reason``,
    ``model_label``, ``emturk``, ...) are ignored. Source: facebookresearch/anli release v1.0.

    Returns:
        Classification examples with ``id`` = ``uid``, ``text_a`` = ``context``, ``text_b`` =
        ``hypothesis`` and ``label`` = ``entailment``/``neutral``/``contradiction``.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a line is not a JSON object, a field is missing or not a string, or the
            label is not ``e``/``n``/``c``.
    """
    examples = []
    for number, record in iter_jsonl(path):
        uid, context, hypothesis, raw_label = (
            get_field(record, key, str, path, number) for key in ("uid", "context", "hypothesis", "label")
        )
        examples.append(_example(uid, context, hypothesis, map_label(raw_label, _ANLI, path, number, "label")))
    return examples


def read_snli_jsonl(path: Path) -> list[dict]:
    """Read an SNLI 1.0 file (``snli_1.0/snli_1.0_{train,dev,test}.jsonl``).

    Format: JSON Lines with ``pairID``, ``sentence1`` (premise), ``sentence2`` (hypothesis) and
    ``gold_label``; other fields (``annotator_labels``, parses, ``captionID``) are ignored. Pairs
    whose ``gold_label`` is ``"-"`` (no annotator majority) are skipped, as in every SNLI
    training setup. Source: Stanford NLP ``snli_1.0.zip``.

    Returns:
        Classification examples with ``id`` = ``pairID`` and an NLI label name.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a line is not a JSON object, a field is missing or not a string, or
            ``gold_label`` is neither an NLI label nor ``"-"``.
    """
    examples = []
    for number, record in iter_jsonl(path):
        pair_id, premise, hypothesis, raw_label = (
            get_field(record, key, str, path, number) for key in ("pairID", "sentence1", "sentence2", "gold_label")
        )
        if raw_label == "-":
            continue
        examples.append(_example(pair_id, premise, hypothesis, map_label(raw_label, _NLI, path, number, "gold_label")))
    return examples
