"""Per-epoch progress from the training workers to the driver, and its console lines.

Why a queue: with ``log_to_driver=False`` (Ray's own logs are far too noisy for a console) nothing a worker prints
reaches the driver, and Ray Train's report callbacks run in the controller actor, not the driver either. So rank 0
puts small event dicts on a Ray queue actor and a driver thread hands them to a callback (the CLI's printer, a
benchmark's recorder). Events are plain dicts with an ``"event"`` key:

    run         driver, once: name, run_dir, workers, tracking_uri, mlflow_run_id, run_url
    start       rank 0, per worker-group start: epoch (completed epochs it starts from), epochs, world_size,
                restored (resumed from a checkpoint), time
    first_step  rank 0, after its first optimiser step of a worker-group start: time
    epoch       rank 0, per epoch: epoch, epochs, step, train_loss, seconds, metrics (lr, images_per_s, eval_*)

Progress is best effort: a lost event never stops training.
"""
from __future__ import annotations

import sys
import threading
from typing import Any, Callable, TextIO

Event = dict[str, Any]
ProgressFn = Callable[[Event], None]
_PUT_TIMEOUT_S = 10.0


class ProgressChannel:
    """Driver side: a queue actor the workers post to, and a thread calling ``callback`` for each event."""

    def __init__(self, callback: ProgressFn) -> None:
        from ray.util.queue import Queue

        self.callback = callback
        # num_cpus=0: the queue must never take a CPU the worker group needs (a 2-CPU cluster runs 2 workers).
        self.queue = Queue(actor_options={"num_cpus": 0})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="s2hand-progress", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        from ray.util.queue import Empty

        while True:
            try:
                event = self.queue.get(timeout=0.5)
            except Empty:
                if self._stop.is_set():  # fit() has returned: no worker posts any more, and the queue is drained
                    return
                continue
            except Exception:  # the queue actor is gone (cluster shutting down): progress is best effort
                return
            try:
                self.callback(event)
            except Exception as error:  # a broken printer must not hide the training result
                print(f"progress callback failed: {error!r}", file=sys.stderr)

    def close(self) -> None:
        """Deliver what is left, then stop the thread and the queue actor."""
        self._stop.set()
        self._thread.join(timeout=30)
        try:
            self.queue.shutdown()
        except Exception:
            pass


def post(queue: Any, event: Event) -> None:
    """Worker side: put one event on the driver's queue (None = nobody listens); never raises."""
    if queue is None:
        return
    try:
        queue.put(event, timeout=_PUT_TIMEOUT_S)
    except Exception:
        pass


class ConsolePrinter:
    """The ``s2hand train`` console: one line per epoch, plus a line when a worker group starts or resumes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.starts = 0

    def __call__(self, event: Event) -> None:
        line = self.format(event)
        if line is not None:
            print(line, file=self.stream or sys.stdout, flush=True)

    def format(self, event: Event) -> str | None:
        kind = event.get("event")
        if kind == "run":
            return f"run {event['name']}: {event['workers']} worker(s), {event['run_dir']}; {_mlflow(event)}"
        if kind == "start":
            self.starts += 1
            where = f"resuming after epoch {event['epoch']}" if event.get("restored") else "starting at epoch 0"
            again = f" (restart {self.starts - 1} after a failure)" if self.starts > 1 else ""
            return f"worker group of {event['world_size']} up: {where} of {event['epochs']}{again}"
        if kind == "epoch":
            return format_epoch(event)
        return None


def _mlflow(event: Event) -> str:
    if not event.get("mlflow_run_id"):
        return "MLflow off"
    return f"MLflow {event.get('run_url') or event['mlflow_run_id'] + ' on ' + str(event['tracking_uri'])}"


def format_epoch(event: Event) -> str:
    """``epoch 2/3  step 4  loss 1.2345  eval_pa_mpjpe_cm 1.25 ...  9.1 img/s  4.2 s``"""
    metrics = event.get("metrics", {})
    parts = [f"epoch {event['epoch']}/{event['epochs']}", f"step {event['step']}"]
    if event.get("train_loss") is not None:
        parts.append(f"loss {event['train_loss']:.4f}")
    parts += [f"{key} {value:.4g}" for key, value in sorted(metrics.items()) if key.startswith("eval_")]
    if "images_per_s" in metrics:
        parts.append(f"{metrics['images_per_s']:.1f} img/s")
    parts.append(f"{event.get('seconds', 0.0):.1f} s")
    return "  ".join(parts)
