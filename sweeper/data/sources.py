"""Where a task's examples come from: a local data directory, or the Hugging Face Hub.

Local layout: ``<data_dir>/<layout>/<file>`` where ``layout`` is the task's (``xtreme`` for the
google-research/xtreme ``download/`` layout, ``english`` for release layouts), or
``<data_dir>/<file>`` when ``data_dir`` *is* that layout root (e.g. a user's own ``download/``).
"""

from __future__ import annotations

from pathlib import Path

from sweeper.errors import ConfigError, MissingDataError
from sweeper.registry import SplitSource, TaskSpec


def layout_root(spec: TaskSpec, data_dir: Path) -> Path:
    """The folder the task's file paths are relative to (see module docstring)."""
    nested = data_dir / spec.layout
    return nested if nested.is_dir() else data_dir


def split_source(spec: TaskSpec, split: str) -> SplitSource:
    """The declared source of ``split``.

    Raises:
        ConfigError: the task declares no such split.
    """
    if split not in spec.splits:
        raise ConfigError(f"task {spec.task!r} has no split {split!r}; it declares {sorted(spec.splits)}")
    return spec.splits[split]


def split_files(spec: TaskSpec, split: str, data_dir: Path, language: str | None = None) -> list[Path]:
    """The local files of ``split`` (``{lang}`` filled with ``language``)."""
    root = layout_root(spec, data_dir)
    source = split_source(spec, split)
    return [root / pattern.format(lang=language) for pattern in source.files]


def check_split_files(spec: TaskSpec, split: str, data_dir: Path, languages: list[str | None]) -> None:
    """Fail early, before any trial starts, when a file of ``split`` is missing.

    Raises:
        MissingDataError: lists every missing path and explains the expected layout.
    """
    missing = [
        path
        for language in languages
        for path in split_files(spec, split, data_dir, language)
        if not path.is_file()
    ]
    if missing:
        shown = "\n  ".join(str(path) for path in missing[:10])
        more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise MissingDataError(
            f"task {spec.task!r}, split {split!r}: {len(missing)} data file(s) missing:\n  {shown}{more}\n"
            f"Expected layout: <data-dir>/{spec.layout}/{split_source(spec, split).files[0]} "
            f"(or <data-dir>/{split_source(spec, split).files[0]} when --data-dir points at the "
            f"{spec.layout} folder itself). Point --data-dir / SWEEPER_DATA_DIR at a folder with that "
            "layout, or restrict zero_shot.languages to the languages you have."
        )


def load_split(
    spec: TaskSpec,
    split: str,
    data_dir: Path | None,
    language: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Load the examples of one split (one language for ``{lang}`` splits).

    Args:
        data_dir: local data root; ``None`` loads from the Hub source declared in the task file.
        limit: keep the first ``limit`` examples (deterministic subsample for CPU budgets).

    Returns:
        Examples in the schema of the task's type (see ``sweeper.data.formats``).

    Raises:
        MissingDataError: a local file is missing. ConfigError: no Hub source is declared.
        DataFormatError: a file is corrupt (with file and line).
    """
    from sweeper.data.formats import read_examples

    source = split_source(spec, split)
    if data_dir is None:
        from sweeper.data.hub import load_hub_split

        if source.hub is None:
            raise ConfigError(
                f"task {spec.task!r}, split {split!r} has no Hub source; pass --data-dir "
                "(or SWEEPER_DATA_DIR) pointing at a local copy"
            )
        examples = load_hub_split(source.hub, language)
    else:
        check_split_files(spec, split, data_dir, [language])
        examples = [
            example
            for path in split_files(spec, split, data_dir, language)
            for example in read_examples(source.format, path)
        ]
    return examples[:limit] if limit is not None else examples
