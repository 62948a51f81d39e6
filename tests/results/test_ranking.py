"""Rankings and search.prune's decision (pure): which cells a pruned sweep trains, and what the report says."""

import pytest

from sweeper.results.ranking import (
    TargetPrune,
    TargetRanking,
    from_json,
    kept_cells,
    ordered,
    prune_cells,
    pruning_markdown,
    to_json,
)

TASKS = ["none", "anli", "xnli", "squad", "mnli"]


def test_prune_keeps_the_top_ranked_and_none_in_rank_order():
    rankings = {
        "panx": ordered("panx", {"none": -0.9, "anli": -0.5, "xnli": -0.7, "squad": -1.2, "mnli": -0.6}, 100),
        "tydiqa": ordered("tydiqa", {"none": 0.3, "anli": 0.1, "xnli": 0.1, "squad": 0.9, "mnli": 0.0}, 100),
    }
    pruning = prune_cells(rankings, TASKS, keep=2)
    assert pruning["panx"].kept == ("anli", "mnli", "none")
    assert [(c.intermediate_task, c.rank) for c in pruning["panx"].pruned] == [("xnli", 3), ("squad", 5)]
    # none is ranked 2nd: the 2 best others are squad and (a tie broken by name) anli
    assert pruning["tydiqa"].kept == ("squad", "none", "anli")
    assert [c.intermediate_task for c in pruning["tydiqa"].pruned] == ["xnli", "mnli"]
    assert kept_cells(pruning) == {"panx": ("anli", "mnli", "none"), "tydiqa": ("squad", "none", "anli")}
    assert TargetPrune.from_json(pruning["panx"].to_json()) == pruning["panx"]


def test_prune_without_none_and_unranked_targets():
    rankings = {
        "xnli": ordered("xnli", {"anli": 1.0, "squad": 2.0, "mnli": 0.5}, 10),
        "pawsx": TargetRanking("pawsx", None, (), note="LogME is not adapted to x tasks"),
    }
    pruning = prune_cells(rankings, ["anli", "squad", "mnli"], keep=1)
    assert pruning["xnli"].kept == ("squad",) and len(pruning["xnli"].pruned) == 2
    assert pruning["pawsx"].kept == ("anli", "squad", "mnli") and pruning["pawsx"].pruned == ()
    with pytest.raises(ValueError, match="covers"):
        prune_cells({"xnli": ordered("xnli", {"anli": 1.0}, 10)}, ["anli", "squad"], keep=1)


def test_pruning_markdown_states_the_pruned_grid_and_scores():
    rankings = {"panx": ordered("panx", {"none": -0.9, "anli": -0.5, "xnli": -0.7}, 100)}
    lines = "\n".join(pruning_markdown(prune_cells(rankings, ["none", "anli", "xnli"], keep=1)))
    assert "selection ran over a pruned grid" in lines
    assert "| panx | anli, none | `xnli` -0.7000 (2) |" in lines
    assert pruning_markdown({}) == []
    assert from_json(to_json(rankings)) == rankings
