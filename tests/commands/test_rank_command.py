"""``sweeper rank`` end to end without Ray: the intermediate encoder is already in the stage cache
(a copy of the pretrained tiny XLM-R published under the stage's cache key), so nothing trains;
LogME ranks it and ``none`` per trained target, Tatoeba is listed as not ranked (no dev set), and the
ranking is written and logged to MLflow."""

from __future__ import annotations

import json
import shutil

from transformers import AutoModel

from sweeper.cache.markers import ENCODER_MARKER
from sweeper.cache.store import cached_intermediate_stages
from sweeper.commands.rank import rank_sweep
from sweeper.config import SweepConfig
from sweeper.models.sources import resolve_model
from sweeper.tracking.runs import Tracker


def test_rank_scores_cached_encoders_per_target(tmp_path, data_dir, tiny_dir):
    config = SweepConfig(
        name="rank-test",
        model="tiny-xlmr",
        intermediate_tasks=["none", "udpos"],
        target_tasks=["panx", "tydiqa", "tatoeba"],
        param_space={"learning_rate": [1e-4]},
        target={"max_seq_length": 64, "doc_stride": 32, "max_query_length": 24, "per_device_eval_batch_size": 16},
        zero_shot={"languages": ["ar"]},
        storage={"stage_cache_dir": str(tmp_path / "cache")},
    )
    (stage,) = cached_intermediate_stages(config, resolve_model(config.model), data_dir)
    AutoModel.from_pretrained(tiny_dir).save_pretrained(stage.path)  # an "intermediate" encoder: the pretrained one
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_dir / name).is_file():
            shutil.copy(tiny_dir / name, stage.path / name)
    (stage.path / ENCODER_MARKER).write_text(json.dumps({"task": "udpos"}))

    outcome = rank_sweep(config, data_dir, tmp_path / "out", max_examples=8)

    assert outcome.trained == ()
    panx, tydiqa, tatoeba = (outcome.rankings[target] for target in ("panx", "tydiqa", "tatoeba"))
    for ranking in (panx, tydiqa):
        assert ranking.method == "logme" and ranking.examples == 8
        assert [cell.rank for cell in ranking.cells] == [1, 2]
        # the same weights under both names: equal LogME, and the tie goes to none
        assert ranking.cells[0].score == ranking.cells[1].score
        assert [cell.intermediate_task for cell in ranking.cells] == ["none", "udpos"]
    assert tatoeba.method is None and tatoeba.note == "no dev set"
    saved = json.loads((tmp_path / "out" / "ranking.json").read_text())
    assert saved["panx"]["cells"][0]["score"] == panx.cells[0].score
    assert "## tydiqa" in (tmp_path / "out" / "ranking.md").read_text()
    run = Tracker(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}").client.get_run(outcome.run_id)
    assert run.data.tags["stage"] == "rank" and run.info.status == "FINISHED"
    assert run.data.metrics["rank/panx/udpos/logme"] == panx.score_of("udpos")
