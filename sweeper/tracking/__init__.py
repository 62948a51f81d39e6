"""The MLflow wing. Set here, before any module of this package imports MLflow (trial actors and
Train workers import it too), unless the user set them:

- MLflow's telemetry is off (``MLFLOW_DISABLE_TELEMETRY=false`` turns it on);
- MLflow's client prints no "View run ... at: URL" lines: the URL is the tracking URI with any
  credentials it holds (``http://user:password@host``); sweeper prints the URI redacted instead
  (``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=false`` brings them back).
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
