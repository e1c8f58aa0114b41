"""The metrics dashboards and tables show: the paper's names, units, direction, and where each value is found.

A value is looked up by score key (the names of ``scores.json`` written by ``s2hand evaluate``) in this order:
the run's scores file for that split, then MLflow metrics ``eval/<key>`` (what ``s2hand evaluate --mlflow-run``
logs), ``eval/<split>/<key>`` for another split, ``eval_<key>`` (what training logs at epoch ends) and ``<key>``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping

from s2hand.evaluation.scoring import PAPER_NAMES


@dataclass(frozen=True)
class Metric:
    """One reported number. ``keys`` are score keys in priority order; shown value = raw value × ``scale``."""

    name: str
    label: str
    higher_is_better: bool
    keys: tuple[str, ...]
    digits: int = 3
    scale: float = 1.0
    unit: str = ""

    def header(self, html: bool = False) -> str:
        """Column header with direction and unit; ``html`` writes AUC_J as AUC<sub>J</sub>."""
        label = re.sub(r"_(\w+)$", r"<sub>\1</sub>", self.label) if html else self.label
        arrow = "↑" if self.higher_is_better else "↓"
        return f"{label} {arrow}" + (f" ({self.unit})" if self.unit else "")

    def format(self, value: float | None) -> str:
        return "–" if value is None else f"{value:.{self.digits}f}"


def _paper(name: str, label: str, higher: bool, *fallbacks: str, digits: int = 3, unit: str = "") -> Metric:
    return Metric(name, label, higher, (name, PAPER_NAMES[name], *fallbacks), digits, unit=unit)


# The paper's Tables 1-4, 6-8: Procrustes-aligned FreiHAND scores (FACTS §7). Training's own eval_pa_* are the
# fallback for runs never passed through `s2hand evaluate`.
AUC_J = _paper("AUC_J", "AUC_J", True)
MPJPE = _paper("MPJPE", "MPJPE", False, "pa_mpjpe_cm", digits=2, unit="cm")
AUC_V = _paper("AUC_V", "AUC_V", True)
MPVPE = _paper("MPVPE", "MPVPE", False, "pa_mpvpe_cm", digits=2, unit="cm")
F_5 = _paper("F_5", "F_5", True)
F_15 = _paper("F_15", "F_15", True)
MAIN_METRICS = (AUC_J, MPJPE, AUC_V, MPVPE, F_5, F_15)

# Smoothness (Table 5): accelerations are metres per frame² in scores.json, shown in mm per frame².
ACC = Metric("ACC", "ACC", False, ("acc",), 2, 1000.0, "mm/frame²")
ACC_ERR = Metric("ACC_ERR", "ACC-ERR", False, ("acc_err",), 2, 1000.0, "mm/frame²")
QUAT = Metric("QUAT", "Quaternion loss", False, ("quat_loss",), 3, unit="rad")
# Appearance consistency (Table 9).
TEXTURE_SD = Metric("TEXTURE_SD", "Texture S.D.", False, ("texture_sd",), 3)
SHAPE_SD = Metric("SHAPE_SD", "Shape S.D.", False, ("shape_sd",), 3)
MPJPE_2D = Metric("MPJPE_2D", "2D MPJPE", False, ("mpjpe_2d_px", "2d_error_px"), 2, unit="px")

CATALOGUE: dict[str, Metric] = {m.name: m for m in (*MAIN_METRICS, ACC, ACC_ERR, QUAT, TEXTURE_SD, SHAPE_SD,
                                                    MPJPE_2D)}


def metric_by_name(name: str) -> Metric:
    """A catalogue metric by paper name (case-insensitive), else an ad-hoc one for a raw score key: a sweep may
    target any key (e.g. ``xyz_al_mean3d``), lower-is-better unless the name says AUC, F-score or PCK."""
    for metric in CATALOGUE.values():
        if name.upper() == metric.name or name in metric.keys:
            return metric
    higher = any(word in name.lower() for word in ("auc", "f_score", "f_al_score", "pck"))
    return Metric(name, name, higher, (name,), 4)


def lookup(metric: Metric, scores: Mapping[str, object] | None, mlflow_metrics: Mapping[str, float],
           split: str | None = None) -> float | None:
    """The value of ``metric`` (scaled for display) from a scores dict and a run's latest MLflow metrics."""
    for key in metric.keys:
        value = scores.get(key) if scores else None
        if value is None:
            names = (f"eval/{split}/{key}",) if split else (f"eval/{key}", f"eval_{key}", key)
            value = next((mlflow_metrics[n] for n in names if n in mlflow_metrics), None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value) * metric.scale
    return None


__all__ = ["Metric", "MAIN_METRICS", "AUC_J", "MPJPE", "AUC_V", "MPVPE", "F_5", "F_15", "ACC", "ACC_ERR", "QUAT",
           "TEXTURE_SD", "SHAPE_SD", "MPJPE_2D", "CATALOGUE", "metric_by_name", "lookup"]
