"""MLflow tracking: the embedded server, run set-up, the Trainer callback and provenance tags.

    from s2hand.tracking import MlflowLogger, prepare_tracking, start_run

    handle = prepare_tracking(spec, root="runs")      # driver: server + experiment, once
    run_id = start_run(handle, spec, run_dir)         # a new run, or the same one again on resume
    trainer = Trainer(spec, run_dir, batches, callbacks=[MlflowLogger(handle, run_id)])

Modules: ``server`` (start/reuse/stop ``mlflow server``), ``mlflow_logger`` (runs, callback, sweeps' parent and
child runs), ``provenance`` (git commit, dataset fingerprint, hand model, versions). Names are loaded on first use,
so importing this package does not import MLflow (about 3 s).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "server": ("ServerInfo", "default_root", "ensure_server", "find_server", "stop_server", "is_healthy",
               "require_reachable"),
    "mlflow_logger": ("TrackingHandle", "prepare_tracking", "start_run", "start_parent_run", "start_child_run",
                      "finish_run", "read_run_id", "MlflowLogger", "sample_overlay"),
    "provenance": ("provenance_tags", "git_commit", "dataset_fingerprint", "hand_model_name", "versions"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
