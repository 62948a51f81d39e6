"""Pure metric code (no Ray, no MLflow): every score is on a 0–100 scale.

Modules, one job each:

* :mod:`sweeper.metrics.qa`: SQuAD v1.1, MLQA and SQuAD 2.0 exact match / F1.
* :mod:`sweeper.metrics.tagging`: chunk precision/recall/F1 with seqeval 0.0.12's chunk rule (what
  XTREME's published scores used) and token accuracy.
* :mod:`sweeper.metrics.classification`: accuracy, binary F1, their mean (QQP).
* :mod:`sweeper.metrics.retrieval`: mean pooling, Tatoeba accuracy, BUCC mining and F1.
* :mod:`sweeper.metrics.xtreme`: XTREME / XTREME-R task and benchmark aggregation.

Import the module you need; this package imports none of them.
"""
