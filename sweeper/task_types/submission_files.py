"""Prediction and gold label files read the way XTREME ``evaluate.py`` reads them, with a record of
everything that was tolerated or will be scored as wrong.

Source: google-research/xtreme ``evaluate.py`` (commit 838c13b): ``read_label`` opens the file in
text mode (universal newlines) and keeps every line ``strip()``-ed, blank ones included;
``read_tag`` keeps the stripped non-blank lines and starts a new sentence at each blank line.
A label is compared as the whole stripped line, so a tagging line ``token<TAB>TAG`` or an XNLI
label id ``0`` is simply wrong there, and here too; :class:`FileIssues` counts such lines so the
user is told (``sweeper score`` prints one line per file on stderr, ``--strict`` makes it exit 2).

One deliberate difference: a UTF-8 byte-order mark at the start of a file is dropped (and
reported). ``evaluate.py`` reads it into the first label (which then scores as wrong) and its
``json.load`` refuses a QA file that starts with one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sweeper.data.formats._io import check_file
from sweeper.errors import DataFormatError

_BOM = "\ufeff"

#: What :class:`FileIssues` counts, with how the message describes it (``{n}``: the count).
ISSUE_TEXT: dict[str, str] = {
    "bom": "a UTF-8 byte-order mark at the start (dropped; evaluate.py reads it into the first label)",
    "padded": "{n} line(s) with surrounding whitespace (stripped, as evaluate.py does)",
    "columns": "{n} label(s) with more than one tab-separated column (scored as wrong, as evaluate.py does: "
    "a prediction file holds the label only, one per line)",
    "label_ids": "{n} label(s) that look like label ids (scored as wrong: write the label names {labels})",
    "unknown": "{n} label(s) outside the task's label set (scored as wrong; known labels: {labels})",
    "missing_ids": "{n} gold question id(s) without a prediction (scored 0, as the official script does)",
    "extra_ids": "{n} prediction id(s) not in the gold data (ignored, as the official script does)",
}


@dataclass
class FileIssues:
    """What one prediction file needed tolerated, or holds that scores as wrong.

    Attributes:
        path: the file.
        counts: issue kind (a key of :data:`ISSUE_TEXT`) → how many lines/labels/ids.
        samples: issue kind → up to three offending values, for the message.
        labels: the task's label names (named in the ``unknown``/``label_ids`` messages).
    """

    path: Path
    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    def add(self, kind: str, sample: str | None = None, count: int = 1) -> None:
        """Count ``count`` occurrences of ``kind``, keeping ``sample`` as an example.

        Raises:
            KeyError: ``kind`` is not a key of :data:`ISSUE_TEXT`.
        """
        if kind not in ISSUE_TEXT:
            raise KeyError(f"unknown issue kind {kind!r}; expected one of {sorted(ISSUE_TEXT)}")
        self.counts[kind] += count
        if sample is not None and len(examples := self.samples.setdefault(kind, [])) < 3:
            examples.append(sample)

    def message(self) -> str | None:
        """One line naming the file and every issue with its count (``None`` if there is none)."""
        if not self.counts:
            return None
        labels = "/".join(self.labels)
        parts = []
        for kind, text in ISSUE_TEXT.items():
            if self.counts[kind]:
                part = text.format(n=self.counts[kind], labels=labels)
                if self.samples.get(kind):
                    part += f", e.g. {', '.join(repr(sample) for sample in self.samples[kind])}"
                parts.append(part)
        return f"{self.path}: {'; '.join(parts)}"


def read_text_lines(path: Path, issues: FileIssues | None = None) -> list[str]:
    """The file's lines as ``evaluate.py`` iterates them: split at ``\\n``, ``\\r\\n`` or ``\\r``
    (universal newlines), no empty last line after a final line break, each ``strip()``-ed.

    Raises:
        MissingDataError: the file does not exist. DataFormatError: it is not valid UTF-8.
    """
    raw = check_file(path, "prediction file").read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataFormatError(path, line, f"not valid UTF-8 ({error.reason})") from error
    if text.startswith(_BOM):
        text = text[1:]
        if issues is not None:
            issues.add("bom")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    stripped = [line.strip() for line in lines]
    if issues is not None:
        for line, clean in zip(lines, stripped, strict=True):
            if line != clean and clean:
                issues.add("padded", line)
    return stripped


def note_bom(path: Path, issues: FileIssues | None) -> None:
    """Record a byte-order mark at the start of ``path`` (for files read by a JSON reader, which
    drops it)."""
    if issues is not None:
        with check_file(path, "prediction file").open("rb") as handle:
            if handle.read(3) == _BOM.encode("utf-8"):
                issues.add("bom")


def read_label_lines(path: Path, issues: FileIssues | None = None) -> list[str]:
    """One label per line, blank lines kept as empty labels (``evaluate.py`` ``read_label``)."""
    return read_text_lines(path, issues)


def read_tag_sentences(path: Path, issues: FileIssues | None = None) -> list[list[str]]:
    """Sentences of tags: stripped non-blank lines, a blank line (or several) ends a sentence
    (``evaluate.py`` ``read_tag``)."""
    sentences: list[list[str]] = []
    sentence: list[str] = []
    for line in read_text_lines(path, issues):
        if line:
            sentence.append(line)
        else:
            if sentence:
                sentences.append(sentence)
            sentence = []
    if sentence:
        sentences.append(sentence)
    return sentences


def check_labels(predicted: Iterable[str], labels: Sequence[str] | None, issues: FileIssues) -> None:
    """Count predicted labels that are not label names of the task, by why.

    A label with a tab counts as ``columns`` (e.g. ``token<TAB>TAG`` in a tagging file); a
    decimal number that indexes ``labels`` while the labels themselves are not numbers as
    ``label_ids`` (XNLI ``0/1/2``); any other unknown label as ``unknown``. Empty labels (blank
    lines of a label file) count as unknown.
    """
    if not labels:  # a label inventory not resolved (labels_file): nothing to check against
        return
    known = set(labels)
    issues.labels = tuple(labels)
    numeric_labels = all(label.isdigit() for label in labels)
    for label in predicted:
        if label in known:
            continue
        if "\t" in label:
            issues.add("columns", label)
        elif label.isdigit() and not numeric_labels and int(label) < len(labels):
            issues.add("label_ids", label)
        else:
            issues.add("unknown", label)
