"""Shared low-level readers for :mod:`sweeper.data.formats`: lines, JSON Lines, JSON, TSV/CSV.

Every helper turns a problem in the file into :class:`~sweeper.errors.DataFormatError` with the
file and the 1-based line number, and a missing file into
:class:`~sweeper.errors.MissingDataError` naming the expected path. Helpers are generators where
that keeps memory flat; the readers built on them collect into a list, so an error anywhere in a
file propagates before any result is returned (never a half-read file).

Text is decoded as UTF-8 (a leading byte-order mark is dropped). Lines are split on ``"\\n"``
only, so ``"\\r"`` or Unicode line separators inside a sentence never split it; a trailing
``"\\r"`` (Windows line ending) is removed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sweeper.errors import DataFormatError, MissingDataError

T = TypeVar("T")

_DELIMITER_NAMES = {"\t": "tab", ",": "comma"}


def check_file(path: Path, what: str = "data file") -> Path:
    """Return ``path`` as a :class:`Path` if it is an existing regular file.

    Args:
        path: the file a reader is about to open.
        what: how to call the file in the error message (e.g. ``"English side"``).

    Raises:
        MissingDataError: the file does not exist or is not a regular file.
    """
    path = Path(path)
    if not path.exists():
        raise MissingDataError(f"{what} not found: expected {path}")
    if not path.is_file():
        raise MissingDataError(f"{what} expected at {path} is not a regular file")
    return path


def iter_lines(path: Path, *, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for every line of a UTF-8 text file.

    Args:
        path: the file to read.
        keep_ends: keep the line terminator (needed by :mod:`csv` for quoted fields that span
            lines); otherwise trailing ``"\\r"``/``"\\n"`` characters are removed.

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: a line is not valid UTF-8.
    """
    path = check_file(path)
    # newline="\n": split on "\n" only and return endings untranslated; "utf-8-sig" drops a BOM.
    try:
        with path.open(encoding="utf-8-sig", newline="\n") as handle:
            if keep_ends:
                yield from enumerate(handle, start=1)
            else:
                for number, line in enumerate(handle, start=1):
                    yield number, line.rstrip("\r\n")
    except UnicodeDecodeError as error:  # raised by the file iteration, never by the consumer
        raise _utf8_error(path) from error


def _utf8_error(path: Path) -> DataFormatError:
    """Locate the first line of ``path`` that is not valid UTF-8 (slow path, only on error)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return DataFormatError(
                    path,
                    number,
                    f"not valid UTF-8 ({error.reason} at byte {error.start} of the line)",
                )
    return DataFormatError(path, None, "not valid UTF-8")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for every non-blank line of a JSON Lines file.

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: a line is not valid JSON or not a JSON object.
    """
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(
                path,
                number,
                f"invalid JSON ({error.msg} at column {error.colno}); expected one JSON object per line",
            ) from error
        if not isinstance(record, dict):
            raise DataFormatError(
                path,
                number,
                f"expected one JSON object per line, got a JSON {type(record).__name__}",
            )
        yield number, record


def load_json(path: Path) -> Any:
    """Parse a whole JSON file.

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: the file is not valid UTF-8 or not valid JSON (with the line of the error).
    """
    path = check_file(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataFormatError(path, line, f"not valid UTF-8 ({error.reason})") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataFormatError(path, error.lineno, f"invalid JSON: {error.msg} (column {error.colno})") from error


def _is_blank(fields: Sequence[str]) -> bool:
    return len(fields) <= 1 and not "".join(fields).strip()


def iter_delimited(path: Path, *, delimiter: str = "\t", quoted: bool = False) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for every non-blank record of a delimited text file.

    Args:
        path: the file to read.
        delimiter: the field separator.
        quoted: ``True`` for files written by :func:`csv.writer` (RFC-4180 style double-quote
            quoting; fields may contain the delimiter, doubled quotes and newlines; read with
            ``strict=True`` so an unterminated quote is an error); ``False`` for plain files
            where quote characters are ordinary text and every line is one record (GLUE-style
            ``QUOTE_NONE``). The line number is the record's first line.

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: bad UTF-8, or malformed quoting in a quoted file.
    """
    if not quoted:
        for number, line in iter_lines(path):
            fields = line.split(delimiter)
            if not _is_blank(fields):
                yield number, fields
        return
    reader = csv.reader((line for _, line in iter_lines(path, keep_ends=True)), delimiter=delimiter, strict=True)
    previous_end = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise DataFormatError(path, reader.line_num, f"malformed quoted field: {error}") from error
        start, previous_end = previous_end + 1, reader.line_num
        if not _is_blank(fields):
            yield start, fields


def column_count_error(
    path: Path,
    line: int,
    columns: Sequence[str],
    got: int,
    *,
    delimiter: str = "\t",
    short_hint: str = "",
) -> DataFormatError:
    """Build the error for a row with the wrong number of columns.

    Args:
        path: the file.
        line: 1-based line number of the row.
        columns: the expected column names, in order.
        got: how many columns the row has.
        delimiter: the field separator (named in the message).
        short_hint: extra explanation appended when the row has exactly one column too few
            (typically: a test split whose labels were stripped).
    """
    layout = f"<{_DELIMITER_NAMES.get(delimiter, repr(delimiter)).upper()}>".join(columns)
    name = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
    hint = short_hint if got == len(columns) - 1 else ""
    return DataFormatError(path, line, f"expected {len(columns)} {name}-separated columns {layout}, got {got}{hint}")


def iter_fixed_rows(
    path: Path,
    columns: Sequence[str],
    *,
    delimiter: str = "\t",
    quoted: bool = False,
    short_hint: str = "",
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for a headerless delimited file with a fixed column layout.

    Args:
        path: the file to read.
        columns: the expected column names, in order (only used in error messages).
        delimiter: the field separator.
        quoted: see :func:`iter_delimited`.
        short_hint: see :func:`column_count_error`.

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: a row has a different number of columns, or the file is malformed.
    """
    for number, fields in iter_delimited(path, delimiter=delimiter, quoted=quoted):
        if len(fields) != len(columns):
            raise column_count_error(path, number, columns, len(fields), delimiter=delimiter, short_hint=short_hint)
        yield number, fields


def iter_header_rows(
    path: Path, required: Sequence[str], *, delimiter: str = "\t", quoted: bool = False
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` for a delimited file whose first row names the columns.

    Args:
        path: the file to read.
        required: column names that must appear in the header (others are kept but ignored).
        delimiter: the field separator.
        quoted: see :func:`iter_delimited`.

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: the file is empty, the header lacks a required column, or a row has a
            different number of columns than the header.
    """
    rows = iter_delimited(path, delimiter=delimiter, quoted=quoted)
    first = next(rows, None)
    if first is None:
        raise DataFormatError(
            path,
            None,
            f"empty file: expected a header row naming the columns {', '.join(required)}",
        )
    header_line, header = first
    missing = [name for name in required if name not in header]
    if missing:
        raise DataFormatError(
            path,
            header_line,
            f"header lacks column(s) {', '.join(missing)}: expected {', '.join(required)} "
            f"among the header names, got {', '.join(header)}",
        )
    for number, fields in rows:
        if len(fields) != len(header):
            raise column_count_error(path, number, header, len(fields), delimiter=delimiter)
        yield number, dict(zip(header, fields, strict=True))


def get_field(
    record: Mapping[str, Any],
    key: str,
    kinds: type | tuple[type, ...],
    path: Path,
    line: int | None,
    where: str = "",
) -> Any:
    """Return ``record[key]`` after checking that it exists and has one of the expected types.

    ``bool`` is not accepted where ``int`` is expected (JSON ``true`` is not a label index).

    Args:
        record: a parsed JSON object or CSV row.
        key: the field name.
        kinds: the accepted Python type(s).
        path: the file (for the error message).
        line: the 1-based line number, or ``None`` for whole-file JSON.
        where: a prefix locating the record in the message, e.g. ``"question '5733be28': "``.

    Raises:
        DataFormatError: the field is missing or has the wrong type.
    """
    if key not in record:
        raise DataFormatError(path, line, f"{where}missing field {key!r}")
    value = record[key]
    accepted = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
        names = " or ".join(kind.__name__ for kind in accepted)
        raise DataFormatError(
            path,
            line,
            f"{where}field {key!r} must be {names}, got {type(value).__name__} {value!r:.80}",
        )
    return value


def map_label(value: str, mapping: Mapping[str, T], path: Path, line: int | None, field: str) -> T:
    """Map a raw label through ``mapping``.

    Raises:
        DataFormatError: ``value`` is not a key of ``mapping`` (the message lists the accepted
            values).
    """
    if value not in mapping:
        allowed = ", ".join(repr(key) for key in mapping)
        raise DataFormatError(path, line, f"unknown {field} {value!r}: expected one of {allowed}")
    return mapping[value]


def choice_index(value: Any, num_choices: int, path: Path, line: int | None, field: str) -> int:
    """Parse a 0-based answer index given as a JSON integer or a decimal string (CSV).

    Raises:
        DataFormatError: the value is not an integer in ``[0, num_choices)``.
    """
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < num_choices:
        raise DataFormatError(path, line, f"{field} must be an integer from 0 to {num_choices - 1}, got {value!r}")
    return value
