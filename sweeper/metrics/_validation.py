"""Argument checks shared by the metric modules.

Each check raises :class:`ValueError` with a message that names the offending argument, so a
caller sees which input was wrong rather than a ``ZeroDivisionError`` or an ``IndexError`` from
deep inside a metric.
"""

from __future__ import annotations

from collections.abc import Sized


def check_non_empty(name: str, values: Sized) -> None:
    """Raise if ``values`` is empty.

    Args:
        name: argument name used in the message.
        values: any sized collection.

    Raises:
        ValueError: ``values`` has length 0.
    """
    if len(values) == 0:
        raise ValueError(f"`{name}` is empty; a metric needs at least one example")


def check_same_length(name_a: str, a: Sized, name_b: str, b: Sized) -> None:
    """Raise if ``a`` and ``b`` differ in length.

    Args:
        name_a: argument name of ``a`` used in the message.
        a: first collection.
        name_b: argument name of ``b`` used in the message.
        b: second collection.

    Raises:
        ValueError: ``len(a) != len(b)``.
    """
    if len(a) != len(b):
        raise ValueError(f"`{name_a}` has {len(a)} items but `{name_b}` has {len(b)}; they must align one to one")
