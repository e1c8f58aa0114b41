"""The training core on tiny in-memory batches: stages, the non-finite guard, exact resume, init_from."""
from __future__ import annotations

import pytest
import torch

from s2hand.config import load_spec
from s2hand.errors import S2HandError
from s2hand.geometry.camera import default_intrinsics
from s2hand.train.checkpoint import load_checkpoint
from s2hand.train.loop import Trainer
from s2hand.train.nonfinite import TrainingDiverged

SIZE = 64
TINY = [
    f"data.image_size={SIZE}", "train.batch_size=4", "train.epochs=2", "train.eval_every=1",
    "model.hourglass.channels=16", "model.hourglass.depth=2", "model.hourglass.stacks=1", "data.num_workers=0",
]


def _batches(seed: int, steps: int = 2, batch: int = 4):
    def make(epoch: int):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        for _ in range(steps):
            keypoints = SIZE / 2 + 10 * torch.randn(batch, 21, 2, generator=g)
            yield {
                "image": torch.rand(batch, 3, SIZE, SIZE, generator=g),
                "K": default_intrinsics(batch, image_size=SIZE, focal=140.0),
                "keypoints2d": keypoints,
                "confidence": torch.rand(batch, 21, generator=g) * 0.5 + 0.5,
                "joints3d": torch.randn(batch, 21, 3, generator=g) * 0.03 + torch.tensor([0, 0, 0.6]),
            }
    return make


def _spec(*overrides):
    return load_spec("s2hand/finetune", [*TINY, *overrides])


def _params(trainer):
    return torch.cat([p.detach().flatten() for p in trainer.model.parameters()])


def test_finetune_runs_and_reports_metrics(tmp_path):
    trainer = Trainer(_spec(), tmp_path, _batches(0), lambda: _batches(9, steps=1)(0))
    before = _params(trainer).clone()
    metrics = trainer.fit()
    assert trainer.state.step == 4 and trainer.state.epoch == 2
    assert {"eval_2d_error_px", "eval_pa_mpjpe_cm", "eval_mpjpe_cm", "lr"} <= set(metrics)
    assert not torch.equal(before, _params(trainer))
    payload = load_checkpoint(tmp_path / "checkpoint.pt")
    assert payload["state"]["epoch"] == 2 and "stage: finetune" in payload["spec"]


def test_resume_continues_exactly(tmp_path):
    straight = Trainer(_spec(), tmp_path / "a", _batches(1))
    straight.fit()
    first = Trainer(_spec("train.epochs=1"), tmp_path / "b", _batches(1))
    first.fit()
    torch.manual_seed(12345)  # disturb the global RNG: resume must restore it
    resumed = Trainer(_spec(), tmp_path / "b", _batches(1))
    resumed.resume(tmp_path / "b" / "checkpoint.pt")
    assert resumed.state.epoch == 1
    resumed.fit()
    assert torch.equal(_params(straight), _params(resumed))
    assert resumed.state.step == straight.state.step


def test_stage_freezing(tmp_path):
    trainer = Trainer(load_spec("s2hand/pretrain_2d", TINY), tmp_path, _batches(2))
    encoder_before = [p.clone() for p in trainer.model.encoder.parameters()]
    hourglass_before = _flat(trainer.model.keypoints2d)
    trainer.fit()
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, trainer.model.encoder.parameters()))
    assert not torch.equal(hourglass_before, _flat(trainer.model.keypoints2d))


def _flat(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()]).clone()


def test_init_from_previous_stage(tmp_path):
    stage_2d = Trainer(load_spec("s2hand/pretrain_2d", [*TINY, "train.epochs=1"]), tmp_path / "2d", _batches(3))
    stage_2d.fit()
    following = Trainer(_spec(f"train.init_from={tmp_path / '2d' / 'checkpoint.pt'}"), tmp_path / "ft", _batches(3))
    assert torch.equal(_flat(following.model.keypoints2d), _flat(stage_2d.model.keypoints2d))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(S2HandError, match="cannot load checkpoint"):
        Trainer(_spec(f"train.init_from={tmp_path / 'junk.pt'}"), tmp_path / "x", _batches(3))


def test_nonfinite_losses_are_skipped_then_stop_with_the_term(tmp_path):
    def poisoned(epoch):
        for batch in _batches(4, steps=3)(epoch):
            batch["keypoints2d"] = torch.full_like(batch["keypoints2d"], float("nan"))
            yield batch

    trainer = Trainer(_spec("train.max_consecutive_nonfinite=3"), tmp_path, poisoned)
    before = _params(trainer).clone()
    with pytest.raises(TrainingDiverged, match="loc"):
        trainer.fit()
    assert trainer.guard.skipped == 3 and torch.equal(before, _params(trainer))
