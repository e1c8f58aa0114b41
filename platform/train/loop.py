"""The training loop of one process: read it top to bottom in `Trainer.fit`.

Ray Train runs this same loop in every worker (the distributed issue wraps the model in DDP and passes rank and
world size); callbacks carry metrics to the console, MLflow or Ray without the loop knowing about them.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import torch
from torch import nn

from s2hand.config.spec import STAGE_TERMS, ExperimentSpec
from s2hand.losses.objective import TERM_INPUTS, S2HandObjective
from s2hand.models.s2hand import S2Hand
from s2hand.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from s2hand.train.factory import build_model, build_optimizer, build_scheduler, freeze_for_stage, set_train_mode
from s2hand.train.nonfinite import NonFiniteGuard

Batch = dict[str, torch.Tensor]
RENDER_TERMS = frozenset({"pixel", "ssim", "mean_color"})


class Callback(Protocol):
    def on_step(self, trainer: "Trainer", terms: dict[str, float], total: float) -> None: ...
    def on_epoch_end(self, trainer: "Trainer", metrics: dict[str, float], checkpoint: Path | None) -> None: ...


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    skipped_steps: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def objective_inputs(out: dict[str, Any], batch: Batch, model: S2Hand) -> dict[str, Any]:
    """Map the network's outputs and the batch to the objective's prediction keys."""
    return {
        "joints_2d": out["joints2d"],
        "detections": batch["keypoints2d"],
        "confidences": batch["confidence"],
        "hourglass_keypoints": out.get("keypoints2d_stacks"),
        "image": batch["image"],
        "rendered": out.get("rendered_image"),
        "silhouette": out.get("silhouette"),
        "betas": out["betas"],
        "face_colors": out.get("face_colors"),
        "lighting": out.get("lighting"),
        "canonical_normals": model.canonical_normals,
        "joints": out["joints3d"],
        "rotations": out["rotations"],
        "pose": out["pose"],
        "rotation": out["rotation"],
        "vertices": out["vertices"],
    }


class Trainer:
    """Stage-wise S2HAND / S2HAND(V) training with exact resume.

    train_batches(epoch) yields the batches of one epoch (deterministic per epoch and seed; video batches
    sequence-major); eval_batches() yields evaluation batches (with ground truth when the split has it).
    """

    def __init__(
        self,
        spec: ExperimentSpec,
        run_dir: str | Path,
        train_batches: Callable[[int], Iterable[Batch]],
        eval_batches: Callable[[], Iterable[Batch]] | None = None,
        *,
        device: torch.device | str = "cpu",
        callbacks: Iterable[Callback] = (),
        wrap_model: Callable[[nn.Module], nn.Module] | None = None,
        is_main: bool = True,
    ) -> None:
        self.spec = spec
        self.run_dir = Path(run_dir)
        self.train_batches = train_batches
        self.eval_batches = eval_batches
        self.device = torch.device(device)
        self.callbacks = list(callbacks)
        self.is_main = is_main
        torch.manual_seed(spec.seed)
        self.model = build_model(spec).to(self.device)
        if spec.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if spec.train.init_from is not None:
            self._init_from(spec.train.init_from)
        self.params = freeze_for_stage(self.model, spec.stage)
        self.ddp_model = wrap_model(self.model) if wrap_model else self.model
        self.optimizer = build_optimizer(spec, self.params)
        self.scheduler = build_scheduler(spec, self.optimizer)
        self.active_terms = set(spec.loss_weights())
        frames = spec.data.sequence.frames if spec.stage == "video_finetune" else None
        laplacian = None
        if "laplacian" in self.active_terms:
            from s2hand.losses.regularizers import cotangent_laplacian

            with torch.no_grad():
                rest = self.model.hand(torch.zeros(1, 45, device=self.device), pose_space="axis_angle")
            laplacian = cotangent_laplacian(rest.canonical_vertices[0], self.model.hand.faces)
        self.objective = S2HandObjective(spec.loss, stage=spec.stage, frames_per_sequence=frames,
                                         laplacian=laplacian).to(self.device)
        self.render = bool(self.active_terms & RENDER_TERMS) and self.model.texture is not None
        self.guard = NonFiniteGuard(spec.train.max_consecutive_nonfinite)
        self.state = TrainState()
        self._autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(spec.train.amp)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=spec.train.amp == "fp16")
        self._checked_terms = False

    # ------------------------------------------------------------------------------------------ the loop
    def fit(self) -> dict[str, float]:
        t = self.spec.train
        metrics: dict[str, float] = {}
        while self.state.epoch < t.epochs:
            epoch = self.state.epoch
            set_train_mode(self.model, self.spec.stage)
            started, steps = time.perf_counter(), 0
            for i, batch in enumerate(self.train_batches(epoch)):
                if t.max_steps_per_epoch is not None and i >= t.max_steps_per_epoch:
                    break
                self.train_step(self._to_device(batch))
                steps += 1
            self.scheduler.step()
            self.state.epoch += 1
            last = self.state.epoch == t.epochs
            metrics = {"epoch": float(self.state.epoch), "lr": self.optimizer.param_groups[0]["lr"],
                       "images_per_s": steps * t.batch_size / max(time.perf_counter() - started, 1e-9)}
            if self.eval_batches is not None and (last or (t.eval_every and self.state.epoch % t.eval_every == 0)):
                metrics.update(self.evaluate())
            self.state.history.append(metrics)
            checkpoint = None
            if self.is_main and (last or self.state.epoch % t.checkpoint_every == 0):
                checkpoint = self.save(self.run_dir / CHECKPOINT_NAME)
            for callback in self.callbacks:
                callback.on_epoch_end(self, metrics, checkpoint)
        return metrics

    def train_step(self, batch: Batch) -> None:
        with self._autocast():
            out = self.ddp_model(batch["image"], batch.get("K"), render=self.render,
                                 keypoints2d=self.spec.stage != "pretrain_3d")
            loss = self.objective(objective_inputs(out, batch, self.model))
        if not self._checked_terms:
            self._check_terms(loss.terms)
        if not self.guard.check(loss.total, loss.terms, self.state.step):
            self.state.skipped_steps = self.guard.skipped
            self.optimizer.zero_grad(set_to_none=True)
            return
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss.total).backward()
        if self.spec.train.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, self.spec.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.state.step += 1
        values = {name: float(value.detach()) for name, value in loss.terms.items()}
        for callback in self.callbacks:
            callback.on_step(self, values, float(loss.total.detach()))

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Aligned and raw 3D joint/vertex errors (cm) and 2D error against detections, over the eval split."""
        from s2hand.evaluation.alignment import procrustes_align

        self.model.eval()
        sums: dict[str, float] = {}
        count = 0
        for batch in self.eval_batches():
            batch = self._to_device(batch)
            out = self.model(batch["image"], batch.get("K"), render=False, keypoints2d=False)
            n = batch["image"].shape[0]
            count += n
            error_2d = (out["joints2d"] - batch["keypoints2d"]).norm(dim=-1)
            conf = batch["confidence"]
            _accumulate(sums, "eval_2d_error_px", float(((error_2d * conf).sum(1) / conf.sum(1).clamp_min(1e-9)).sum()))
            if "joints3d" in batch:
                gt, pred = batch["joints3d"].double(), out["joints3d"].double()
                _accumulate(sums, "eval_mpjpe_cm", float((pred - gt).norm(dim=-1).mean(1).sum() * 100))
                aligned = procrustes_align(pred, gt)
                _accumulate(sums, "eval_pa_mpjpe_cm", float((aligned - gt).norm(dim=-1).mean(1).sum() * 100))
            if "vertices" in batch:
                gt, pred = batch["vertices"].double(), out["vertices"].double()
                aligned = procrustes_align(pred, gt)
                _accumulate(sums, "eval_pa_mpvpe_cm", float((aligned - gt).norm(dim=-1).mean(1).sum() * 100))
        set_train_mode(self.model, self.spec.stage)
        return {key: value / max(count, 1) for key, value in sums.items()}

    # ------------------------------------------------------------------------------------- checkpoints
    def save(self, path: Path) -> Path:
        return save_checkpoint(path, {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": {"epoch": self.state.epoch, "step": self.state.step, "skipped_steps": self.state.skipped_steps,
                      "history": self.state.history},
            "rng": rng_state(),
            "spec": self.spec.to_yaml(),
        })

    def resume(self, path: str | Path) -> None:
        """Continue exactly where the checkpoint stopped (model, optimiser, schedule, counters, RNG)."""
        payload = load_checkpoint(path, self.device)
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.scaler.load_state_dict(payload["scaler"])
        s = payload["state"]
        self.state = TrainState(s["epoch"], s["step"], s["skipped_steps"], list(s["history"]))
        self.guard.skipped = s["skipped_steps"]
        set_rng_state(payload["rng"])

    def _init_from(self, path: Path) -> None:
        """Stage-wise initialisation: take every matching weight of the previous stage's checkpoint."""
        payload = load_checkpoint(path, self.device)
        state = payload.get("model", payload)
        own = self.model.state_dict()
        matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not matched:
            from s2hand.errors import S2HandError

            raise S2HandError(f"{path}: no weights match this model (is it an s2hand checkpoint?)")
        self.model.load_state_dict(matched, strict=False)

    # ----------------------------------------------------------------------------------------- helpers
    def _to_device(self, batch: Batch) -> Batch:
        moved = {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        if self.spec.train.channels_last:
            moved["image"] = moved["image"].contiguous(memory_format=torch.channels_last)
        return moved

    def _autocast(self):
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._autocast_dtype)

    def _check_terms(self, computed: dict[str, torch.Tensor]) -> None:
        """Nothing is dropped silently: every term the stage should use must have been computed."""
        missing = sorted(self.active_terms - set(computed))
        if missing:
            from s2hand.errors import S2HandError

            needs = {name: [k for k in TERM_INPUTS[name]] for name in missing}
            raise S2HandError(f"stage {self.spec.stage}: loss terms {missing} could not be computed; they need "
                              f"{needs} (check the model variant and the data)")
        self._checked_terms = True


def _accumulate(sums: dict[str, float], key: str, value: float) -> None:
    sums[key] = sums.get(key, 0.0) + value


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    path = Path(run_dir) / CHECKPOINT_NAME
    return path if path.is_file() else None


__all__ = ["Trainer", "TrainState", "Callback", "objective_inputs", "latest_checkpoint", "STAGE_TERMS"]
