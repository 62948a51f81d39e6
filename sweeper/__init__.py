"""sweeper: intermediate-task × target-task sweeps for zero-shot cross-lingual transfer.

Reproduces the experiment of Phang et al. 2020, "English Intermediate-Task Training Improves
Zero-Shot Cross-Lingual Transfer Too" (arXiv 2005.13013) on XTREME, scheduled with Ray Tune,
trained with Ray Train and tracked in MLflow.
"""

__version__ = "0.1.0"
