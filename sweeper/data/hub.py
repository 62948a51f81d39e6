"""Loading task splits from the Hugging Face Hub (for users with internet).

Each converter maps the rows of one Hub dataset family to sweeper's example schema for the
task type (see ``sweeper.data.formats``). Converters are pure functions of a ``datasets.Dataset``
so they are tested on in-memory datasets; only :func:`load_hub_split` touches the network.
"""

from __future__ import annotations

from collections.abc import Callable

import datasets

from sweeper.errors import ConfigError, did_you_mean
from sweeper.registry import HubSource

# TyDiQA-GoldP ids start with the language name ("arabic-2387335860751143628-1").
TYDIQA_LANGUAGE_NAMES = {
    "ar": "arabic",
    "bn": "bengali",
    "en": "english",
    "fi": "finnish",
    "id": "indonesian",
    "ko": "korean",
    "ru": "russian",
    "sw": "swahili",
    "te": "telugu",
}


def _label_names(dataset: datasets.Dataset, column: str) -> Callable[[int], str]:
    feature = dataset.features[column]
    if isinstance(feature, datasets.Sequence):
        feature = feature.feature
    if isinstance(feature, datasets.ClassLabel):
        return feature.int2str
    return str


def squad_rows(dataset: datasets.Dataset, language: str | None = None) -> list[dict]:
    """SQuAD-schema rows (id, title, context, question, answers) as they are.

    Fits every SQuAD-format Hub set: ``rajpurkar/squad``, ``rajpurkar/squad_v2`` (unanswerable
    questions have empty ``answers`` lists), ``google/xquad``, ``facebook/mlqa`` (which has no
    ``title`` column: the title becomes ``""``, as the local reader does for a missing title).
    """
    return [
        {
            "id": row["id"],
            "title": row.get("title", ""),
            "context": row["context"],
            "question": row["question"],
            "answers": {"text": list(row["answers"]["text"]), "answer_start": list(row["answers"]["answer_start"])},
        }
        for row in dataset
    ]


def tydiqa_rows(dataset: datasets.Dataset, language: str | None = None) -> list[dict]:
    """TyDiQA-GoldP rows of one language, selected by the language-name id prefix."""
    prefix = TYDIQA_LANGUAGE_NAMES[language] + "-" if language else ""
    return [row for row in squad_rows(dataset) if row["id"].startswith(prefix)]


def tagging_rows(dataset: datasets.Dataset, language: str | None = None) -> list[dict]:
    """Token-tagging rows from ``tokens`` + ``ner_tags``/``pos_tags`` (ClassLabel ids → names)."""
    column = "ner_tags" if "ner_tags" in dataset.column_names else "pos_tags"
    name = _label_names(dataset, column)
    return [
        {"id": str(index), "tokens": list(row["tokens"]), "tags": [name(tag) for tag in row[column]]}
        for index, row in enumerate(dataset)
    ]


def pair_rows(dataset: datasets.Dataset, language: str | None = None) -> list[dict]:
    """Sentence-pair rows from ``premise``/``hypothesis`` (or ``sentence1``/``sentence2``) + ``label``.

    Rows with label -1 (no gold label, as in SNLI) are skipped.
    """
    first, second = ("premise", "hypothesis") if "premise" in dataset.column_names else ("sentence1", "sentence2")
    name = _label_names(dataset, "label")
    return [
        {"id": str(row.get("uid", index)), "text_a": row[first], "text_b": row[second], "label": name(row["label"])}
        for index, row in enumerate(dataset)
        if row["label"] != -1
    ]


def qqp_rows(dataset: datasets.Dataset, language: str | None = None) -> list[dict]:
    """GLUE QQP rows (``nyu-mll/glue`` ``qqp``: ``question1``, ``question2``, ``label``, ``idx``).

    The label becomes ``"0"``/``"1"``, the ``is_duplicate`` value of GLUE's ``QQP/*.tsv`` (and
    jiant's QQP labels), not the Hub's ClassLabel names ``not_duplicate``/``duplicate``, so that
    Hub and local data share the task file's labels. Rows with label -1 (the unlabelled GLUE test
    split) are skipped.
    """
    return [
        {"id": str(row.get("idx", index)), "text_a": row["question1"], "text_b": row["question2"], "label": str(row["label"])}
        for index, row in enumerate(dataset)
        if row["label"] != -1
    ]


def copa_rows(dataset: datasets.Dataset, language: str | None = None) -> list[dict]:
    """COPA-format rows (``aps/super_glue`` ``copa``, ``cambridgeltl/xcopa`` ``{lang}``) → the
    multiple-choice schema, as ``read_xcopa_jsonl``: ``context`` = ``premise``, ``question`` =
    ``cause``/``effect``, ``choices`` = ``[choice1, choice2]``, ``label`` = the index (a ClassLabel
    ``choice1``/``choice2`` in SuperGLUE, an int in XCOPA). Rows with label -1 (the unlabelled
    SuperGLUE test split) are skipped.
    """
    return [
        {
            "id": str(row.get("idx", index)),
            "context": row["premise"],
            "question": row["question"],
            "choices": [row["choice1"], row["choice2"]],
            "label": int(row["label"]),
        }
        for index, row in enumerate(dataset)
        if row["label"] != -1
    ]


def parallel_rows(dataset: datasets.Dataset, language: str | None = None) -> list[dict]:
    """Aligned sentence pairs (``google/xtreme`` ``tatoeba.{xxx}``: ``source_sentence`` non-English,
    ``target_sentence`` English) → ``{"id": row index, "source", "target"}``, as ``read_tatoeba_txt``."""
    return [
        {"id": str(index), "source": row["source_sentence"].strip(), "target": row["target_sentence"].strip()}
        for index, row in enumerate(dataset)
    ]


CONVERTERS: dict[str, Callable[[datasets.Dataset, str | None], list[dict]]] = {
    "squad": squad_rows,
    "tydiqa": tydiqa_rows,
    "tagging": tagging_rows,
    "pair": pair_rows,
    "qqp": qqp_rows,
    "copa": copa_rows,
    "parallel": parallel_rows,
}


def load_dataset_arguments(source: HubSource, language: str | None) -> dict:
    """The keyword arguments of ``datasets.load_dataset`` for ``source`` (``{lang}`` filled).

    ``path``, ``name`` and ``split`` always; ``revision`` (e.g. ``refs/convert/parquet``, the
    Hub's Parquet export of a script-based dataset, which ``datasets`` 4+ no longer runs) and
    ``data_dir`` (the config folder on that branch) only when the task file sets them.
    """
    arguments = {
        "path": source.path,
        "name": source.name.format(lang=language) if source.name else None,
        "split": source.split,
    }
    if source.revision is not None:
        arguments["revision"] = source.revision
    if source.data_dir is not None:
        arguments["data_dir"] = source.data_dir.format(lang=language)
    return arguments


def load_hub_split(source: HubSource, language: str | None) -> list[dict]:
    """Download (or read from the HF cache) one split and convert it.

    ``source.path`` may be a Hub dataset id or a local folder of data files (parquet, JSON
    Lines, CSV), which ``datasets`` reads with its packaged loaders.

    Raises:
        ConfigError: the task file names an unknown converter.
    """
    if source.converter not in CONVERTERS:
        raise ConfigError(
            f"unknown hub converter {source.converter!r}.{did_you_mean(source.converter, CONVERTERS)} Known: {sorted(CONVERTERS)}"
        )
    dataset = datasets.load_dataset(**load_dataset_arguments(source, language))
    return CONVERTERS[source.converter](dataset, language)
