"""Readers for token-tagging data (UD POS, PAN-X NER, CCG supertags).

Every reader returns a list of sentences in the tagging schema::

    {"id": str, "tokens": list[str], "tags": list[str]}

with one tag per token and ``id`` the 0-based sentence index in the file; ``tags`` is ``None``
in an XTREME test file, which has tokens only.
"""

from __future__ import annotations

import re
from pathlib import Path

from sweeper.data.formats._io import (
    column_count_error,
    iter_fixed_rows,
    iter_lines,
    load_json,
)
from sweeper.errors import DataFormatError

_TAGGING_COLUMNS = ("token", "tag")
_MIXED = "a file has a tag on every token line (train/dev) or on none (XTREME test files)"
_LANGUAGE_PREFIX = re.compile(r"([a-z]{2,3}):(?=.)")


def _tagging_example(index: int, tokens: list[str], tags: list[str] | None) -> dict:
    return {"id": str(index), "tokens": tokens, "tags": tags}


def _file_language_prefix(sentences: list[tuple[list[str], list[str]]]) -> str:
    """Return the ``xx:`` prefix shared by all tokens of a file, or ``""`` if there is none."""
    first = _LANGUAGE_PREFIX.match(sentences[0][0][0]) if sentences else None
    if first is None:
        return ""
    prefix = first.group(0)
    shared = all(token.startswith(prefix) and len(token) > len(prefix) for tokens, _ in sentences for token in tokens)
    return prefix if shared else ""


def read_xtreme_tagging_tsv(path: Path) -> list[dict]:
    """Read a token-tagging file in the XTREME download layout (``udpos/`` and ``panx/``).

    Format: one ``token<TAB>tag`` line per token (UPOS tags for UD-POS, BIO tags for PAN-X), a
    blank line between sentences; ``-DOCSTART-`` lines are treated as sentence boundaries, as
    XTREME's ``utils_tag.py`` does. Sources: google-research/xtreme ``utils_preprocess.py``
    (``udpos_preprocess``, ``panx_preprocess``, run by ``scripts/download_data.sh``), which writes
    ``{train,dev,test}-{lang}.tsv``. The raw PAN-X files (``panx_dataset/{lang}/{split}``) prefix
    every token with its language (``en:Paris``); when *every* token of a file starts with the
    same ``xx:`` prefix it is removed, as ``panx_preprocess`` does. Prefixes on only some tokens
    are real token text (``bar:24``, ``xml:base``) and are kept. XTREME writes test files with
    the token alone on each line (``panx_preprocess``: ``if 'test' in infile:
    fout.write(f'{token}\\n')``; ``udpos_preprocess`` likewise); such a file is read with ``tags``
    ``None`` (leaderboard input only).

    Returns:
        One tagging example per sentence, in file order.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a line does not have exactly 2 tab-separated columns (1 in a file
            without tags), or its token or tag is empty.
    """
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    tagged: bool | None = None  # set by the first token line: a file is tagged throughout or not at all
    for number, line in iter_lines(path):
        fields = line.split("\t")
        if len(fields) == 2 and fields[0] and fields[1]:  # the common case first: this loop is hot
            if tagged is False:
                raise DataFormatError(path, number, f"token<TAB>tag line in a file whose first token has no tag; {_MIXED}")
            tagged = True
            tokens.append(fields[0])
            tags.append(fields[1])
        elif len(fields) == 1 and (not line.strip() or line.startswith("-DOCSTART-")):
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
        elif len(fields) == 1:  # a token without tag: XTREME's test files
            if tagged is True:
                raise column_count_error(path, number, _TAGGING_COLUMNS, 1, short_hint=f" ({_MIXED})")
            tagged = False
            tokens.append(line.strip())
        elif len(fields) != 2:
            raise column_count_error(path, number, _TAGGING_COLUMNS, len(fields))
        else:
            raise DataFormatError(path, number, f"empty {'tag' if fields[0] else 'token'}; expected token<TAB>tag")
    if tokens:
        sentences.append((tokens, tags))
    prefix = _file_language_prefix(sentences)
    if prefix:
        sentences = [([token.removeprefix(prefix) for token in words], labels) for words, labels in sentences]
    return [_tagging_example(index, words, labels if tagged else None) for index, (words, labels) in enumerate(sentences)]


def read_ccg_tsv(path: Path) -> list[dict]:
    """Read a CCG supertagging file as jiant's ``ccg`` task reads it.

    Format (jiant ``jiant/tasks/lib/ccg.py``, ``CCGTask._create_examples``): one sentence per
    line, ``tokens<TAB>tags``, where ``tokens`` is the space-tokenized sentence and ``tags`` its
    space-separated CCG supertags (one per token). jiant maps tags to ids with a separate
    ``tags_to_id.json`` (1,363 tags; read by :func:`read_label_ids_json`); this reader keeps the
    tag strings. The files are derived from CCGbank (LDC2005T13, licensed), so no copy ships with
    the project.

    Returns:
        One tagging example per line, ``id`` = the 0-based line index among non-blank lines.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: a line does not have exactly 2 tab-separated columns, or its number of
            tokens and tags differ or are zero.
    """
    examples = []
    for number, (text, tag_field) in iter_fixed_rows(path, ("tokens", "tags")):
        tokens, tags = text.split(), tag_field.split()
        if not tokens or len(tokens) != len(tags):
            raise DataFormatError(
                path,
                number,
                f"{len(tokens)} space-separated tokens but {len(tags)} tags; expected one tag per token",
            )
        examples.append(_tagging_example(len(examples), tokens, tags))
    return examples


def read_label_ids_json(path: Path) -> list[str]:
    """Read a label inventory ``{label: id}`` such as jiant's CCG ``tags_to_id.json``.

    Format: one JSON object mapping each label to its integer id (jiant writes the ids as ints or
    as digit strings; ``CCGTask.get_tags_to_id`` converts them with ``int``). The ids must be
    exactly 0..n-1, so that id ``i`` is the ``i``-th label. Source: jiant
    ``jiant/tasks/lib/ccg.py`` (``path_dict["tags_to_id"]``); jiant's
    ``scripts/ccg/ccg_to_num.py`` numbers the tags of train, test and dev in order of first
    appearance (1,363 for CCGbank).

    Returns:
        The labels ordered by id.

    Raises:
        MissingDataError: ``path`` does not exist.
        DataFormatError: the file is not a non-empty JSON object of label → integer id, or the
            ids are not 0..n-1 without gaps or repeats.
    """
    raw = load_json(path)
    if not isinstance(raw, dict) or not raw:
        raise DataFormatError(path, None, "expected a non-empty JSON object {label: id}")
    by_id: dict[int, str] = {}
    for label, value in raw.items():
        text = str(value)
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not text.isascii() or not text.isdigit():
            raise DataFormatError(path, None, f"label {label!r}: id must be a non-negative integer, got {value!r}")
        if int(text) in by_id:
            raise DataFormatError(path, None, f"labels {by_id[int(text)]!r} and {label!r} share id {int(text)}")
        by_id[int(text)] = label
    if sorted(by_id) != list(range(len(by_id))):
        gap = min(set(range(len(by_id))) - set(by_id))
        raise DataFormatError(path, None, f"ids must be 0..{len(by_id) - 1} without gaps; id {gap} is missing")
    return [by_id[index] for index in range(len(by_id))]
