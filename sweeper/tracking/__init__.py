"""The MLflow wing. MLflow's telemetry is off unless the user turns it on (``MLFLOW_DISABLE_TELEMETRY=false``):
set here, before any module of this package imports MLflow (trial actors and Train workers import it too)."""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
