"""The tokenized-feature cache: a training set or evaluation split is tokenized once per stage,
keyed like the stages, safe under concurrent trials and crashes; cached features train and
evaluate exactly as fresh ones."""

import multiprocessing
import shutil
import time
from pathlib import Path

import pytest

from sweeper.cache.features import FEATURES, FEATURES_MARKER, FeatureCache
from sweeper.cache.fingerprints import FINGERPRINTS_FILE, model_identity
from sweeper.config import TrainingConfig, ZeroShotConfig
from sweeper.data.sources import load_split
from sweeper.registry import get_task
from sweeper.task_types import get_task_type
from sweeper.training.inputs import StageInputs, training_features
from sweeper.training.stages import run_target_stage

SETTINGS = TrainingConfig(
    learning_rate=1e-3,
    per_device_train_batch_size=8,
    max_seq_length=64,
    max_steps=4,
    eval_steps=2,
    max_train_examples=40,
    max_dev_examples=16,
    warmup_ratio=0.0,
)


@pytest.fixture
def panx_data(data_dir, tmp_path) -> Path:
    """A private copy of PAN-X's English train and dev files (tests edit them)."""
    root = tmp_path / "data"
    (root / "xtreme" / "panx").mkdir(parents=True)
    for name in ("train-en.tsv", "dev-en.tsv"):
        shutil.copy(data_dir / "xtreme" / "panx" / name, root / "xtreme" / "panx" / name)
    return root


def _cache(root: Path, tiny_dir: Path) -> FeatureCache:
    return FeatureCache(root, model_identity(str(tiny_dir), root / FINGERPRINTS_FILE))


def _featurize(tiny_dir: Path, data: Path, settings: TrainingConfig, calls: list[int]):
    from transformers import AutoTokenizer

    task = get_task("panx")
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)

    def build() -> list[dict]:
        calls.append(1)
        examples = load_split(task, "train", data, "en", settings.max_train_examples)
        return get_task_type(task.task_type).train_features(examples, tokenizer, task, settings)

    return task, build


def test_a_cached_set_reads_back_the_rows_built_and_is_built_once(tiny_dir, panx_data, tmp_path):
    cache, calls = _cache(tmp_path / "cache", tiny_dir), []
    task, build = _featurize(tiny_dir, panx_data, SETTINGS, calls)
    built = build()
    first = cache.training_features(task, SETTINGS, panx_data, build)
    again = cache.training_features(task, SETTINGS, panx_data, build)
    assert len(calls) == 2, "built once by the cache (the first call above is the reference)"
    assert len(first) == len(again) == len(built) == 40
    assert [first[index] for index in range(len(first))] == built
    assert again[7] == built[7]
    (folder,) = [path for path in (tmp_path / "cache" / FEATURES).glob("panx-train-en-*") if path.is_dir()]
    assert (folder / FEATURES_MARKER).is_file()


def test_the_key_follows_tokenization_inputs_only(tiny_dir, panx_data, tmp_path):
    cache = _cache(tmp_path / "cache", tiny_dir)
    task = get_task("panx")

    def key(settings=SETTINGS, limit=40, task=task, language="en", purpose="train"):
        return cache.folder(purpose, task, "train", language, limit, settings, panx_data)[0].name

    base = key()
    trial_settings = SETTINGS.model_copy(update={"learning_rate": 3e-5, "seed": 7, "per_device_train_batch_size": 32})
    assert key(trial_settings) == base, "a trial's learning rate, seed and batch do not change its features"
    assert key(SETTINGS.model_copy(update={"max_seq_length": 128})) != base
    assert key(SETTINGS.model_copy(update={"doc_stride": 64})) != base
    assert key(limit=None) != base
    assert key(purpose="predict") != base, "prediction windows are other features than training ones"
    relabelled = task.model_copy(update={"labels": list(reversed(task.labels))})
    assert key(task=relabelled) != base, "labels become label ids"
    train = panx_data / "xtreme" / "panx" / "train-en.tsv"
    train.write_text(train.read_text(encoding="utf-8").replace("B-PER", "B-ORG", 1), encoding="utf-8")
    assert key() != base, "an edited data file is a new data version"
    other_model = FeatureCache(cache.root, {"hub": "xlm-roberta-large"})
    assert other_model.folder("train", task, "train", "en", 40, SETTINGS, panx_data)[0].name != key()


def test_a_failed_build_stores_nothing_and_the_next_call_builds(tiny_dir, panx_data, tmp_path):
    cache, calls = _cache(tmp_path / "cache", tiny_dir), []
    task, build = _featurize(tiny_dir, panx_data, SETTINGS, calls)

    def crash() -> list[dict]:
        build()
        raise RuntimeError("killed while tokenizing")

    with pytest.raises(RuntimeError, match="killed while tokenizing"):
        cache.training_features(task, SETTINGS, panx_data, crash)
    assert [path.name for path in (tmp_path / "cache" / FEATURES).iterdir() if not path.name.endswith(".lock")] == []
    assert len(cache.training_features(task, SETTINGS, panx_data, build)) == 40
    assert len(calls) == 2


def _ask(cache_root: str, tiny_dir: str, data: str, log: str) -> int:
    """One trial's process asking for the set; its build records itself in ``log`` and is slow."""
    calls: list[int] = []
    task, build = _featurize(Path(tiny_dir), Path(data), SETTINGS, calls)

    def slow_build() -> list[dict]:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write("built\n")
        time.sleep(1.0)
        return build()

    cache = _cache(Path(cache_root), Path(tiny_dir))
    return len(cache.training_features(task, SETTINGS, Path(data), slow_build))


def test_concurrent_trials_tokenize_a_set_once(tiny_dir, panx_data, tmp_path):
    log = tmp_path / "builds.log"
    arguments = (str(tmp_path / "cache"), str(tiny_dir), str(panx_data), str(log))
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        sizes = pool.starmap(_ask, [arguments] * 3)
    assert sizes == [40, 40, 40]
    assert log.read_text(encoding="utf-8") == "built\n", "one process built, the others waited and read it"


def test_a_target_stage_trains_the_same_on_cached_features(tiny_dir, panx_data, tmp_path):
    """Cold cache, warm cache and no cache: the same evaluations, to the last digit."""
    task = get_task("panx")
    cache = _cache(tmp_path / "cache", tiny_dir)
    histories = []
    for name, feature_cache in (("none", None), ("cold", cache), ("warm", cache)):
        inputs = StageInputs(str(tiny_dir), None, task, SETTINGS, panx_data, tmp_path / name, feature_cache=feature_cache)
        result, _, _ = run_target_stage(inputs, _no_zero_shot(), lambda *args: None)
        histories.append(result.history)
    assert histories[0] == histories[1] == histories[2]
    assert len(histories[0]) == 2
    task_type = get_task_type(task.task_type)
    from transformers import AutoTokenizer

    inputs = StageInputs(str(tiny_dir), None, task, SETTINGS, panx_data, tmp_path / "x", feature_cache=cache)
    assert len(training_features(inputs, task_type, AutoTokenizer.from_pretrained(tiny_dir))) == 40


def _no_zero_shot():
    return ZeroShotConfig(languages=["en"], max_examples_per_language=4)


@pytest.mark.parametrize(("task_id", "languages"), [("panx", ["de", "ar"]), ("tydiqa", ["sw", "fi"])])
def test_zero_shot_evaluation_on_cached_features_scores_and_predicts_the_same(tiny_dir, data_dir, tmp_path, task_id, languages):
    """Tagging windows with word ids, QA windows with offsets (``None`` outside the context): read
    back from Arrow, they give the same scores and prediction files as features built in place."""
    from transformers import AutoTokenizer

    from sweeper.training.zero_shot import evaluate_zero_shot

    task = get_task(task_id)
    settings = SETTINGS.model_copy(update={"max_seq_length": 96, "doc_stride": 32, "max_query_length": 32})
    model_type = get_task_type(task.task_type)
    model = model_type.auto_model_class().from_pretrained(tiny_dir, **model_type.model_kwargs(task))
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    zero_shot = ZeroShotConfig(languages=languages, max_examples_per_language=12)
    cache = _cache(tmp_path / "cache", tiny_dir)
    results, files = [], []
    for name, feature_cache in (("none", None), ("cold", cache), ("warm", cache)):
        inputs = StageInputs(str(tiny_dir), None, task, settings, data_dir, tmp_path / name, feature_cache=feature_cache)
        result = evaluate_zero_shot(model, tokenizer, inputs, zero_shot)
        results.append(result.per_language)
        files.append({path.name: path.read_text(encoding="utf-8") for path in sorted(result.predictions_dir.iterdir())})
    assert results[0] == results[1] == results[2]
    assert files[0] == files[1] == files[2] and len(files[0]) == 2
    cached = sorted(path.name.rsplit("-", 1)[0] for path in (tmp_path / "cache" / FEATURES).iterdir() if path.is_dir())
    split = task.zero_shot.split
    assert cached == sorted(f"{task_id}-{split}-{language}-predict" for language in languages)
