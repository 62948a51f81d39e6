"""Open every local data file a sweep will read and parse it far enough to find format errors, before anything starts (pure).

A file up to :data:`FULL_PARSE_BYTES` is read whole with its format's reader
(:mod:`sweeper.data.formats`): header, column count, label set (e.g. an NLI label outside
entailment/neutral/contradiction), every record, and the error names the file and line. A larger
file (full GLUE MNLI, SQuAD train) is sampled: its first and last :data:`SAMPLE_LINES` lines must
decode as UTF-8 and, per format family, parse as JSON lines or keep the first line's column count;
its other records are read by the trial. A file with no examples, and a train, dev or zero-shot
file without labels (XTREME's test files), is refused too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from sweeper.config import SweepConfig
from sweeper.data.formats._io import check_file
from sweeper.data.sources import GOLD_FIELDS, layout_root, task_split
from sweeper.errors import DataFormatError, MissingDataError, SweeperError
from sweeper.registry import TaskSpec

#: Files up to this size (bytes) are parsed whole during validation.
FULL_PARSE_BYTES = 8 * 1024 * 1024
#: Lines read from each end of a larger file.
SAMPLE_LINES = 50
_JSON_LINES = ("_jsonl",)
_DELIMITED = ("_tsv", "_csv")
_FIX = "Re-download or regenerate the file (see the task file's source), or fix the line shown"


def _files(spec: TaskSpec, split: str, data_dir: Path, language: str | None) -> Iterator[tuple[str, Path]]:
    root = layout_root(spec, data_dir)
    for source in task_split(spec, split).sources:
        for pattern in source.files:
            yield source.format, root / pattern.format(lang=spec.file_language(language))


def _sampled_lines(path: Path) -> list[tuple[int, bytes]]:
    """(1-based line number, line) of the first and last :data:`SAMPLE_LINES` lines of ``path``."""
    with path.open("rb") as file:
        head = [file.readline() for _ in range(SAMPLE_LINES)]
        file.seek(0, 2)
        size = file.tell()
        file.seek(max(size - 64 * 1024, 0))
        tail = file.read().splitlines(keepends=True)[1:][-SAMPLE_LINES:]
    with path.open("rb") as file:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
    numbered = [(number, line) for number, line in enumerate(head, start=1) if line]
    first_tail = total - len(tail) + 1
    return numbered + [(first_tail + offset, line) for offset, line in enumerate(tail)]


def _check_sample(format: str, path: Path) -> None:
    """The sampled check of a file above :data:`FULL_PARSE_BYTES` (see the module docstring)."""
    columns = None
    for number, raw in _sampled_lines(path):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as error:
            raise DataFormatError(path, number, f"not UTF-8 text ({error.reason}). {_FIX}") from error
        if not line.strip():
            continue
        if format.endswith(_JSON_LINES):
            try:
                json.loads(line)
            except json.JSONDecodeError as error:
                raise DataFormatError(
                    path, number, f"not a JSON object ({error.msg}); {format} has one per line. {_FIX}"
                ) from error
        elif format.endswith(_DELIMITED) and format != "xtreme_tagging_tsv":
            count = len(line.split("\t" if format.endswith("_tsv") else ","))
            columns = columns or count
            if count != columns and format.endswith("_tsv"):
                raise DataFormatError(path, number, f"{count} tab-separated columns where line 1 has {columns}. {_FIX}")


def check_file_contents(format: str, path: Path, labelled: bool) -> int:
    """Parse ``path`` as ``format`` far enough to find format errors (see the module docstring).

    Args:
        labelled: the split is trained or scored on, so its examples must carry gold labels.

    Returns:
        The number of examples read (``-1`` for a sampled file).

    Raises:
        MissingDataError: ``path`` is missing. DataFormatError: it is empty, corrupt (file and
            line named) or, with ``labelled``, carries no labels.
    """
    from sweeper.data.formats import read_examples

    check_file(path, f"{format} data file")
    if path.stat().st_size > FULL_PARSE_BYTES:
        _check_sample(format, path)
        return -1
    examples = read_examples(format, path)
    if not isinstance(examples, list):  # a BUCC corpus: its reader checked both sides and the gold pairs
        return len(examples.source)
    if not examples:
        raise DataFormatError(path, None, f"holds no examples (an empty or truncated {format} file). {_FIX}")
    if labelled and any(example.get(field, ...) is None for example in examples for field in GOLD_FIELDS):
        raise DataFormatError(
            path,
            None,
            "carries no gold labels (XTREME's test files have none), so it cannot be trained or scored on; "
            "point the split at a labelled file (task_overrides.<task>.splits) or evaluate on dev",
        )
    return len(examples)


def content_problems(config: SweepConfig, data_dir: Path, read: list[tuple[TaskSpec, str, list[str]]]) -> list[SweeperError]:
    """One error per corrupt file among the files of ``read`` (``(task, split, languages)``, as
    :func:`sweeper.sweep.validation.splits_read` lists them) that exist; missing files are
    reported by the existence check."""
    problems: list[SweeperError] = []
    seen: set[Path] = set()
    for spec, split, languages in read:
        for language in languages:
            for format, path in _files(spec, split, data_dir, language):
                if path in seen or not path.is_file():
                    continue
                seen.add(path)
                try:
                    check_file_contents(format, path, labelled=True)
                except DataFormatError as error:
                    problems.append(DataFormatError(path, error.line, f"task {spec.task!r}, split {split!r}: {error.detail}"))
                except MissingDataError as error:
                    problems.append(error)
    return problems
