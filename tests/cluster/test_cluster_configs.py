"""Every cluster config validates against the installed Ray's own autoscaler schema."""

import json
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
SCHEMA = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


@pytest.mark.parametrize("path", sorted(CLUSTER.glob("*.yaml")), ids=lambda p: p.name)
def test_cluster_config_matches_ray_schema(path):
    config = yaml.safe_load(path.read_text())
    jsonschema.validate(config, SCHEMA)
    assert "setup_commands" in config


def test_gpu_cluster_pins_the_ray_version_of_pyproject():
    pyproject = (CLUSTER.parent / "pyproject.toml").read_text()
    config = yaml.safe_load((CLUSTER / "aws-gpu.yaml").read_text())
    assert f"ray:{ray.__version__}-" in config["docker"]["image"]
    assert f'"ray[default,tune,train]=={ray.__version__}"' in pyproject
    assert config["available_node_types"]["head"]["resources"] == {"CPU": 0}, "no trial on the head node"
