"""MLflow adapter: one parent run per sweep, one nested run per stage trial.

All calls go through ``MlflowClient`` with explicit run ids, so the driver, Tune trial actors and
Train workers can log to the same run from different processes. Metric keys follow
``{stage}/{task}/{lang|avg}/{split}/{metric}`` on a 0–100 scale.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import time
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.tracking import MlflowClient

from sweeper.config import SweepConfig
from sweeper.errors import TrackingError
from sweeper.redaction import map_strings, redact
from sweeper.tracking.schema import CHECKPOINT_ARTIFACT, MODEL_ALIAS, PARENT_STAGE, Tag
from sweeper.tracking.sweep_record import SweepRecord

MLFLOW_PARAM_LIMIT = 100  # log_batch accepts at most 100 params per call


def default_tracking_uri(output_dir: Path) -> str:
    """``sqlite:///<output_dir>/mlflow.db`` (MLflow 3 refuses a plain ``./mlruns`` file store)."""
    return f"sqlite:///{(output_dir / 'mlflow.db').resolve()}"


def flatten(mapping: Mapping, prefix: str = "") -> dict[str, str]:
    """Nested mapping → ``{"a.b.c": "value"}`` with stable (sorted) dotted names."""
    flat: dict[str, str] = {}
    for key in sorted(mapping):
        value = mapping[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return flat


class Tracker:
    """Thin wrapper over ``MlflowClient`` for sweeper's run layout."""

    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)

    def experiment_id(self, name: str, artifact_root: Path | None) -> str:
        """The id of experiment ``name``, created (with ``artifact_root`` for local stores) if new."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        location = artifact_root.resolve().as_uri() if artifact_root is not None else None
        return self.client.create_experiment(name, artifact_location=location)

    def start_parent(self, experiment_id: str, config: SweepConfig, model_source: str, raw_config: str) -> str:
        """Create the sweep's parent run with the flattened config, environment and resolved config."""
        run = self.client.create_run(experiment_id, run_name=config.name, tags={"stage": PARENT_STAGE, "sweep": config.name})
        self.log_params(
            run.info.run_id, {**flatten(map_strings(config.model_dump(), redact)), "model_source": redact(model_source)}
        )
        self.set_tags(run.info.run_id, environment_tags())
        self.client.log_text(run.info.run_id, redact(raw_config), "config/resolved_config.json")
        return run.info.run_id

    def start_child(self, experiment_id: str, parent_run_id: str, run_name: str, tags: Mapping[str, str], params: Mapping) -> str:
        """Create a trial run nested under ``parent_run_id`` (``mlflow.parentRunId`` tag)."""
        run = self.client.create_run(
            experiment_id, run_name=run_name, tags={"mlflow.parentRunId": parent_run_id, **{k: str(v) for k, v in tags.items()}}
        )
        self.log_params(run.info.run_id, flatten(params))
        return run.info.run_id

    def find_child(self, experiment_id: str, parent_run_id: str, ray_trial_id: str):
        """The run nested under ``parent_run_id`` that Tune trial ``ray_trial_id`` made (tag
        ``ray_trial_id``), or ``None``: a restored or retried trial continues that run."""
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}' and tags.ray_trial_id = '{ray_trial_id}'",
        )
        return runs[0] if runs else None

    def reopen(self, run_id: str) -> None:
        """Mark a terminated run ``RUNNING`` again (a resumed sweep or retried trial continues it)."""
        self.client.update_run(run_id, status="RUNNING")

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        items = [Param(key, value[:6000]) for key, value in params.items()]
        for start in range(0, len(items), MLFLOW_PARAM_LIMIT):
            self.client.log_batch(run_id, params=items[start : start + MLFLOW_PARAM_LIMIT])

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Set run tags; credentials inside URI values are redacted (:func:`sweeper.redaction.redact`)."""
        self.client.log_batch(run_id, tags=[RunTag(key, redact(str(value))) for key, value in tags.items()])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0, timestamp_ms: int | None = None) -> None:
        timestamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        self.client.log_batch(run_id, metrics=[Metric(key, float(value), timestamp, step) for key, value in metrics.items()])

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        self.client.log_artifacts(run_id, str(local_dir), artifact_path)

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def log_artifact(self, run_id: str, local_file: Path, artifact_path: str) -> None:
        """Log one file under the run's ``artifact_path`` folder."""
        self.client.log_artifact(run_id, str(local_file), artifact_path)

    def run_status(self, run_id: str) -> str:
        """The run's MLflow status: ``RUNNING``, ``FINISHED``, ``FAILED`` or ``KILLED``."""
        return self.client.get_run(run_id).info.status

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.tags)

    def run_params(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.params)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.client.delete_tag(run_id, key)

    def logged_steps(self, run_id: str, key: str) -> set[int]:
        """The steps at which metric ``key`` was logged to the run (empty: never)."""
        return {metric.step for metric in self.client.get_metric_history(run_id, key)}

    def children(self, experiment_id: str, parent_run_id: str) -> list:
        """Every run nested under ``parent_run_id`` (MLflow ``Run`` objects)."""
        return self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{Tag.PARENT_RUN_ID}` = '{parent_run_id}'", max_results=50000
        )


def find_sweep(tracker: Tracker, name: str) -> SweepRecord:
    """The sweep called ``name`` tracked at ``tracker``: its parent run (tags ``sweep=<name>``,
    ``stage=sweep``) in any active experiment; the latest one (by start time) when the name was
    run several times.

    Raises:
        TrackingError: no such parent run (the message lists the sweeps that are there).
    """
    experiments, token = [], None
    while True:
        page = tracker.client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
        experiments += [experiment.experiment_id for experiment in page]
        token = page.token
        if not token:
            break
    runs = []
    if experiments and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):  # the pattern of sweep names (config.py)
        runs = tracker.client.search_runs(
            experiments,
            filter_string=f"tags.sweep = '{name}' and tags.stage = '{PARENT_STAGE}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    if not runs:
        parents = (
            tracker.client.search_runs(experiments, filter_string=f"tags.stage = '{PARENT_STAGE}'", max_results=1000)
            if experiments
            else []
        )
        known = sorted({run.data.tags.get("sweep", "") for run in parents} - {""})
        raise TrackingError(
            f"no sweep named {name!r} at {tracker.tracking_uri} (no run with tags sweep={name}, stage={PARENT_STAGE}). "
            + (f"Sweeps there: {', '.join(known)}." if known else "It holds no sweep; give the tracking URI the sweep ran with.")
        )
    run = runs[0]
    return SweepRecord(
        name=name, tracking_uri=tracker.tracking_uri, experiment_id=run.info.experiment_id, parent_run_id=run.info.run_id
    )


def registered_model_name(sweep_name: str, target_task: str) -> str:
    """The Model Registry name of a sweep's selected model for one target: ``<sweep>-<target>``."""
    return f"{sweep_name}-{target_task}"


def register_selection(
    tracker: Tracker, sweep_name: str, selected: Mapping[str, str], result_run_ids: Iterable[str]
) -> dict[str, str]:
    """Tag the selection on the runs and register each selected checkpoint in the Model Registry.

    Every run of ``result_run_ids`` gets tag ``selected`` = ``true`` if it is a value of
    ``selected``, else ``false``. For each target whose selected run is a target trial (tag
    ``stage=target``), its ``best_checkpoint`` artifact becomes a version of registered model
    ``<sweep>-<target>`` (source ``runs:/<run_id>/best_checkpoint``) and alias ``best`` points at
    it. A version is created only when no version of that model comes from the run yet, so
    re-running selection with the same outcome adds nothing; when the selection changes, the alias
    moves. Retrieval evaluations (``stage=retrieval``) train no model and are not registered.

    Args:
        selected: target → run id of its selected trial (targets without a selection are absent).
        result_run_ids: every target / retrieval run of the sweep.

    Returns:
        registered model name → the version alias ``best`` now points at.

    Raises:
        RuntimeError: a selected target trial has no ``best_checkpoint`` artifact (its run did not
            finish logging; the run id is named).
    """
    chosen = set(selected.values())
    for run_id in result_run_ids:
        tracker.set_tags(run_id, {Tag.SELECTED: "true" if run_id in chosen else "false"})
    client = tracker.client
    versions: dict[str, str] = {}
    for target, run_id in sorted(selected.items()):
        run = client.get_run(run_id)
        if run.data.tags.get("stage") != "target":
            continue
        if not client.list_artifacts(run_id, CHECKPOINT_ARTIFACT):
            raise RuntimeError(
                f"selected run {run_id} ({target}) has no `{CHECKPOINT_ARTIFACT}` artifact to register; "
                "the trial did not finish logging its checkpoint (see the run's logs in MLflow)"
            )
        name = registered_model_name(sweep_name, target)
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            client.create_registered_model(name, tags={"sweep": sweep_name, "target_task": target})
        existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        version = (
            existing[0]
            if existing
            else client.create_model_version(
                name,
                source=f"runs:/{run_id}/{CHECKPOINT_ARTIFACT}",
                run_id=run_id,
                tags={"intermediate_task": run.data.tags["intermediate_task"], "target_task": target},
            )
        )
        client.set_registered_model_alias(name, MODEL_ALIAS, str(version.version))
        versions[name] = str(version.version)
    return versions


def environment_tags() -> dict[str, str]:
    """Package versions, Python, platform, CUDA device and the project's git commit."""
    tags = {f"env.{name}": metadata.version(name) for name in ("torch", "transformers", "ray", "mlflow", "sweeper")}
    tags["env.python"] = platform.python_version()
    tags["env.platform"] = platform.platform()
    import torch  # only here: trial actors import this module and must not import torch

    tags["env.device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, check=False)
    tags["env.git_commit"] = commit.stdout.strip() if commit.returncode == 0 else "unknown (not a git checkout)"
    return tags
