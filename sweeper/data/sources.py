"""Where a task's examples come from: a local data directory, or the Hugging Face Hub.

Local layout: ``<data_dir>/<layout>/<file>`` where ``layout`` is the task's (``xtreme`` for the
google-research/xtreme ``download/`` layout, ``english`` for release layouts), or
``<data_dir>/<file>`` when ``data_dir`` *is* that layout root (e.g. a user's own ``download/``).

A split has one or several sources (:class:`~sweeper.registry.Split`), each with its own format,
files and Hub source; their examples are concatenated in order.
"""

from __future__ import annotations

from pathlib import Path

from sweeper.data.formats.retrieval import BuccCorpus
from sweeper.errors import ConfigError, MissingDataError, UnlabelledDataError
from sweeper.registry import Split, SplitSource, TaskSpec

#: The format of BUCC 2018 mining corpora: a split is one corpus per language pair.
BUCC_FORMAT = "bucc"

#: Example fields that hold the gold answer, per schema (``None`` where a file has no labels).
GOLD_FIELDS = ("label", "tags", "answers")


def unlabelled(examples: list[dict]) -> bool:
    """Whether any example lacks its gold answer (a gold field that is ``None``)."""
    return any(example.get(field, ...) is None for example in examples for field in GOLD_FIELDS)


def layout_root(spec: TaskSpec, data_dir: Path) -> Path:
    """The folder the task's file paths are relative to (see module docstring)."""
    nested = data_dir / spec.layout
    return nested if nested.is_dir() else data_dir


def task_split(spec: TaskSpec, split: str) -> Split:
    """The declared sources of ``split``.

    Raises:
        ConfigError: the task declares no such split.
    """
    if split not in spec.splits:
        raise ConfigError(f"task {spec.task!r} has no split {split!r}; it declares {sorted(spec.splits)}")
    return spec.splits[split]


def _source_files(spec: TaskSpec, source: SplitSource, root: Path, language: str | None) -> list[Path]:
    return [root / pattern.format(lang=spec.file_language(language)) for pattern in source.files]


def split_files(spec: TaskSpec, split: str, data_dir: Path, language: str | None = None) -> list[Path]:
    """The local files of ``split``, source by source (``{lang}`` filled with ``language``, or
    with its code in the task's ``language_codes``)."""
    root = layout_root(spec, data_dir)
    return [path for source in task_split(spec, split).sources for path in _source_files(spec, source, root, language)]


def _missing_data_error(spec: TaskSpec, what: str, missing: list[Path], patterns: list[str], hint: str) -> MissingDataError:
    shown = "\n  ".join(str(path) for path in missing[:10])
    more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
    expected = ", ".join(f"<data-dir>/{spec.layout}/{pattern}" for pattern in patterns)
    return MissingDataError(
        f"task {spec.task!r}, {what}: {len(missing)} data file(s) missing:\n  {shown}{more}\n"
        f"Expected layout: {expected} (or the same paths under <data-dir>/ when --data-dir points at "
        f"the {spec.layout} folder itself). Point --data-dir / SWEEPER_DATA_DIR at a folder with that "
        f"layout{hint}."
    )


def check_split_files(spec: TaskSpec, split: str, data_dir: Path, languages: list[str | None]) -> None:
    """Fail early, before any trial starts, when a file of ``split`` is missing.

    Raises:
        MissingDataError: lists every missing path and, for each source with a missing file, the
            expected path pattern in the layout.
    """
    root = layout_root(spec, data_dir)
    missing: list[Path] = []
    patterns: list[str] = []
    for source in task_split(spec, split).sources:
        for language in languages:
            for pattern, path in zip(source.files, _source_files(spec, source, root, language), strict=True):
                if not path.is_file():
                    missing.append(path)
                    if pattern not in patterns:
                        patterns.append(pattern)
    if missing:
        raise _missing_data_error(
            spec, f"split {split!r}", missing, patterns, ", or restrict zero_shot.languages to the languages you have"
        )


def check_hub_sources(spec: TaskSpec, split: str) -> None:
    """Fail early when a source of ``split`` cannot be read without a data directory.

    Raises:
        ConfigError: a source declares no Hub source (e.g. BUCC), saying to pass ``--data-dir``.
    """
    for source in task_split(spec, split).sources:
        if source.hub is None:
            raise ConfigError(
                f"task {spec.task!r}, split {split!r}: the {source.format} source {source.files} has no Hub "
                "source; pass --data-dir (or SWEEPER_DATA_DIR) pointing at a local copy"
            )


def _load_source(spec: TaskSpec, source: SplitSource, data_dir: Path | None, language: str | None) -> list[dict]:
    if data_dir is None:
        from sweeper.data.hub import load_hub_split

        # the Hub config uses the task's code for the language (``language_codes``)
        code = spec.file_language(language)
        hub = source.hub.model_copy(
            update={key: getattr(source.hub, key).format(lang=code) for key in ("name", "data_dir") if getattr(source.hub, key)}
        )
        return load_hub_split(hub, language)
    from sweeper.data.formats import read_examples

    root = layout_root(spec, data_dir)
    examples = [example for path in _source_files(spec, source, root, language) for example in read_examples(source.format, path)]
    if source.filter_language:
        code = spec.file_language(language)
        examples = [
            {key: value for key, value in example.items() if key != "language"}
            for example in examples
            if example["language"] == code
        ]
        if not examples:
            raise MissingDataError(
                f"task {spec.task!r}: no examples of language {code!r} in {', '.join(map(str, _source_files(spec, source, root, language)))}"
            )
    return examples


def _unlabelled_error(
    spec: TaskSpec, split: str, source: SplitSource, data_dir: Path | None, language: str | None
) -> UnlabelledDataError:
    where = (
        ", ".join(str(path) for path in _source_files(spec, source, layout_root(spec, data_dir), language))
        if data_dir is not None
        else f"Hub dataset {source.hub.path}"
    )
    return UnlabelledDataError(
        f"task {spec.task!r}, split {split!r}, language {language!r}: {where} has no gold labels, so it cannot be "
        "scored or trained on. XTREME's download_data.sh removes the labels of the test data (only the "
        "leaderboard holds them; PAN-X, UD-POS, XNLI, PAWS-X, XQuAD, MLQA test; TyDiQA-GoldP dev in some "
        "versions). Put the labelled release files where the task file says (see the comments in "
        f"tasks/{spec.task}.yaml), score another split (`task_overrides: {{{spec.task}: {{zero_shot: {{split: dev, "
        "languages: [...]}}}}}`), or use this split only for leaderboard predictions (OUTPUT/submission/)."
    )


def proportional_counts(sizes: list[int], limit: int) -> list[int]:
    """How many of each source's first examples a ``limit``-example subsample of their
    concatenation keeps: shares proportional to the sources' sizes (largest remainder), summing to
    ``min(limit, sum(sizes))``, so a subsample of a mixed split still mixes its sources.

    Raises:
        ValueError: ``limit`` is negative.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    total = sum(sizes)
    if limit >= total:
        return list(sizes)
    exact = [size * limit / total for size in sizes]
    counts = [int(share) for share in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda index: (counts[index] - exact[index], index))
    for index in by_remainder[: limit - sum(counts)]:
        counts[index] += 1
    return counts


def load_split(
    spec: TaskSpec,
    split: str,
    data_dir: Path | None,
    language: str | None = None,
    limit: int | None = None,
    *,
    labelled: bool = True,
) -> list[dict] | BuccCorpus:
    """Load the examples of one split (one language for ``{lang}`` splits), source after source.

    Args:
        data_dir: local data root; ``None`` loads from the Hub sources declared in the task file.
        limit: keep the first ``limit`` examples (deterministic subsample for CPU budgets); for a
            split with several sources, the first examples of each source in proportion to the
            sources' sizes (:func:`proportional_counts`), in source order.
        labelled: the examples are to be scored or trained on, so every one must carry its gold
            answer; ``False`` for inputs that are only predicted (leaderboard test files, whose
            gold fields may be ``None``).

    Returns:
        Examples in the schema of the task's type (see ``sweeper.data.formats``); for a ``bucc``
        split (local files only) the :class:`BuccCorpus` of the language pair, ``limit`` applied
        to each side (:meth:`BuccCorpus.head`).

    Raises:
        MissingDataError: a local file is missing (all missing files of the split are named).
        UnlabelledDataError: ``labelled`` and a source's files carry no gold labels (XTREME's
            test files); the message names the files and the fixes.
        ConfigError: a source declares no Hub source. DataFormatError: a file is corrupt (with
            file and line).
    """
    sources = task_split(spec, split).sources
    if data_dir is not None:
        check_split_files(spec, split, data_dir, [language])
    else:  # every source is checked before anything is downloaded
        check_hub_sources(spec, split)
    if [source.format for source in sources] == [BUCC_FORMAT]:  # one mining corpus, not a list of examples
        from sweeper.data.formats import read_examples

        (path,) = _source_files(spec, sources[0], layout_root(spec, data_dir), language)
        return read_examples(BUCC_FORMAT, path).head(limit)
    parts = [_load_source(spec, source, data_dir, language) for source in sources]
    for source, part in zip(sources, parts, strict=True):
        if labelled and unlabelled(part):
            raise _unlabelled_error(spec, split, source, data_dir, language)
    if limit is not None:
        parts = [
            part[:count] for part, count in zip(parts, proportional_counts([len(part) for part in parts], limit), strict=True)
        ]
    return [example for part in parts for example in part]


def labels_path(spec: TaskSpec, data_dir: Path) -> Path:
    """The local path of the task's ``labels_file``.

    Raises:
        ConfigError: the task declares no ``labels_file``.
    """
    if spec.labels_file is None:
        raise ConfigError(f"task {spec.task!r} declares no labels_file")
    return layout_root(spec, data_dir) / spec.labels_file


def check_labels_file(spec: TaskSpec, data_dir: Path) -> None:
    """Fail early when the task's ``labels_file`` is missing (nothing to check without one).

    Raises:
        MissingDataError: names the missing path and the expected layout.
    """
    if spec.labels_file is not None and not labels_path(spec, data_dir).is_file():
        raise _missing_data_error(
            spec,
            "label inventory (labels_file)",
            [labels_path(spec, data_dir)],
            [spec.labels_file],
            ", next to the task's data files",
        )


def resolve_labels(spec: TaskSpec, data_dir: Path | None) -> TaskSpec:
    """The spec with its label list read from ``labels_file``; unchanged when it lists ``labels``.

    The inventory is a file of the data set (jiant's ``tags_to_id.json`` for CCG), so the label
    ids of training, English-dev and every later evaluation are the same, whatever tags a subsample
    happens to contain. The resolved spec has ``labels`` set and ``labels_file`` cleared; the head
    saved with a model carries the same list as ``id2label``.

    Raises:
        ConfigError: the labels must come from a file but ``data_dir`` is ``None`` (Hub).
        MissingDataError: the file is missing. DataFormatError: it is not a ``{label: id}`` object
            with the ids 0..n-1.
    """
    if spec.labels_file is None:
        return spec
    if data_dir is None:
        raise ConfigError(
            f"task {spec.task!r} reads its labels from {spec.labels_file} in a local data directory; "
            "pass --data-dir (or SWEEPER_DATA_DIR)"
        )
    from sweeper.data.formats.tagging import read_label_ids_json

    check_labels_file(spec, data_dir)
    labels = read_label_ids_json(labels_path(spec, data_dir))
    return spec.model_copy(update={"labels": labels, "labels_file": None})
