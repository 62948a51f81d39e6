"""XTREME and XTREME-R aggregation: task scores from per-language metrics, then benchmark scores.

Source: XTREME ``evaluate.py`` (``GROUP2TASK``, ``TASK2LANGS`` and the averaging in
``evaluate()``); XTREME-R task list and categories from Ruder et al. 2021 (arXiv 2104.07412).
Every score is in [0, 100].

Differences from ``evaluate.py``, on purpose: the official script prints ``all_task`` (and a
group score) only when every task (of the group) is present. :func:`xtreme_scores` always
returns the mean over the tasks present, together with ``complete`` and ``missing``, so a partial
average can never pass for a complete one. It also reports the mean of the group means, which
some papers use instead of ``all_task``; both are labelled.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from statistics import fmean
from typing import Any

_QA = ("exact_match", "f1")

TASK_METRICS: Mapping[str, tuple[str, ...]] = {
    "pawsx": ("accuracy",),
    "xnli": ("accuracy",),
    "xcopa": ("accuracy",),
    "udpos": ("f1",),
    "panx": ("f1",),
    "xquad": _QA,
    "mlqa": _QA,
    "tydiqa": _QA,
    "bucc2018": ("f1",),
    "tatoeba": ("accuracy",),
    "mewsli-x": ("map_at_20",),
    "lareqa": ("map_at_20",),
}
"""Per-language metrics a task's score averages: each is averaged over languages, then the
averages are averaged (QA: (avg EM + avg F1) / 2, ``avg_metric`` in ``evaluate.py``)."""

TASK_GROUPS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "xtreme": {
        "classification": ("pawsx", "xnli"),
        "structured_prediction": ("udpos", "panx"),
        "question_answering": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("bucc2018", "tatoeba"),
    },
    "xtreme_r": {
        "classification": ("xnli", "xcopa"),
        "structured_prediction": ("udpos", "panx"),
        "question_answering": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba", "mewsli-x", "lareqa"),
    },
}
"""Benchmark → category → tasks. XTREME: ``GROUP2TASK`` of ``evaluate.py``. XTREME-R: the
paper's categories (it drops PAWS-X and BUCC, adds XCOPA, Mewsli-X and LAReQA)."""

XTREME_LANGUAGES: Mapping[str, tuple[str, ...]] = {
    task: tuple(languages.split(","))
    for task, languages in {
        "pawsx": "de,en,es,fr,ja,ko,zh",
        "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
        "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,"
        "ru,ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu",
        "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh",
        "bucc2018": "de,fr,ru,zh",
        "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,et,fi,hu",
        "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi",
        "mlqa": "en,es,de,ar,hi,vi,zh",
        "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te",
    }.items()
}
"""XTREME's evaluation languages per task (``TASK2LANGS`` of ``evaluate.py``)."""


def task_score(
    task: str,
    per_language_metrics: Mapping[str, Mapping[str, float]],
    *,
    languages: Collection[str] | None = None,
) -> float:
    """One task's score: each metric of :data:`TASK_METRICS` averaged over languages, then averaged.

    Unweighted over languages (``evaluate()`` of XTREME ``evaluate.py``): QA tasks give
    (avg EM + avg F1) / 2; tagging and BUCC avg F1; classification, XCOPA and Tatoeba avg
    accuracy; Mewsli-X and LAReQA avg mAP@20.

    Args:
        task: a key of :data:`TASK_METRICS`.
        per_language_metrics: language → metric name → value in [0, 100], e.g.
            ``{"de": {"exact_match": 50.0, "f1": 70.0}}``; extra metrics are ignored.
        languages: the languages to average, e.g. ``XTREME_LANGUAGES[task]``; each must be
            present and other languages are ignored. ``None`` averages every language given.

    Returns:
        The task score in [0, 100].

    Raises:
        ValueError: unknown ``task``; no language to average; a language of ``languages``
            is missing; a language lacks a required metric.
    """
    if task not in TASK_METRICS:
        raise ValueError(f"unknown `task` {task!r}; expected one of {sorted(TASK_METRICS)}")
    selected = list(per_language_metrics) if languages is None else list(languages)
    if not selected:
        raise ValueError(f"no language to average for task {task!r}")
    missing = [language for language in selected if language not in per_language_metrics]
    if missing:
        raise ValueError(f"`per_language_metrics` of task {task!r} lacks languages {missing}")
    averages = []
    for metric in TASK_METRICS[task]:
        values = []
        for language in selected:
            metrics = per_language_metrics[language]
            if metric not in metrics:
                raise ValueError(
                    f"`per_language_metrics[{language!r}]` of task {task!r} lacks {metric!r} "
                    f"(the task needs {list(TASK_METRICS[task])})"
                )
            values.append(metrics[metric])
        averages.append(fmean(values))
    return fmean(averages)


def xtreme_scores(task_scores: Mapping[str, float], benchmark: str = "xtreme") -> dict[str, Any]:
    """Benchmark scores from per-task scores, flagging tasks that are missing.

    Args:
        task_scores: task → score in [0, 100] (e.g. from :func:`task_score`); a subset of the
            benchmark's tasks is allowed and reported as incomplete.
        benchmark: ``"xtreme"`` (9 tasks) or ``"xtreme_r"`` (10 tasks).

    Returns:
        A dict with

        * ``benchmark``: the benchmark name;
        * ``all_task``: unweighted mean of the task scores present (``all_task`` of
          ``evaluate.py`` when complete);
        * ``complete``: whether every task of the benchmark is present;
        * ``missing``: the benchmark's tasks absent from ``task_scores``, in benchmark order;
        * ``groups``: category → ``{"score": mean of its tasks present or None if none is,
          "tasks": its tasks, "missing": its absent tasks}``;
        * ``mean_of_group_means``: mean of the group scores that are not None.

    Raises:
        ValueError: unknown ``benchmark``; ``task_scores`` is empty or names a task outside the
            benchmark.
    """
    if benchmark not in TASK_GROUPS:
        raise ValueError(f"unknown `benchmark` {benchmark!r}; expected one of {sorted(TASK_GROUPS)}")
    groups = TASK_GROUPS[benchmark]
    tasks = [task for group_tasks in groups.values() for task in group_tasks]
    unknown = sorted(set(task_scores) - set(tasks))
    if unknown:
        raise ValueError(f"`task_scores` names tasks {unknown} that are not part of {benchmark!r} ({tasks})")
    if not task_scores:
        raise ValueError("`task_scores` is empty")
    group_results = {}
    for group, group_tasks in groups.items():
        present = [task_scores[task] for task in group_tasks if task in task_scores]
        group_results[group] = {
            "score": fmean(present) if present else None,
            "tasks": list(group_tasks),
            "missing": [task for task in group_tasks if task not in task_scores],
        }
    missing = [task for task in tasks if task not in task_scores]
    return {
        "benchmark": benchmark,
        "all_task": fmean(task_scores.values()),
        "complete": not missing,
        "missing": missing,
        "groups": group_results,
        "mean_of_group_means": fmean(result["score"] for result in group_results.values() if result["score"] is not None),
    }
