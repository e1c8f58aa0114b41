"""Assemble the dashboard and the paper tables from a loaded ``Experiment`` (see ``data.load_experiment``).

Each section is built from what the runs hold; a section or figure without data becomes a one-line note.
"""
from __future__ import annotations

import dataclasses
import html
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from s2hand.dashboards import figures, tables
from s2hand.dashboards.data import Experiment, Run
from s2hand.dashboards.metrics import MPJPE, Metric, metric_by_name
from s2hand.dashboards.page import Section, render_page
from s2hand.io.atomic import atomic_write

DASHBOARD_FILE = "index.html"


@dataclass(frozen=True)
class Options:
    """Choices the data cannot make: the sweep target, the sequence and joint to follow, the samples to show."""

    target: str | None = None  # sweep metric; default: the sweep's own (sweep.yaml), else MPJPE
    sequence: str | None = None  # default: the first sequence of the first predictions file
    joint: int = 8  # FreiHAND order; 8 = index fingertip
    samples: Sequence[int] | None = None  # reconstruction sample ids; default: the first few of each file
    max_samples: int = 3
    max_box_sequences: int = 3


def build_dashboard(experiment: Experiment, options: Options = Options()) -> str:
    runs = experiment.runs
    leaves = experiment.leaf_runs()
    colors = figures.palette(runs)
    sections = [
        _runs_section(runs),
        _comparison_section(leaves),
        _curves_section(leaves, colors),
        _training_section(experiment, leaves, colors),
        _sweeps_section(experiment, options),
        _smoothness_section(leaves, colors, options),
        _appearance_section(leaves, colors, options),
        _reconstructions_section(leaves, options),
    ]
    meta = (f"experiment <b>{html.escape(experiment.name)}</b> · {len(runs)} runs · "
            f"{html.escape(experiment.origin)} · generated {time.strftime('%Y-%m-%d %H:%M')}")
    return render_page(f"s2hand dashboard: {experiment.name}", meta, sections)


def write_dashboard(out: str | os.PathLike, page: str) -> Path:
    path = Path(out) / DASHBOARD_FILE
    with atomic_write(path, encoding="utf-8") as handle:
        handle.write(page)
    return path


# --------------------------------------------------------------------------------------------- sections


def _runs_section(runs: Sequence[Run]) -> Section:
    section = Section("Runs", "runs")
    if not runs:
        section.add(None, "no runs in this experiment")
        return section
    rows, labels = [], {run.id: run.label for run in runs}
    parents = {run.parent_id for run in runs}
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.start_time / 1000)) if run.start_time else ""
        stage = run.tags.get("stage") or ("sweep" if run.id in parents else "")
        cells = [run.label, run.id[:8] if run.source == "mlflow" else Path(run.source).name, stage,
                 run.tags.get("variant", ""), run.dataset, run.tags.get("hand_model", ""),
                 labels.get(run.parent_id, run.parent_id or ""), run.status, started]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    heads = ("Run", "Id", "Stage", "Variant", "Dataset", "Hand model", "Sweep", "Status", "Started")
    head = "".join(f'<th data-type="text">{h}</th>' for h in heads)
    section.add(f'<div class="scroll"><table class="paper sortable"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table></div>')
    return section


def _comparison_section(runs: Sequence[Run]) -> Section:
    section = Section("Comparison", "comparison", intro="In the layout of the paper's Tables 1-2: best in bold, "
                      "second underlined; click a header to sort. AUC and F-scores after Procrustes alignment.")
    found = tables.comparison_tables(runs)
    for table in found:
        section.add(tables.to_html(table))
    if not found:
        section.add(None, "no run has evaluation scores yet (run `s2hand evaluate --mlflow-run ID`, or pass "
                          "--scores)")
    return section


def _curves_section(runs: Sequence[Run], colors: dict[str, str]) -> Section:
    section = Section("PCK curves", "pck", intro="Fraction of joints / vertices within an error threshold "
                      "(after Procrustes alignment), from the curves of each run's scores.json.")
    section.add(figures.pck_3d(runs, colors), "no 3D PCK curves (`curves` in scores.json)")
    pck_2d = figures.pck_2d(runs, colors)
    if pck_2d is not None:
        section.add("<h3>2D keypoints (Fig. 7)</h3>")
        section.add(pck_2d)
    else:
        section.add(None, "no 2D PCK curves (`curves_2d` in scores.json)")
    return section


def _training_section(experiment: Experiment, runs: Sequence[Run], colors: dict[str, str]) -> Section:
    section = Section("Training", "training", intro="Every loss term per run over optimiser steps (log scale where "
                      "it spans orders of magnitude); then validation metrics and learning rate.")
    history = experiment.history
    section.add(figures.metric_curves(history, runs, colors, figures.loss_keys(history)),
                "no loss terms logged (train/<term> metrics)")
    other = sorted(k for k in set(history["key"]) if k.startswith("eval_") or k == "lr")
    validation = figures.metric_curves(history, runs, colors, other)
    if validation is not None:
        section.add("<h3>Validation during training</h3>")
        section.add(validation)
    return section


def _sweeps_section(experiment: Experiment, options: Options) -> Section:
    section = Section("Sweeps", "sweeps", intro="Each trial of a sweep as a line through its parameters to the "
                      "target metric, and the target against each parameter (the best trial is a star).")
    sweeps = experiment.sweeps()
    for parent, children in sweeps:
        target = sweep_target(parent, options.target)
        section.add(f"<h3>{html.escape(parent.label)} · {len(children)} trials · target "
                    f"{html.escape(target.header())}</h3>")
        section.add(figures.sweep_parallel(parent, children, target),
                    f"no trial of {parent.label} has {target.label} yet")
        section.add(figures.sweep_scatter(parent, children, target))
    if not sweeps:
        section.add(None, "no sweep runs (runs with child runs) in this experiment")
    return section


def sweep_target(parent: Run, override: str | None = None) -> Metric:
    """The metric a sweep optimised: ``override``, else its ``metric`` / ``mode`` (sweep.yaml, or the parent run's
    params as ``s2hand sweep`` logs them), else MPJPE."""
    defined = {**parent.params, **(parent.sweep or {})}
    name = override or defined.get("metric")
    if not name:
        return MPJPE
    metric = metric_by_name(str(name))
    mode = None if override else defined.get("mode")
    if mode in ("min", "max") and (mode == "max") != metric.higher_is_better:
        metric = dataclasses.replace(metric, higher_is_better=mode == "max")
    return metric


def _smoothness_section(runs: Sequence[Run], colors: dict[str, str], options: Options) -> Section:
    section = Section("Smoothness", "smoothness", intro="Acceleration of the predicted joints per sequence "
                      "(ACC; ACC-ERR against the ground truth's), and one joint's trajectory over a sequence.")
    section.add(figures.acc_bars(runs, colors), "no per-sequence accelerations (`acc_per_sequence` in scores.json; "
                                                "video splits only)")
    sequence = options.sequence or _first_sequence(runs)
    trajectory = figures.joint_trajectory(runs, colors, sequence, options.joint) if sequence is not None else None
    section.add(trajectory, "no joint trajectories (pass a predictions.npz with --predictions, or log it as a run "
                            "artifact)" if sequence is None else f"no predictions for sequence {sequence}")
    return section


def _appearance_section(runs: Sequence[Run], colors: dict[str, str], options: Options) -> Section:
    section = Section("Appearance consistency", "appearance", intro="Table 9: standard deviation of the lit "
                      "texture and of the shape β over the frames of a sequence; Fig. 10: spread of each β "
                      "dimension per sequence.")
    section.add(figures.appearance_bars(runs, colors), "no texture / shape S.D. (texture_sd, shape_sd)")
    sequences = _box_sequences(runs, options)
    section.add(figures.shape_boxplots(runs, colors, sequences) if sequences else None,
                "no per-frame shape parameters (betas in predictions.npz)")
    return section


def _reconstructions_section(runs: Sequence[Run], options: Options) -> Section:
    section = Section("Reconstructions", "reconstructions", intro="Chosen evaluation samples: input, projected "
                      "keypoints, and the textured mesh (drag to rotate, scroll to zoom).")
    for run in runs:
        recs = run.reconstructions
        if recs is None:
            continue
        ids = [int(i) for i in recs.ids]
        wanted = [i for i in options.samples if i in ids] if options.samples else ids[: options.max_samples]
        for sample in wanted:
            section.add(figures.reconstruction(recs, ids.index(sample), f"{run.label} · sample {sample}"))
    if not section.blocks:
        section.add(None, "no reconstructions (reconstructions.npz as a run artifact or --reconstructions)")
    return section


def _first_sequence(runs: Sequence[Run]) -> str | None:
    for run in runs:
        if run.predictions is not None and len(run.predictions.sequence):
            return str(run.predictions.sequence_ids()[0])
    return None


def _box_sequences(runs: Sequence[Run], options: Options) -> list[str]:
    ids: list[str] = [options.sequence] if options.sequence else []
    for run in runs:
        if run.predictions is not None and run.predictions.betas is not None:
            ids += [str(s) for s in run.predictions.sequence_ids() if str(s) not in ids]
    return ids[: options.max_box_sequences]


# --------------------------------------------------------------------------------------------- paper tables


def build_tables(experiment: Experiment, numbers: Sequence[int] = tuple(tables.PAPER_TABLES)) -> tuple[str, str]:
    """(markdown, HTML page) of the paper tables that have tagged runs, with a note for each one skipped."""
    found, skipped = tables.paper_tables(experiment.runs, numbers)
    header = f"# Paper tables: experiment {experiment.name}\n\nFrom {experiment.origin}, " \
             f"{time.strftime('%Y-%m-%d %H:%M')}. Best in bold, second underlined.\n"
    markdown = "\n".join([header] + [tables.to_markdown(t) for t in found] +
                         ([("Skipped:\n\n" + "\n".join(f"- {s}" for s in skipped) + "\n")] if skipped else []))
    section = Section("Paper tables", "tables")
    for table in found:
        section.add(tables.to_html(table))
    for note in skipped:
        section.add(None, note)
    meta = f"experiment <b>{html.escape(experiment.name)}</b> · {html.escape(experiment.origin)}"
    return markdown, render_page(f"s2hand tables: {experiment.name}", meta, [section], plotly=False)


__all__ = ["Options", "build_dashboard", "write_dashboard", "build_tables", "sweep_target", "DASHBOARD_FILE"]
