"""Readers for the retrieval tasks' parallel-sentence data (Tatoeba, BUCC 2018).

Tatoeba returns a list of aligned pairs in the parallel schema::

    {"id": str, "source": str, "target": str}

(``source`` = the non-English sentence, ``target`` = its English translation); BUCC returns a
:class:`BuccCorpus`, since its two sides are not aligned line by line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sweeper.data.formats._io import check_file, iter_fixed_rows, iter_lines
from sweeper.errors import ConfigError, DataFormatError

_TATOEBA_NAME = re.compile(r"tatoeba\.(?P<lang>[a-z]{3})-eng\.(?P<side>[a-z]{3})")
_BUCC_NAME = re.compile(r"(?P<lang>[a-z]{2})-en\.(?P<split>[a-z]+)\.(?P<side>[a-z]{2}|gold)")


def _sentences(path: Path) -> list[str]:
    """Return the stripped lines of a one-sentence-per-line file, rejecting empty lines."""
    sentences = []
    for number, line in iter_lines(path):
        sentence = line.strip()
        if not sentence:
            raise DataFormatError(path, number, "empty line; expected one sentence per line")
        sentences.append(sentence)
    return sentences


def read_tatoeba_txt(path: Path) -> list[dict]:
    """Read a Tatoeba language pair from the non-English file ``tatoeba.{xxx}-eng.{xxx}``.

    Format: two UTF-8 text files with one sentence per line, ``tatoeba.{xxx}-eng.{xxx}`` and its
    sibling ``tatoeba.{xxx}-eng.eng`` (``xxx`` an ISO 639-3 code), where line *i* of one
    translates line *i* of the other. Source: facebookresearch/LASER ``data/tatoeba/v1`` (the
    files XTREME's ``download_data.sh`` fetches before shuffling the English side).

    Args:
        path: the non-English file; the English file is found next to it.

    Returns:
        One parallel example per line pair, ``id`` = the 0-based line index, ``source`` the
        non-English and ``target`` the English sentence (surrounding whitespace stripped).

    Raises:
        ConfigError: ``path`` is not named ``tatoeba.{xxx}-eng.{xxx}`` with ``xxx`` not ``eng``.
        MissingDataError: either file does not exist.
        DataFormatError: a line is empty, or the two files have different numbers of lines.
    """
    path = Path(path)
    match = _TATOEBA_NAME.fullmatch(path.name)
    if match is None or match["side"] != match["lang"] or match["lang"] == "eng":
        raise ConfigError(
            f"{path}: expected the non-English file of a Tatoeba pair, named "
            "tatoeba.{xxx}-eng.{xxx} (e.g. tatoeba.deu-eng.deu); its English side "
            "tatoeba.{xxx}-eng.eng is found next to it"
        )
    english = check_file(path.with_name(f"tatoeba.{match['lang']}-eng.eng"), "English side of the Tatoeba pair")
    sources, targets = _sentences(path), _sentences(english)
    if len(sources) != len(targets):
        raise DataFormatError(
            path,
            None,
            f"{len(sources)} lines, but {english} has {len(targets)}; line i of one must translate line i of the other",
        )
    return [
        {"id": str(index), "source": source, "target": target}
        for index, (source, target) in enumerate(zip(sources, targets, strict=True))
    ]


@dataclass(frozen=True)
class BuccCorpus:
    """One BUCC 2018 language pair and split.

    Attributes:
        source: sentence id (e.g. ``"de-000000001"``) → non-English sentence.
        target: sentence id (e.g. ``"en-000000001"``) → English sentence.
        gold: the gold translation pairs ``(source_id, target_id)``; empty only when read with
            ``require_gold=False`` from a split that has no ``.gold`` file.
    """

    source: dict[str, str]
    target: dict[str, str]
    gold: set[tuple[str, str]] = field(default_factory=set)

    def __len__(self) -> int:
        """The number of non-English sentences (the side pairs are mined for)."""
        return len(self.source)

    def head(self, limit: int | None) -> BuccCorpus:
        """The first ``limit`` sentences of each side (file order) and the gold pairs among them;
        the corpus itself when ``limit`` is ``None``."""
        if limit is None:
            return self
        source = dict(list(self.source.items())[:limit])
        target = dict(list(self.target.items())[:limit])
        gold = {pair for pair in self.gold if pair[0] in source and pair[1] in target}
        return BuccCorpus(source=source, target=target, gold=gold)


def _bucc_sentences(path: Path) -> dict[str, str]:
    sentences: dict[str, str] = {}
    for number, (sentence_id, sentence) in iter_fixed_rows(path, ("id", "sentence")):
        if sentence_id in sentences:
            raise DataFormatError(path, number, f"sentence id {sentence_id!r} occurs more than once")
        sentences[sentence_id] = sentence.strip()
    return sentences


def read_bucc(path: Path, *, require_gold: bool = True) -> BuccCorpus:
    """Read a BUCC 2018 language pair and split from any of its three files.

    Format: ``{xx}-en.{split}.{xx}`` and ``{xx}-en.{split}.en`` hold ``id<TAB>sentence`` lines
    (ids like ``de-000000001``/``en-000000001``); ``{xx}-en.{split}.gold`` holds
    ``source_id<TAB>english_id`` lines, one per gold translation pair. Source: the BUCC 2018
    shared task (``comparable.limsi.fr/bucc2018``, ``bucc2018-{xx}-en.{sample,training}-gold``),
    renamed by google-research/xtreme ``scripts/download_data.sh`` so that ``sample`` → ``dev``
    and ``training`` → ``test``; that script deletes ``*.test.gold``, so scoring the test split
    needs the gold file restored from the original ``training-gold`` archive.

    Args:
        path: one of the three files (e.g. ``de-en.dev.de``); the others are found next to it.
        require_gold: raise when the ``.gold`` file is missing (default). With ``False`` a split
            without gold reads with an empty ``gold`` set (embedding only, no scoring).

    Returns:
        A :class:`BuccCorpus`.

    Raises:
        ConfigError: ``path`` is not named ``{xx}-en.{split}.{xx|en|gold}``.
        MissingDataError: a sentence file (or, with ``require_gold``, the gold file) is missing.
        DataFormatError: a line does not have 2 tab-separated columns, a sentence id repeats, or a
            gold pair names an id that is not in the sentence files.
    """
    path = Path(path)
    match = _BUCC_NAME.fullmatch(path.name)
    if match is None or match["side"] not in (match["lang"], "en", "gold") or match["lang"] == "en":
        raise ConfigError(f"{path}: expected a BUCC 2018 file named {{xx}}-en.{{split}}.{{xx|en|gold}} (e.g. de-en.dev.de)")
    stem = f"{match['lang']}-en.{match['split']}"
    source = _bucc_sentences(path.with_name(f"{stem}.{match['lang']}"))
    target = _bucc_sentences(path.with_name(f"{stem}.en"))
    gold_path = path.with_name(f"{stem}.gold")
    gold: set[tuple[str, str]] = set()
    if require_gold or gold_path.exists():
        what = "BUCC gold file"
        if match["split"] == "test":
            what += (
                " (XTREME's download_data.sh deletes *.test.gold: restore it from the original "
                f"bucc2018-{match['lang']}-en.training-gold archive, or pass require_gold=False)"
            )
        for number, (source_id, target_id) in iter_fixed_rows(check_file(gold_path, what), ("source_id", "en_id")):
            for sentence_id, sentences, side in (
                (source_id, source, match["lang"]),
                (target_id, target, "en"),
            ):
                if sentence_id not in sentences:
                    raise DataFormatError(
                        gold_path,
                        number,
                        f"gold pair names {sentence_id!r}, which is not in {stem}.{side}",
                    )
            gold.add((source_id, target_id))
    return BuccCorpus(source=source, target=target, gold=gold)
