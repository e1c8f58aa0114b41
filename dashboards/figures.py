"""One function per dashboard figure. Each returns a plotly Figure, or None when its data is absent.

Every run keeps one colour across all figures (``palette``); legends group a run's traces so one click hides the
run everywhere in that figure.
"""
from __future__ import annotations

import base64
import io
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from s2hand.dashboards.data import Run
from s2hand.dashboards.metrics import ACC, ACC_ERR, SHAPE_SD, TEXTURE_SD, Metric
from s2hand.dashboards.results import Reconstructions, acc_per_sequence, pck_curves, pck_curves_2d
from s2hand.hand.joints import FREIHAND_NAMES

TEMPLATE = "plotly_white"
COLORS = qualitative.Plotly + qualitative.D3 + qualitative.Dark24
FINGER_COLORS = ("#e6194b", "#f58231", "#3cb44b", "#4363d8", "#911eb4")  # thumb .. pinky
WRIST_COLOR = "#444444"
Palette = Mapping[str, str]


def palette(runs: Sequence[Run]) -> dict[str, str]:
    return {run.label: COLORS[i % len(COLORS)] for i, run in enumerate(runs)}


def _figure(fig: go.Figure, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(template=TEMPLATE, height=height, margin=dict(l=60, r=20, t=60 if title else 30, b=50),
                      title=dict(text=title, x=0.01) if title else None, legend=dict(groupclick="togglegroup"))
    return fig


# --------------------------------------------------------------------------------------------- accuracy


def pck_3d(runs: Sequence[Run], colors: Palette) -> go.Figure | None:
    """3D PCK of joints and of vertices after Procrustes alignment, one curve per run (the AUC_J / AUC_V curves)."""
    panels = (("xyz_al", "Joints (Procrustes-aligned)"), ("mesh_al", "Vertices (Procrustes-aligned)"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=[t for _, t in panels], horizontal_spacing=0.08)
    shown = False
    for run in runs:
        found = pck_curves(run.scores.get(None))
        if found is None:
            continue
        thresholds, curves = found
        for col, (key, _) in enumerate(panels, start=1):
            if key not in curves:
                continue
            auc = _auc(curves[key], thresholds)
            fig.add_trace(go.Scatter(x=thresholds, y=curves[key], mode="lines", name=run.label,
                                     legendgroup=run.label, showlegend=col == 1, line=dict(color=colors[run.label]),
                                     hovertemplate=f"{run.label}<br>%{{x:.1f}} mm: %{{y:.3f}} (AUC {auc:.3f})"
                                                   "<extra></extra>"), row=1, col=col)
            shown = True
    if not shown:
        return None
    fig.update_xaxes(title_text="error threshold (mm)", range=[0, 50])
    fig.update_yaxes(title_text="PCK", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    return _figure(fig, 420)


def _auc(curve: np.ndarray, thresholds: np.ndarray) -> float:
    """Normalised area under a PCK curve (trapezoids), as the official scorers compute AUC."""
    area = float(np.sum((curve[1:] + curve[:-1]) * np.diff(thresholds)) / 2)
    return area / float(thresholds[-1] - thresholds[0]) if len(thresholds) > 1 else float("nan")


def pck_2d(runs: Sequence[Run], colors: Palette) -> go.Figure | None:
    """Fig. 7: fraction of 2D keypoints within a pixel distance, per run and keypoint set."""
    fig, dashes = go.Figure(), ("solid", "dash", "dot", "dashdot", "longdash")
    for run in runs:
        found = pck_curves_2d(run.scores.get(None))
        if found is None:
            continue
        thresholds, curves = found
        for i, (name, curve) in enumerate(sorted(curves.items())):
            fig.add_trace(go.Scatter(x=thresholds, y=curve, mode="lines", name=f"{run.label}: {name}",
                                     legendgroup=run.label, line=dict(color=colors[run.label], dash=dashes[i % 5])))
    if not fig.data:
        return None
    fig.update_xaxes(title_text="maximum allowed distance to the reference (px)")
    fig.update_yaxes(title_text="fraction of joints", range=[0, 1.02])
    return _figure(fig, 420)


# --------------------------------------------------------------------------------------------- training


def metric_curves(history: pd.DataFrame, runs: Sequence[Run], colors: Palette, keys: Sequence[str],
                  columns: int = 3) -> go.Figure | None:
    """One panel per metric key (e.g. every loss term), one line per run, over optimiser steps; loss terms span
    orders of magnitude, so their panels are log-scaled (see ``_value_axis``)."""
    keys = [k for k in keys if k in set(history["key"])]
    if not keys:
        return None
    rows = math.ceil(len(keys) / columns)
    height = 100 + 230 * rows
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=keys, horizontal_spacing=0.07,
                        vertical_spacing=75 / height)  # room for tick labels and the next panel's title
    legend_done: set[str] = set()
    for i, key in enumerate(keys):
        row, col = divmod(i, columns)
        of_key = history[history["key"] == key]
        for run in runs:  # in run order, so legends and colours agree across figures
            part = of_key[of_key["run_id"] == run.id]
            if part.empty:
                continue
            fig.add_trace(go.Scatter(x=part["step"], y=part["value"], name=run.label, legendgroup=run.label,
                                     mode="lines" if len(part) > 1 else "markers",  # one value: a visible dot
                                     showlegend=run.label not in legend_done, marker=dict(color=colors[run.label]),
                                     line=dict(color=colors[run.label], width=1.5),
                                     hovertemplate=f"{run.label}<br>step %{{x}}: %{{y:.4g}}<extra>{key}</extra>"),
                          row=row + 1, col=col + 1)
            legend_done.add(run.label)
        _value_axis(fig, of_key["value"], row + 1, col + 1)
    fig.update_yaxes(exponentformat="e")
    fig.update_xaxes(title_text="step", row=rows)
    return _figure(fig, height)


def _value_axis(fig: go.Figure, values: pd.Series, row: int, col: int) -> None:
    """Log scale for positive values spanning a factor 4 or more (loss terms); a constant (a fixed learning rate)
    gets a range from zero instead of plotly's ±1 around it."""
    if len(values) and (values > 0).all() and values.max() >= 4 * values.min():
        fig.update_yaxes(type="log", row=row, col=col)
    elif len(values) and values.max() == values.min():
        value = float(values.iloc[0])
        fig.update_yaxes(range=sorted([0.0, 2 * value]) if value else [-1, 1], row=row, col=col)


def loss_keys(history: pd.DataFrame) -> list[str]:
    """The loss terms to plot: per-step ``train/<term>`` (total first), else the epoch means ``epoch/<term>``."""
    keys = sorted(set(history["key"]))
    for prefix in ("train/", "epoch/"):
        terms = [k for k in keys if k.startswith(prefix)]
        if terms:
            return sorted(terms, key=lambda k: (k != f"{prefix}total", k))
    return []


# --------------------------------------------------------------------------------------------- sweeps


def _param_axis(values: Sequence[str], log_hint: bool = False) -> tuple[np.ndarray, str, list | None, list | None,
                                                                       bool]:
    """(numeric positions, axis kind, tick values, tick texts, is log10) for one parameter's values; log10 for a
    positive parameter sampled on a log scale (``log_hint``, e.g. a loguniform search space) or spanning a decade."""
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        categories = sorted(set(values))
        return np.array([categories.index(v) for v in values], float), "category", \
            list(range(len(categories))), categories, False
    positive = numbers[numbers > 0]
    if len(positive) == len(numbers) and (log_hint or positive.max() / positive.min() >= 10):
        return np.log10(numbers), "log", None, None, True
    return numbers, "linear", None, None, False


SPACE_PREFIX = "space."  # the parent run's params as `s2hand sweep` logs them: space.train.lr = "loguniform [..]"


def _log_hint(parent: Run, key: str) -> bool:
    """Whether the search space sampled ``key`` on a log scale (e.g. "loguniform [5e-05, 0.001]")."""
    return "log" in parent.params.get(SPACE_PREFIX + key, parent.params.get(key, ""))


def sweep_parameters(parent: Run, children: Sequence[Run]) -> list[str]:
    """The swept parameters: the parent's search space (``space.<key>`` params, or plain keys the trials carry),
    else the parameters whose values differ between trials."""
    space = [k.removeprefix(SPACE_PREFIX) for k in parent.params if k.startswith(SPACE_PREFIX)]
    keys = space or list(parent.params)
    keys = [k for k in keys if children and all(k in c.params for c in children)]
    if not keys:
        every = set.intersection(*(set(c.params) for c in children)) if children else set()
        keys = [k for k in sorted(every) if len({c.params[k] for c in children}) > 1]
    return keys


def sweep_parallel(parent: Run, children: Sequence[Run], target: Metric) -> go.Figure | None:
    """Parallel coordinates: each trial a line through its parameter values, ending at (and coloured by) the
    target metric. Log-scaled parameters are shown as log10."""
    trials = [(c, c.value(target)) for c in children]
    trials = [(c, v) for c, v in trials if v is not None]
    params = sweep_parameters(parent, [c for c, _ in trials])
    if not trials or not params:
        return None
    dimensions = []
    for key in params:
        positions, kind, ticks, texts, logged = _param_axis([c.params[key] for c, _ in trials], _log_hint(parent, key))
        dimension = dict(label=f"log10 {key}" if logged else key, values=positions, tickformat=".3~g")
        if kind == "category":
            dimension.update(tickvals=ticks, ticktext=texts)
        dimensions.append(dimension)
    values = np.array([v for _, v in trials])
    dimensions.append(dict(label=target.header(), values=values, tickformat=".3~g"))
    line = dict(color=values, colorscale="Viridis", reversescale=not target.higher_is_better, showscale=True,
                colorbar=dict(title=dict(text=target.label)))
    fig = go.Figure(go.Parcoords(line=line, dimensions=dimensions, labelangle=0))
    fig = _figure(fig, 400)
    fig.update_layout(margin=dict(l=80, r=80, t=70, b=30))
    return fig


def sweep_scatter(parent: Run, children: Sequence[Run], target: Metric) -> go.Figure | None:
    """The target metric against each swept parameter, one panel per parameter; the best trial is a star."""
    trials = [(c, v) for c in children if (v := c.value(target)) is not None]
    params = sweep_parameters(parent, [c for c, _ in trials])
    if not trials or not params:
        return None
    values = np.array([v for _, v in trials])
    best = int(np.argmax(values) if target.higher_is_better else np.argmin(values))
    fig = make_subplots(rows=1, cols=len(params), subplot_titles=params, shared_yaxes=True, horizontal_spacing=0.05)
    for col, key in enumerate(params, start=1):
        raw = [c.params[key] for c, _ in trials]
        _, kind, _, _, logged = _param_axis(raw, _log_hint(parent, key))
        x = raw if kind == "category" else [float(v) for v in raw]
        fig.add_trace(go.Scatter(
            x=x, y=values, mode="markers", showlegend=False, text=[c.label for c, _ in trials],
            marker=dict(size=[16 if i == best else 9 for i in range(len(trials))],
                        symbol=["star" if i == best else "circle" for i in range(len(trials))],
                        color=values, colorscale="Viridis", reversescale=not target.higher_is_better,
                        line=dict(width=0.5, color="#333")),
            hovertemplate="%{text}<br>" + key + " = %{x}<br>" + target.label + " = %{y:.4g}<extra></extra>"),
            row=1, col=col)
        fig.update_xaxes(type="log" if logged else kind, exponentformat="e", row=1, col=col)
    fig.update_yaxes(title_text=target.header(), row=1, col=1)
    return _figure(fig, 360)


# --------------------------------------------------------------------------------------------- smoothness


def acc_bars(runs: Sequence[Run], colors: Palette) -> go.Figure | None:
    """ACC (and ACC-ERR where ground truth allowed it) per sequence, one bar per run (mm per frame²)."""
    found = [(run, table) for run in runs if (table := acc_per_sequence(run.scores.get(None)))]
    if not found:
        return None
    panels = [(ACC, "acc")] + ([(ACC_ERR, "acc_err")] if any("acc_err" in t for _, t in found) else [])
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=[m.header() for m, _ in panels])
    for row, (metric, key) in enumerate(panels, start=1):
        for run, table in found:
            if key in table:
                fig.add_trace(go.Bar(x=[str(i) for i in table["ids"]], y=np.asarray(table[key]) * metric.scale,
                                     name=run.label, legendgroup=run.label, showlegend=row == 1,
                                     marker_color=colors[run.label]), row=row, col=1)
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="sequence", type="category", row=len(panels))
    return _figure(fig, 180 + 240 * len(panels))


def joint_trajectory(runs: Sequence[Run], colors: Palette, sequence: object, joint: int = 8) -> go.Figure | None:
    """x, y, z of one joint over the frames of ``sequence`` (cm, camera frame): each run's prediction, and the
    ground truth (dashed) when the predictions file has it."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        subplot_titles=[f"{axis} (cm)" for axis in "xyz"])
    truth_done = False
    for run in runs:
        pred = run.predictions
        frames = pred.frames_of(sequence) if pred is not None else np.array([], int)
        if not len(frames):
            continue
        t = pred.frame[frames]
        for axis in range(3):
            fig.add_trace(go.Scatter(x=t, y=pred.joints[frames, joint, axis] * 100, mode="lines", name=run.label,
                                     legendgroup=run.label, showlegend=axis == 0,
                                     line=dict(color=colors[run.label])), row=axis + 1, col=1)
            if pred.gt_joints is not None and not truth_done:
                fig.add_trace(go.Scatter(x=t, y=pred.gt_joints[frames, joint, axis] * 100, mode="lines",
                                         name="ground truth", legendgroup="ground truth", showlegend=axis == 0,
                                         line=dict(color="black", dash="dash")), row=axis + 1, col=1)
        truth_done = truth_done or pred.gt_joints is not None
    if not fig.data:
        return None
    fig.update_xaxes(title_text="frame", row=3)
    return _figure(fig, 620, f"Sequence {sequence}: {FREIHAND_NAMES[joint].replace('_', ' ')}")


# --------------------------------------------------------------------------------------------- appearance


def appearance_bars(runs: Sequence[Run], colors: Palette) -> go.Figure | None:
    """Table 9 as bars: texture S.D. and shape S.D. per run (lower = more consistent over a sequence)."""
    metrics = (TEXTURE_SD, SHAPE_SD)
    found = [run for run in runs if any(run.value(m) is not None for m in metrics)]
    if not found:
        return None
    fig = make_subplots(rows=1, cols=2, subplot_titles=[m.header() for m in metrics])
    for col, metric in enumerate(metrics, start=1):
        for run in found:
            value = run.value(metric)
            if value is not None:
                fig.add_trace(go.Bar(x=[run.label], y=[value], name=run.label, legendgroup=run.label,
                                     showlegend=col == 1, marker_color=colors[run.label],
                                     text=[metric.format(value)], textposition="outside"), row=1, col=col)
    fig.update_yaxes(rangemode="tozero")
    return _figure(fig, 380)


def shape_boxplots(runs: Sequence[Run], colors: Palette, sequences: Sequence[object]) -> go.Figure | None:
    """Fig. 10: per shape dimension, the spread of β over the frames of a sequence; one box per run."""
    found = [run for run in runs if run.predictions is not None and run.predictions.betas is not None]
    if not found or not sequences:
        return None
    fig = make_subplots(rows=len(sequences), cols=1, vertical_spacing=0.12 / max(1, len(sequences) - 1) + 0.04,
                        subplot_titles=[f"sequence {s}" for s in sequences])
    for row, sequence in enumerate(sequences, start=1):
        for run in found:
            frames = run.predictions.frames_of(sequence)
            if not len(frames):
                continue
            betas = run.predictions.betas[frames]
            dims = np.repeat([[f"β{d + 1}" for d in range(betas.shape[1])]], len(frames), axis=0)
            fig.add_trace(go.Box(x=dims.ravel(), y=betas.ravel(), name=run.label, legendgroup=run.label,
                                 showlegend=row == 1, marker_color=colors[run.label], offsetgroup=run.label,
                                 boxpoints=False), row=row, col=1)
    if not fig.data:
        return None
    fig.update_layout(boxmode="group")
    fig.update_yaxes(title_text="β")
    return _figure(fig, 140 + 300 * len(sequences))


# --------------------------------------------------------------------------------------------- reconstructions


def reconstruction(recs: Reconstructions, index: int, title: str) -> go.Figure:
    """Input image | image with projected keypoints (and reference keypoints) | interactive textured mesh."""
    fig = make_subplots(rows=1, cols=3, specs=[[{"type": "xy"}, {"type": "xy"}, {"type": "scene"}]],
                        subplot_titles=["input", "keypoints", "3D mesh (drag to rotate)"],
                        horizontal_spacing=0.03, column_widths=[0.3, 0.3, 0.4])
    image = recs.images[index]
    source = _png_data_uri(image)
    for col in (1, 2):
        fig.add_trace(go.Image(source=source, hoverinfo="skip"), row=1, col=col)
    if recs.keypoints_ref is not None:
        ref = recs.keypoints_ref[index]
        fig.add_trace(go.Scatter(x=ref[:, 0], y=ref[:, 1], mode="markers", name="reference",
                                 marker=dict(symbol="x", size=6, color="white", line=dict(width=1, color="black"))),
                      row=1, col=2)
    for trace in _skeleton(recs.keypoints[index]):
        fig.add_trace(trace, row=1, col=2)
    fig.add_trace(_mesh(recs.vertices[index], recs.faces, recs.face_colors[index]), row=1, col=3)
    height, width = image.shape[:2]
    for col in (1, 2):
        fig.update_xaxes(visible=False, range=[0, width], row=1, col=col)
        fig.update_yaxes(visible=False, range=[height, 0], scaleanchor=f"x{col}", row=1, col=col)
    fig.update_scenes(xaxis_visible=False, yaxis_visible=False, zaxis_visible=False, aspectmode="data",
                      camera=dict(eye=dict(x=0, y=0, z=2.0), up=dict(x=0, y=1, z=0)))
    fig.update_layout(showlegend=False)
    return _figure(fig, 380, title)


def _skeleton(keypoints: np.ndarray) -> list[go.Scatter]:
    """Bones and joints of 21 FreiHAND-order keypoints, coloured per finger."""
    traces = []
    for finger in range(5):
        chain = [0] + [1 + 4 * finger + k for k in range(4)]
        traces.append(go.Scatter(x=keypoints[chain, 0], y=keypoints[chain, 1], mode="lines+markers",
                                 line=dict(color=FINGER_COLORS[finger], width=2), marker=dict(size=5),
                                 text=[FREIHAND_NAMES[j].replace("_", " ") for j in chain],
                                 hovertemplate="%{text}<extra></extra>"))
    traces.append(go.Scatter(x=keypoints[:1, 0], y=keypoints[:1, 1], mode="markers", text=["wrist"],
                             marker=dict(size=7, color=WRIST_COLOR), hovertemplate="%{text}<extra></extra>"))
    return traces


def _mesh(vertices: np.ndarray, faces: np.ndarray, face_colors: np.ndarray) -> go.Mesh3d:
    # OpenCV camera frame (y down, z forward) -> y up, z toward the viewer: the default view matches the image.
    v = vertices * np.array([1.0, -1.0, -1.0])
    rgb = (np.clip(face_colors, 0, 1) * 255).round().astype(int)
    return go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=faces[:, 0], j=faces[:, 1], k=faces[:, 2],
                     facecolor=[f"rgb({r},{g},{b})" for r, g, b in rgb], flatshading=True, hoverinfo="skip",
                     lighting=dict(ambient=0.75, diffuse=0.35, specular=0.05, roughness=0.9))


def _png_data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


__all__ = ["palette", "pck_3d", "pck_2d", "metric_curves", "loss_keys", "sweep_parameters", "sweep_parallel",
           "sweep_scatter", "acc_bars", "joint_trajectory", "appearance_bars", "shape_boxplots", "reconstruction"]
