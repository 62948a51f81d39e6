"""Learning rates at which fine-tuning a model is known to be unstable (pure; no torch).

XLM-R Large (560M parameters), like RoBERTa Large, is widely reported to diverge (loss stuck,
predictions collapsed to one class) when fine-tuned at 1e-4: huggingface/transformers#10588,
ThilinaRajapakse/simpletransformers#202. The rates used for it in the literature stay at or below
3e-5: 1e-5 in Phang et al. 2020 (jiant's X-STILTs recipe), 2e-5 (UD-POS) and 3e-5 (QA) in
google-research/xtreme ``scripts/train_udpos.sh`` and ``scripts/train_qa.sh``.
"""

from __future__ import annotations

from collections.abc import Mapping

from sweeper.config import Distribution, SweepConfig

UNSTABLE_LEARNING_RATES: Mapping[str, float] = {"xlm-roberta-large": 1e-4}
"""Model name (the last part of a Hub id, lowercase) → the learning rate from which fine-tuning
it is reported to diverge."""


def unstable_rate(model: str) -> float | None:
    """The rate from which fine-tuning ``model`` is reported to diverge (``None``: none known).

    ``FacebookAI/xlm-roberta-large`` and ``xlm-roberta-large`` are the same model.
    """
    return UNSTABLE_LEARNING_RATES.get(model.rsplit("/", 1)[-1].lower())


def unstable_rate_warning(model: str, rates: Mapping[str, float]) -> str | None:
    """A warning naming every configured rate at or above :func:`unstable_rate` of ``model``.

    Args:
        model: the sweep's model id.
        rates: where a rate is configured (e.g. ``param_space.learning_rate``) → the largest
            rate configured there.

    Returns:
        One line with the offending rates, the threshold and the sources, or ``None``.
    """
    threshold = unstable_rate(model)
    if threshold is None:
        return None
    high = {where: rate for where, rate in rates.items() if rate >= threshold}
    if not high:
        return None
    listed = ", ".join(f"{where} = {rate:g}" for where, rate in high.items())
    return (
        f"{listed}: fine-tuning {model} at learning rates >= {threshold:g} is widely reported to diverge "
        "(huggingface/transformers#10588, simpletransformers#202); the X-STILTs recipe uses 1e-5, XTREME's "
        "scripts 2e-5 to 3e-5. Those trials will likely be wasted."
    )


def configured_learning_rates(config: SweepConfig) -> dict[str, float]:
    """Where a sweep sets learning rates → the largest one set there: ``intermediate``,
    ``param_space`` (a list's maximum, a distribution's upper bound) and every
    ``training_overrides.<task>`` that sets one (for an intermediate task)."""
    space = config.param_space.learning_rate
    rates = {
        "intermediate.learning_rate": config.intermediate.learning_rate,
        "param_space.learning_rate": space.high if isinstance(space, Distribution) else max(space),
    }
    for task, overrides in config.training_overrides.items():
        if "learning_rate" in overrides:
            rates[f"training_overrides.{task}.learning_rate"] = float(overrides["learning_rate"])
    return rates
