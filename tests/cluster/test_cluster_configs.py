"""The cluster configs are what `ray up` accepts, pin the project's Ray, keep trials off the head and
prefer spot workers; the two launch paths upload or copy only what they should (docs/cluster.md)."""

import ast
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray._private.runtime_env.packaging import _zip_files
from ray.autoscaler._private.node_provider_availability_tracker import NodeAvailabilitySummary
from ray.autoscaler._private.resource_demand_scheduler import _default_utilization_scorer, get_nodes_for
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
CONFIGS = sorted(CLUSTER.glob("*.yaml"))
CLOUD_CONFIGS = [path for path in CONFIGS if yaml.safe_load(path.read_text())["provider"]["type"] in ("aws", "gcp")]
SCHEMA = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
ENTRY_SCRIPT = CLUSTER / "sweeper_submit.py"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_there_are_aws_gcp_and_on_premises_configs():
    assert sorted(load(path)["provider"]["type"] for path in CONFIGS) == ["aws", "gcp", "local"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_cluster_config_is_what_ray_up_accepts(path):
    """Ray's schema on the file, then Ray's own preparation (defaults merged, as `ray up` does)
    and validation: the on-premises provider, e.g., rejects available_node_types."""
    config = load(path)
    jsonschema.validate(config, SCHEMA)
    validate_config(prepare_config(config))
    assert config["setup_commands"], "setup commands install the project"
    assert any("pip install -e" in command for command in config["setup_commands"])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_ray_is_the_version_pinned_in_pyproject(path):
    pin = re.search(r'"ray\[[a-z,]+\]==([0-9.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert pin == ray.__version__, "the tests run the pinned Ray"
    config = load(path)
    if "docker" in config:
        assert config["docker"]["image"].startswith(f"rayproject/ray:{pin}-py311-")
    else:  # the project's own pin installs Ray
        assert any("pip install -e" in command for command in config["setup_commands"])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_no_trial_lands_on_the_head_and_the_dashboard_stays_on_localhost(path):
    config = load(path)
    if config["provider"]["type"] == "local":  # Ray detects the local provider's resources itself
        assert "--num-cpus=0 --num-gpus=0" in " ".join(config["head_start_ray_commands"])
    else:
        assert config["available_node_types"][config["head_node_type"]]["resources"] == {"CPU": 0}
    commands = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host" not in commands, "8265 stays on 127.0.0.1: reached through `ray dashboard`"
    text = path.read_text(encoding="utf-8")
    if "--host 0.0.0.0" in commands:  # MLflow for the workers: unauthenticated, said so with the safer way
        assert "NO authentication" in text and "basic-auth" in text and "ray attach" in text


@pytest.mark.parametrize("path", CLOUD_CONFIGS, ids=lambda p: p.name)
def test_gpu_workers_are_spot_first_with_an_on_demand_fallback(path):
    """Ray's own autoscaler choice for a demand of 10 one-GPU trials: spot workers up to their
    max_workers, then on-demand ones; the head stays one on-demand node with a disk of its own."""
    prepared = prepare_config(load(path))
    types = prepared["available_node_types"]
    spot, on_demand = types["gpu_spot"], types["gpu_on_demand"]
    spot_config, on_demand_config = spot["node_config"], on_demand["node_config"]
    if prepared["provider"]["type"] == "aws":
        assert spot_config["InstanceMarketOptions"] == {"MarketType": "spot"} and "InstanceMarketOptions" not in on_demand_config
        disks = [
            mapping["Ebs"]["VolumeSize"] for node in types.values() for mapping in node["node_config"]["BlockDeviceMappings"]
        ]
    else:
        assert (
            spot_config["scheduling"]["provisioningModel"] == "SPOT" and "provisioningModel" not in on_demand_config["scheduling"]
        )
        disks = [disk["initializeParams"]["diskSizeGb"] for node in types.values() for disk in node["node_config"]["disks"]]
    assert len(disks) == 3 and min(disks) >= 100
    scorer = functools.partial(_default_utilization_scorer, node_availability_summary=NodeAvailabilitySummary({}))
    demand = [{"CPU": 1, "GPU": 1}] * 10
    added, unmet = get_nodes_for(types, {}, prepared["head_node_type"], 100, demand, scorer)
    assert dict(added) == {"gpu_spot": spot["max_workers"], "gpu_on_demand": 10 - spot["max_workers"]} and not unmet
    added, _ = get_nodes_for(types, {"gpu_spot": spot["max_workers"] - 1}, prepared["head_node_type"], 100, demand[:1], scorer)
    assert dict(added) == {"gpu_spot": 1}


def named_search_spaces() -> list[tuple[str, str]]:
    """(file, search space path) for every ``search_spaces/….yaml`` a config or doc names."""
    files = [*CONFIGS, ENTRY_SCRIPT, *sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
    return [
        (path.name, name)
        for path in files
        for name in re.findall(r"search_spaces/[\w.-]+\.yaml", path.read_text(encoding="utf-8"))
    ]


def test_every_search_space_named_in_configs_and_docs_exists():
    named = named_search_spaces()
    assert {name for _, name in named} >= {"search_spaces/quickstart.yaml", "search_spaces/paper.yaml"}
    missing = [(where, name) for where, name in named if not (REPO / name).is_file()]
    assert not missing


def test_rayignore_keeps_data_outputs_checkpoints_environments_and_secrets_out_of_the_upload(tmp_path):
    """A working directory with everything `ray job submit --working-dir .` must not upload, packed
    by Ray's own packaging code with `.rayignore` alone (`.gitignore` ignored)."""
    work = tmp_path / "work"
    keep = [
        "sweeper/cli.py",
        "sweeper/data/formats/qa.py",
        "sweeper/training/checkpoints.py",
        "tasks/panx.yaml",
        "search_spaces/paper.yaml",
        "cluster/sweeper_submit.py",
        "pyproject.toml",
        "README.md",
    ]
    drop = [
        ".git/HEAD",
        ".venv/bin/python",
        "venv/lib/x.py",
        "sweeper/__pycache__/cli.cpython-311.pyc",
        "data/xtreme/panx/train-en.tsv",
        "runs/smoke/trials/target/x/trainer/checkpoint-6/model.safetensors",
        "outputs/ray/train/checkpoint_000001/model.pt",
        "stage_cache/stages/anli-1/model.safetensors",
        "mlruns/0/meta.yaml",
        "mlflow.db",
        "runs/smoke/mlflow.db",
        "mlartifacts/1/model.bin",
        ".env",
        ".env.production",
        "deploy/key.pem",
        "credentials",
        ".aws/credentials",
        "id_ed25519",
        "tests/data/xtreme/x.tsv",
    ]
    for name in keep + drop:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text("x", encoding="utf-8")
    shutil.copy(REPO / ".rayignore", work / ".rayignore")
    archive = tmp_path / "upload.zip"
    _zip_files(str(work), [], str(archive), include_gitignore=False)
    uploaded = set(zipfile.ZipFile(archive).namelist())
    assert uploaded == {*keep, ".rayignore"}


def test_the_repository_upload_is_the_code_and_nothing_else(tmp_path):
    """This checkout as `ray job submit --working-dir .` packs it (Ray's default excludes,
    `.gitignore` and `.rayignore`): the package, tasks and search spaces, no tests, no secrets."""
    from ray._private.ray_constants import get_runtime_env_default_excludes

    archive = tmp_path / "upload.zip"
    _zip_files(str(REPO), get_runtime_env_default_excludes(), str(archive), include_gitignore=True)
    uploaded = zipfile.ZipFile(archive).namelist()
    assert {"pyproject.toml", "sweeper/__init__.py", "tasks/panx.yaml", "search_spaces/paper.yaml"} <= set(uploaded)
    forbidden = re.compile(r"(^|/)(\.git|\.venv|tests|runs|mlruns|__pycache__)(/|$)|\.db$|\.pem$|(^|/)\.env")
    assert not [name for name in uploaded if forbidden.search(name)]
    assert sum(info.file_size for info in zipfile.ZipFile(archive).infolist()) < 5 * 2**20, "far below Ray's 512 MiB limit"


def test_the_entry_script_imports_only_the_standard_library():
    tree = ast.parse(ENTRY_SCRIPT.read_text(encoding="utf-8"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules <= sys.stdlib_module_names | {"__future__"}


def _submit(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python sweeper_submit.py ARGS`` as `ray submit` runs it: the script copied alone to a
    folder of its own (the head node's home), run from there."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    script = Path(shutil.copy(ENTRY_SCRIPT, home))
    environment = {**os.environ, "RAY_ADDRESS": "", **env}
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=home, env=environment, capture_output=True, text=True, timeout=600, check=False
    )


def test_the_entry_script_copied_alone_runs_the_installed_sweeper_from_the_checkout(tmp_path):
    listed = _submit(tmp_path, "tasks", SWEEPER_PROJECT_DIR=str(REPO))
    assert listed.returncode == 0, listed.stderr
    assert "panx" in listed.stdout and "tatoeba" in listed.stdout
    # a relative search space resolves in the project checkout, not in the script's folder
    planned = _submit(tmp_path, "plan", "search_spaces/smoke.yaml", SWEEPER_PROJECT_DIR=str(REPO))
    assert planned.returncode == 0, planned.stderr
    assert "target trials" in planned.stdout.lower()
    elsewhere = _submit(tmp_path, "plan", "search_spaces/smoke.yaml", SWEEPER_PROJECT_DIR=str(tmp_path / "missing"))
    assert elsewhere.returncode == 2 and "does not exist" in elsewhere.stderr


def test_the_entry_script_says_what_to_install_when_sweeper_is_missing(tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    python = bare / "python"
    python.symlink_to(sys.executable)
    home = tmp_path / "home"
    home.mkdir()
    script = Path(shutil.copy(ENTRY_SCRIPT, home))
    result = subprocess.run(
        [str(python), str(script), "tasks"],
        cwd=home,
        env={"PATH": str(bare)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "pip install -e ~/sweeper" in result.stderr
