"""Log each English-dev evaluation once Ray Train has committed its checkpoint, then hand it to Tune.

Ray Train's controller calls its report callbacks in order for each round of worker reports: its
checkpoint manager first (it commits the checkpoint: ``checkpoint_manager_snapshot.json`` in Ray
storage), then this callback. An evaluation is thus in MLflow only if a retry resumes after it:
a worker lost before the commit takes its uncommitted evaluations with it, and its retry logs
them once. (A controller lost between the commit and the log leaves that one evaluation to the
retry's worker: ``worker._log_resumed_evaluation``.) Tune receives the report after it is logged,
so ASHA never stops a trial on an evaluation MLflow does not have.
"""

from __future__ import annotations

from typing import Any

from ray.tune.integration.ray_train import TuneReportCallback

from sweeper.ray_adapter.tracking_service import ServiceRunLog
from sweeper.ray_adapter.worker import EVALUATION_LOG, LoggedEvaluation


class LogCommittedEvaluations(TuneReportCallback):
    """Ray Train callback of a trial's Train run: logs the :class:`LoggedEvaluation` of rank 0's
    report to the MLflow run ``run_id`` through the tracking service ``service``, at the report's
    ``step`` and the evaluation's time, then reports the rest to Tune (:class:`~ray.tune.integration.ray_train.TuneReportCallback`).

    Raises:
        RuntimeError: made outside a Tune trial (``TuneReportCallback``).
    """

    def __init__(self, service: str, tracking_uri: str, run_id: str):
        super().__init__()
        self._service, self._tracking_uri, self._run_id = service, tracking_uri, run_id
        self._run_log = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_run_log": None}  # the service handle is looked up where it runs

    def after_report(self, run_context, metrics: list[dict[str, Any]], checkpoint) -> None:
        first = dict(metrics[0])
        evaluation = LoggedEvaluation.in_report(first)
        if evaluation is not None:
            del first[EVALUATION_LOG]
            if self._run_log is None:
                self._run_log = ServiceRunLog(self._service, self._tracking_uri)
            self._run_log.log_metrics(self._run_id, evaluation.metrics, int(first["step"]), evaluation.timestamp_ms)
        super().after_report(run_context, [first, *metrics[1:]], checkpoint)
