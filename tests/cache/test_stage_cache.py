"""The shared stage cache: keys that follow model, data, task and settings (intermediate, target,
zero-shot and retrieval stages); one training per stage across processes; a crashed holder blocks
nothing; a half-written stage is never finished; published target stages and evaluations read
back as they were written."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import pytest

from sweeper.cache.fingerprints import FINGERPRINTS_FILE, file_digests
from sweeper.cache.locks import lock_path, train_once
from sweeper.cache.markers import ENCODER_MARKER, STAGE_MARKER, encoder_is_complete
from sweeper.cache.outputs import (
    ZeroShotResult,
    publish_evaluation,
    publish_target_stage,
    read_evaluation,
    read_target_history,
)
from sweeper.cache.store import CachedStage, cached_intermediate_stages, stage_cache_root, sweep_stage_cache
from sweeper.config import SweepConfig
from sweeper.models.cache import build_once
from sweeper.sweep.grid import target_settings
from sweeper.sweep.tasks import resolve_task

ANLI = {
    "anli": {
        "splits": {
            "train": {"format": "anli_jsonl", "files": ["anli/R1/dev.jsonl"]},
            "dev": {"format": "anli_jsonl", "files": ["anli/R3/dev.jsonl"]},
        }
    }
}
CONTEXT = multiprocessing.get_context("spawn")  # like separate trials: no state shared with the parent


def _config(cache: Path, **changes) -> SweepConfig:
    raw = {
        "name": "cache",
        "model": "tiny-xlmr",
        "intermediate_tasks": ["none", "anli"],
        "target_tasks": ["panx"],
        "param_space": {"learning_rate": [1.0e-5]},
        "task_overrides": ANLI,
        "storage": {"stage_cache_dir": str(cache)},
    }
    return SweepConfig.model_validate({**raw, **changes})


@pytest.fixture
def data(tmp_path, data_dir) -> Path:
    """A copy of the ANLI rounds the intermediate stage reads (english/ layout) and of the PAN-X
    files a ``panx`` target in de, fi reads (xtreme/ layout), with an unlabelled leaderboard file
    (XTREME's test: tokens only) in de, none in fi."""
    root = tmp_path / "data"
    for round_ in ("R1", "R3"):
        (root / "english" / "anli" / round_).mkdir(parents=True)
        shutil.copy(data_dir / "english" / "anli" / round_ / "dev.jsonl", root / "english" / "anli" / round_ / "dev.jsonl")
    (root / "xtreme" / "panx").mkdir(parents=True)
    for name in ("train-en", "dev-en", "dev-de", "dev-fi"):
        shutil.copy(data_dir / "xtreme" / "panx" / f"{name}.tsv", root / "xtreme" / "panx" / f"{name}.tsv")
    (root / "xtreme" / "panx" / "test-de.tsv").write_text("Berlin\nist\ngroß\n\n", encoding="utf-8")
    return root


@pytest.fixture
def model(tmp_path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "xlm-roberta"}', encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def _key(config: SweepConfig, model: Path | str, data: Path | None) -> str:
    (stage,) = cached_intermediate_stages(config, str(model), data)
    return stage.path.name


def test_the_key_follows_model_data_task_and_settings(tmp_path, data, model):
    cache = tmp_path / "cache"
    config = _config(cache)
    base = _key(config, model, data)
    assert base.startswith("anli-") and _key(config, model, data) == base, "same inputs, same stage"

    elsewhere = tmp_path / "copy"
    shutil.copytree(data, elsewhere)
    assert _key(config, model, elsewhere) == base, "the same files in another folder are the same data version"
    with (elsewhere / "english" / "anli" / "R1" / "dev.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"uid": "x", "context": "a", "hypothesis": "b", "label": "e"}\n')
    assert _key(config, model, elsewhere) != base, "other training data, another stage"

    (model / "model.safetensors").write_bytes(b"other weights")
    assert _key(config, model, data) != base, "other model weights under the same folder"
    (model / "model.safetensors").write_bytes(b"weights")
    assert _key(config, model, data) == base
    assert _key(config, "xlm-roberta-large", data) != base
    assert _key(config, model, None) != base, "the Hub dataset is another data version"
    assert _key(_config(cache, intermediate={"seed": 2}), model, data) != base
    assert _key(_config(cache, intermediate={"learning_rate": 2.0e-5}), model, data) != base
    newer = {"anli": {**ANLI["anli"], "version": 2}}
    assert _key(_config(cache, task_overrides=newer), model, data) != base, "a new task version"
    assert _key(_config(cache, target={"learning_rate": 3.0e-5}), model, data) == base, "target settings do not matter"
    assert _key(_config(cache, resources={"num_workers": 2}), model, data) != base, "another world size, another batch"


def _target_stages(
    config: SweepConfig,
    model: Path,
    data: Path,
    intermediate: str = "anli",
    learning_rate: float = 1.0e-5,
    languages: tuple[str, ...] = ("de", "fi"),
) -> tuple[str, str]:
    """The keys of a panx target stage and of its zero-shot evaluation."""
    cache = sweep_stage_cache(config, str(model), data)
    stage = None if intermediate == "none" else cached_intermediate_stages(config, str(model), data)[0]
    task = resolve_task(config, "panx")
    settings = target_settings(
        config, {"intermediate_task": intermediate, "target_task": "panx", "learning_rate": learning_rate, "seed": 1}
    )
    target = cache.target_stage(stage, intermediate, task, settings)
    assert target.path.parent == stage_cache_root(config) / "target" and target.path.name.startswith(f"{intermediate}__panx-")
    return target.key, cache.zero_shot(target, task, list(languages), config.zero_shot.max_examples_per_language, []).key


def test_target_and_zero_shot_keys_follow_their_start_settings_and_data(tmp_path, data, model):
    config = _config(tmp_path / "cache", zero_shot={"languages": ["de", "fi"]})
    target, zero_shot = _target_stages(config, model, data)
    assert _target_stages(config, model, data) == (target, zero_shot), "same inputs, same stages"
    assert _target_stages(config, model, data, intermediate="none")[0] != target, "from the pretrained model"
    assert (
        _target_stages(_config(tmp_path / "cache", zero_shot={"languages": ["de", "fi"]}, intermediate={"seed": 2}), model, data)[
            0
        ]
        != target
    ), "another intermediate encoder to start from"
    other_rate = _target_stages(config, model, data, learning_rate=3.0e-5)
    assert other_rate[0] != target and other_rate[1] != zero_shot, "another trial: another target, so another evaluation"
    assert _target_stages(config, model, data, languages=("de",)) == (
        target,
        _target_stages(config, model, data, languages=("de",))[1],
    )
    assert _target_stages(config, model, data, languages=("de",))[1] != zero_shot, "other languages: evaluated again, not trained"
    budget = _config(tmp_path / "cache", zero_shot={"languages": ["de", "fi"], "max_examples_per_language": 8})
    assert _target_stages(budget, model, data)[0] == target, "the evaluation budget does not change the training"

    with (data / "xtreme" / "panx" / "test-de.tsv").open("a", encoding="utf-8") as handle:
        handle.write("Berlin\n\n")  # the unlabelled leaderboard split is predicted in the evaluation
    changed = _target_stages(config, model, data)
    assert changed[0] == target and changed[1] != zero_shot
    (data / "xtreme" / "panx" / "test-fi.tsv").write_text("Helsinki\n\n", encoding="utf-8")
    assert _target_stages(config, model, data)[1] != changed[1], "a leaderboard file that appears is predicted"
    with (data / "xtreme" / "panx" / "train-en.tsv").open("a", encoding="utf-8") as handle:
        handle.write("Paris\tB-LOC\n\n")
    assert _target_stages(config, model, data)[0] != target, "other English training data, another target stage"


def test_retrieval_keys_follow_the_encoder_and_the_encoding_settings(tmp_path, data_dir, model):
    def key(config: SweepConfig, intermediate: str = "none") -> str:
        cache = sweep_stage_cache(config, str(model), data_dir)
        task = resolve_task(config, "tatoeba")
        stage = None if intermediate == "none" else cached_intermediate_stages(config, str(model), data_dir)[0]
        entry = cache.retrieval(stage, intermediate, task, config.stage_training("target", "tatoeba"), ["de"], None)
        assert entry.path.name.startswith(f"{intermediate}__tatoeba-")
        return entry.key

    config = _config(tmp_path / "cache", target_tasks=["tatoeba"])
    base = key(config)
    assert key(config, "anli") != base
    assert key(_config(tmp_path / "cache", target_tasks=["tatoeba"], target={"learning_rate": 3.0e-5})) == base, (
        "no training: the learning rate does not matter"
    )
    assert key(_config(tmp_path / "cache", target_tasks=["tatoeba"], target={"max_seq_length": 32})) != base


def test_published_target_stage_and_evaluation_read_back(tmp_path):
    stage_dir = tmp_path / "target" / "none__panx-abc"
    history = [(2, {"score": 10.0, "f1": 10.0}), (4, {"score": 30.0, "f1": 30.0}), (6, {"score": 20.0, "f1": 20.0})]
    record = {"key": "abc", "sweep": "s"}

    def save(folder: Path) -> None:
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"weights")

    best = publish_target_stage(stage_dir, save, history, 30.0, 4, record)
    assert best == stage_dir / "best_model" and (best / "model.safetensors").read_bytes() == b"weights"
    assert read_target_history(stage_dir) == (history, 30.0)
    marker = json.loads((stage_dir / STAGE_MARKER).read_text(encoding="utf-8"))
    assert marker["best_step"] == 4 and marker["sweep"] == "s"
    with pytest.raises(ValueError, match="no English-dev evaluation"):
        publish_target_stage(tmp_path / "target" / "empty", save, [], 0.0, 0, record)

    predictions = tmp_path / "trial" / "predictions" / "panx"
    predictions.mkdir(parents=True)
    (predictions / "dev-de.tsv").write_text("B-LOC\n", encoding="utf-8")
    result = ZeroShotResult({"de": {"f1": 41.5}}, predictions, {"de": {"f1": 41.5}})
    published = publish_evaluation(tmp_path / "zero_shot" / "panx-def", result, "panx", record)
    assert published.predictions_dir == tmp_path / "zero_shot" / "panx-def" / "predictions" / "panx"
    assert (published.predictions_dir / "dev-de.tsv").read_text(encoding="utf-8") == "B-LOC\n"
    assert (published.per_language, published.dev_per_language, published.thresholds) == (
        {"de": {"f1": 41.5}},
        {"de": {"f1": 41.5}},
        {},
    )
    assert read_evaluation(tmp_path / "zero_shot" / "panx-def", "panx") == published


def test_file_digests_are_remembered_by_size_and_mtime(tmp_path):
    file = tmp_path / "train.jsonl"
    file.write_bytes(b"aaaa")
    store = tmp_path / FINGERPRINTS_FILE
    first = file_digests([file], store)[file]
    stat = file.stat()
    file.write_bytes(b"bbbb")  # same size; put the old mtime back: the remembered digest is used
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digests([file], store)[file] == first
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert file_digests([file], store)[file] != first, "a changed mtime is read again"
    assert len(json.loads(store.read_text(encoding="utf-8"))) == 2


def test_default_stage_cache_is_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SWEEPER_CACHE_DIR", str(tmp_path / "user-cache"))
    config = SweepConfig.model_validate(
        {
            "name": "c",
            "model": "tiny-xlmr",
            "intermediate_tasks": ["none"],
            "target_tasks": ["panx"],
            "param_space": {"learning_rate": [1.0e-5]},
        }
    )
    assert stage_cache_root(config) == tmp_path / "user-cache" / "stages"


def _publish(stage_dir: Path, log: Path, name: str, seconds: float) -> None:
    """A stand-in for a stage's training: slow, writes the marker last, publishes by rename."""

    def write(folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"weights")
        time.sleep(seconds)
        (folder / ENCODER_MARKER).write_text(json.dumps({"trained_by": name}), encoding="utf-8")

    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"{name}\n")
    build_once(stage_dir, write)


def _stage(stage_dir: str | Path) -> CachedStage:
    return CachedStage(key="abc", inputs={}, path=Path(stage_dir))


def _trial(stage_dir: str, log: str, name: str, seconds: float, results) -> None:
    results.put((name, train_once(_stage(stage_dir), lambda: _publish(Path(stage_dir), Path(log), name, seconds)), time.time()))


def test_two_processes_train_a_stage_once(tmp_path):
    stage_dir, log = tmp_path / "intermediate" / "anli-abc", tmp_path / "trainings.log"
    results = CONTEXT.Queue()
    first = CONTEXT.Process(target=_trial, args=(str(stage_dir), str(log), "first", 3.0, results))
    first.start()
    deadline = time.time() + 60
    while not log.exists():  # the first process holds the lock and is training
        assert time.time() < deadline, "the first trial never started training"
        time.sleep(0.05)
    second = CONTEXT.Process(target=_trial, args=(str(stage_dir), str(log), "second", 0.0, results))
    second.start()
    outcomes = {name: (trained, at) for name, trained, at in (results.get(timeout=120) for _ in range(2))}
    first.join(30)
    second.join(30)
    assert outcomes["first"][0] is True and outcomes["second"][0] is False, "the second waited, then reused"
    assert outcomes["second"][1] >= outcomes["first"][1] - 0.5, "the second returned only once the stage was there"
    assert log.read_text(encoding="utf-8").split() == ["first"], "trained exactly once"
    assert json.loads((stage_dir / ENCODER_MARKER).read_text(encoding="utf-8")) == {"trained_by": "first"}


def _crash_while_training(stage_dir: str) -> None:
    def write(folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"half")
        os._exit(9)  # dies holding the lock, its partial folder left behind, no marker

    train_once(_stage(stage_dir), lambda: build_once(Path(stage_dir), write))


def test_a_crashed_holder_blocks_nothing_and_its_half_written_stage_is_not_taken(tmp_path):
    stage_dir, log = tmp_path / "intermediate" / "anli-abc", tmp_path / "trainings.log"
    crashed = CONTEXT.Process(target=_crash_while_training, args=(str(stage_dir),))
    crashed.start()
    crashed.join(60)
    assert crashed.exitcode == 9
    assert lock_path(stage_dir).exists(), "the lock file stays; the OS lock died with its holder"
    assert list(stage_dir.parent.glob(".anli-abc.partial-*")), "the half-written folder is left behind"
    assert not encoder_is_complete(stage_dir)

    results = CONTEXT.Queue()
    retry = CONTEXT.Process(target=_trial, args=(str(stage_dir), str(log), "retry", 0.0, results))
    retry.start()
    retry.join(60)
    assert retry.exitcode == 0, "the next trial was not blocked"
    assert results.get(timeout=5)[:2] == ("retry", True), "and trained the stage itself"
    assert encoder_is_complete(stage_dir)
    assert not list(stage_dir.parent.glob(".anli-abc.partial-*")), "the stale partial folder was removed"


def test_training_that_publishes_nothing_is_an_error(tmp_path):
    stage_dir = tmp_path / "intermediate" / "anli-abc"
    stage_dir.mkdir(parents=True)  # a folder without its marker is not a finished stage
    with pytest.raises(RuntimeError, match="without publishing"):
        train_once(_stage(stage_dir), lambda: None)
