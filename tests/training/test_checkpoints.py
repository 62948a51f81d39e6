"""The best model's files carried in a later checkpoint (sweeper.training.trainer.carry_best_model)."""

from sweeper.training.trainer import BEST_WEIGHTS_DIR, carry_best_model


def test_a_retried_trial_carries_the_best_model_over_what_its_cut_short_attempt_left(tmp_path):
    best, later = tmp_path / "checkpoint-2", tmp_path / "checkpoint-4"
    best.mkdir()
    (best / "model.safetensors").write_bytes(b"best weights")
    (best / "config.json").write_text("{}")
    (best / "optimizer.pt").write_bytes(b"training state")
    stale = later / BEST_WEIGHTS_DIR
    stale.mkdir(parents=True)  # the first attempt saved checkpoint-4 and was killed
    (stale / "model.safetensors").write_bytes(b"the first attempt's")
    (stale / "leftover.bin").write_bytes(b"")

    carry_best_model(best, later)

    assert sorted(path.name for path in stale.iterdir()) == ["config.json", "model.safetensors"], "no training state"
    assert (stale / "model.safetensors").read_bytes() == b"best weights"
    assert (best / "model.safetensors").read_bytes() == b"best weights", "the best checkpoint itself is untouched"
    carry_best_model(stale, later)  # resumed from that very folder: nothing to do
    assert (stale / "model.safetensors").read_bytes() == b"best weights"
