"""Paper-style tables: a run comparison in the layout of Tables 1-2, and the paper's Tables 1-9 from tagged runs.

Which runs fill which table:
  - the paper's jobs are named ``paper-table<N>-<row>`` (jobs/paper/): a run, or a sweep's trial, whose run name or
    ``sweep`` tag has that form is a row of Table N;
  - MLflow run tags, for any other run: ``s2hand.table`` = the tables a run is a row of, numbers separated by
    commas (``"4,5,9"``; it replaces what the name says) and ``s2hand.row`` = the row's label. A sweep's parent run
    tagged ``s2hand.table`` makes each of its trials a row.
Row labels: ``s2hand.row``, else (Table 7) ``interv=I, n=N`` from the spec, else a trial's swept values
(``sweep_params`` tag), else the job's ``<row>``, else the run name. Rows are ordered by the job's number prefix
(``3_loc_regu_ori``), then by start time; when several runs give one table the same row, the latest is used.
Table 3's loss columns are the terms the run's spec really computes (``ExperimentSpec.loss_weights``; needs the
runs loaded with ``specs=True``).
Table 5's train-set columns come from the run's ``scores.train.json`` (or ``scores.training.json``) artifact;
every other column from ``scores.json`` / ``eval/<key>`` metrics (see ``metrics.lookup``).

Marks as in the paper: per column the best value in bold, the second underlined (values compared as displayed, so
ties share a mark). ``to_markdown`` writes GitHub markdown (``<u>`` for underline); ``to_html`` a sortable table.
"""
from __future__ import annotations

import functools
import html
import json
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from s2hand.dashboards.data import Run
from s2hand.dashboards.metrics import (
    ACC,
    ACC_ERR,
    AUC_J,
    AUC_V,
    F_5,
    F_15,
    MAIN_METRICS,
    MPJPE,
    MPVPE,
    QUAT,
    SHAPE_SD,
    TEXTURE_SD,
    Metric,
)

TABLE_TAG = "s2hand.table"
ROW_TAG = "s2hand.row"
JOB_NAME = re.compile(r"^paper-table(?P<table>\d+)-(?P<row>.+)$")  # jobs/paper/table3/2_loc_regu.yaml's name
ROW_ORDER = re.compile(r"^(\d+)_")
TRAIN_SPLITS = ("train", "training")  # HO-3D and FreiHAND name their training split differently
Mark = str | None  # "best", "second" or None


@dataclass(frozen=True)
class Column:
    """A metric column; ``splits`` are tried in order (None: the run's evaluation split)."""

    metric: Metric
    splits: tuple[str | None, ...] = (None,)
    group: str = ""  # a header prefix, e.g. Table 5's "Train set"

    def header(self, html: bool = False) -> str:
        return (f"{self.group}: " if self.group else "") + self.metric.header(html)

    def value(self, run: Run) -> float | None:
        return next((v for s in self.splits if (v := run.value(self.metric, s)) is not None), None)


@dataclass
class Row:
    texts: list[str]
    values: list[float | None]
    run_id: str = ""


@dataclass
class Table:
    key: str
    title: str
    text_headers: list[str]
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def marks(self) -> list[list[Mark]]:
        """Per row and metric column: best / second / None."""
        per_column = [_column_marks([row.values[c] for row in self.rows], column.metric)
                      for c, column in enumerate(self.columns)]
        return [[per_column[c][r] for c in range(len(self.columns))] for r in range(len(self.rows))]


def _column_marks(values: Sequence[float | None], metric: Metric) -> list[Mark]:
    shown = [None if v is None else round(v, metric.digits) for v in values]
    distinct = sorted({v for v in shown if v is not None}, reverse=metric.higher_is_better)
    if sum(v is not None for v in shown) < 2:  # one value is neither best nor worst of anything
        return [None] * len(values)
    rank = {value: ("best", "second")[i] for i, value in enumerate(distinct[:2])}
    return [rank.get(v) if v is not None else None for v in shown]


# --------------------------------------------------------------------------------------------- run comparison


def comparison_tables(runs: Sequence[Run]) -> list[Table]:
    """Tables 1-2 layout (AUC_J, MPJPE, AUC_V, MPVPE, F_5, F_15) for every run with a score, one table per
    dataset: ranking runs evaluated on different data would mean nothing."""
    columns = [Column(m) for m in MAIN_METRICS]
    by_dataset: dict[str, list[Run]] = {}
    for run in runs:
        if any(c.value(run) is not None for c in columns):
            by_dataset.setdefault(run.dataset or "unknown dataset", []).append(run)
    tables = []
    for dataset, members in by_dataset.items():
        table = Table(f"comparison-{_slug(dataset)}", f"Runs evaluated on {dataset}",
                      ["Run", "Stage", "Variant"], columns)
        for run in members:
            table.rows.append(Row([run.label, run.tags.get("stage", ""), run.tags.get("variant", "")],
                                  [c.value(run) for c in columns], run.id))
        tables.append(table)
    return tables


# --------------------------------------------------------------------------------------------- paper tables


def row_label(run: Run) -> str:
    if ROW_TAG in run.tags:
        return run.tags[ROW_TAG]
    swept = _swept_values(run)
    if swept:
        return swept
    job = JOB_NAME.match(run.name)
    return job["row"] if job else run.name


def _swept_values(run: Run) -> str:
    """``w_ori=100, use_2d_branch=false`` from a sweep trial's ``sweep_params`` tag (JSON), else ""."""
    try:
        params = json.loads(run.tags.get("sweep_params", "{}"))
    except ValueError:
        return ""
    if not isinstance(params, dict):
        return ""
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={value if isinstance(value, str) else json.dumps(value)}"
                     for key, value in params.items())


def _config_label(run: Run) -> str:
    if ROW_TAG in run.tags:
        return run.tags[ROW_TAG]
    interval, frames = run.params.get("data.sequence.interval"), run.params.get("data.sequence.frames")
    return f"interv={interval}, n={frames}" if interval and frames else row_label(run)


@functools.lru_cache(maxsize=256)
def _active_terms(spec_yaml: str) -> frozenset[str] | None:
    from s2hand.config import loads_spec
    from s2hand.errors import S2HandError

    try:
        return frozenset(loads_spec(spec_yaml, source="spec.yaml").loss_weights())
    except S2HandError:  # a spec of an older schema: say "?" rather than guess
        return None


def _terms(*any_of: str) -> Callable[[Run], str]:
    """✓ if the run's spec computes one of these loss terms, blank if none, ? without its spec."""
    def check(run: Run) -> str:
        active = _active_terms(run.spec_yaml) if run.spec_yaml else None
        return "?" if active is None else "✓" if active.intersection(any_of) else ""
    return check


@dataclass(frozen=True)
class PaperTable:
    number: int
    title: str
    columns: tuple[Column, ...]
    lead: tuple[tuple[str, Callable[[Run], str]], ...] = (("Method", row_label),)


_MAIN = tuple(Column(m) for m in MAIN_METRICS)
PAPER_TABLES: dict[int, PaperTable] = {t.number: t for t in (
    PaperTable(1, "Main results on FreiHAND", _MAIN),
    PaperTable(2, "Main results on HO-3D", _MAIN),
    PaperTable(3, "Ablation of the losses on FreiHAND",
               tuple(Column(m) for m in (MPJPE, MPVPE, AUC_J, AUC_V, F_5, F_15)),
               (("Run", row_label), ("E_loc", _terms("loc")),
                ("E_regu", _terms("beta", "texture", "scale", "joint_angle")), ("E_ori", _terms("ori")),
                ("E_2d, E_cons", _terms("kp2d", "cons")), ("E_photo", _terms("pixel", "ssim")))),
    PaperTable(4, "Accuracy of motion-related constraints on HO-3D", _MAIN),
    PaperTable(5, "Smoothness of motion-related constraints on HO-3D",
               (Column(ACC_ERR, TRAIN_SPLITS, "Train set"), Column(ACC, TRAIN_SPLITS, "Train set"),
                Column(QUAT, TRAIN_SPLITS, "Train set"), Column(ACC, group="Test set"),
                Column(QUAT, group="Test set"))),
    PaperTable(6, "Self-supervised vs weakly-supervised",
               tuple(Column(m) for m in (AUC_J, AUC_V, F_5, F_15)),
               (("Dataset", lambda run: run.dataset or "?"), ("Method", row_label))),
    PaperTable(7, "Configurations of the quaternion loss on HO-3D",
               tuple(Column(m) for m in (AUC_J, MPJPE, AUC_V, MPVPE)), (("Config", _config_label),)),
    PaperTable(8, "Extra in-the-wild data (YT 3D) on HO-3D", _MAIN),
    PaperTable(9, "Hand appearance consistency on HO-3D", (Column(TEXTURE_SD), Column(SHAPE_SD))),
)}


def table_numbers(run: Run) -> set[int]:
    """The tables a run belongs to: its ``s2hand.table`` tag ("3", "4,5,9"), else what its job name or its
    sweep's name says (``paper-table3-...``)."""
    if TABLE_TAG in run.tags:
        return {int(n) for n in re.findall(r"\d+", run.tags[TABLE_TAG])}
    names = (run.name, run.tags.get("sweep", ""))
    return {int(m["table"]) for m in map(JOB_NAME.match, names) if m}


def paper_tables(runs: Sequence[Run], numbers: Sequence[int] = tuple(PAPER_TABLES)) -> tuple[list[Table], list[str]]:
    """(tables with at least one run, notes on the tables skipped)."""
    by_id = {run.id: run for run in runs}
    parents = {run.parent_id for run in runs if run.parent_id}
    tagged = {run.id: table_numbers(run) | (table_numbers(by_id[run.parent_id]) if run.parent_id in by_id else set())
              for run in runs if run.id not in parents}  # a sweep's rows are its trials
    tables, skipped = [], []
    for number in numbers:
        spec = PAPER_TABLES[number]
        members = sorted((r for r in runs if number in tagged.get(r.id, ())), key=_row_order)
        if not members:
            skipped.append(f"Table {number} ({spec.title}): no runs named paper-table{number}-* or tagged "
                           f"{TABLE_TAG}={number}; skipped.")
            continue
        table = Table(f"table{number}", f"Table {number}: {spec.title}", [h for h, _ in spec.lead],
                      list(spec.columns))
        rows: dict[str, Row] = {}  # by label, in order of first appearance; a later run replaces the earlier
        for run in members:
            texts = [fn(run) for _, fn in spec.lead]
            label = " | ".join(texts)
            if label in rows:
                table.notes.append(f"row {label!r}: run {run.id[:8]} replaces run {rows[label].run_id[:8]}")
            rows[label] = Row(texts, [c.value(run) for c in spec.columns], run.id)
        table.rows = list(rows.values())
        if all(v is None for row in table.rows for v in row.values):
            table.notes.append("the tagged runs have none of these metrics yet (run `s2hand evaluate`)")
        tables.append(table)
    return tables, skipped


def _row_order(run: Run) -> tuple[float, int]:
    job = JOB_NAME.match(run.name)
    number = ROW_ORDER.match(job["row"]) if job else None
    return (int(number[1]) if number else math.inf, run.start_time)


# --------------------------------------------------------------------------------------------- rendering


def to_markdown(table: Table) -> str:
    headers = table.text_headers + [c.header() for c in table.columns]
    lines = [f"**{table.title}**", "", "| " + " | ".join(headers) + " |",
             "|" + "|".join([" --- "] * len(table.text_headers) + [" ---: "] * len(table.columns)) + "|"]
    for row, marks in zip(table.rows, table.marks()):
        cells = [t.replace("|", "\\|") for t in row.texts]
        cells += [_md_mark(c.metric.format(v), m) for c, v, m in zip(table.columns, row.values, marks)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + [f"_Note: {n}_" for n in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def _md_mark(text: str, mark: Mark) -> str:
    return f"**{text}**" if mark == "best" else f"<u>{text}</u>" if mark == "second" else text


def to_html(table: Table) -> str:
    """A ``<table class="paper sortable">``: headers of the last header row sort on click (see page.SORTER_JS);
    numeric cells carry their value in ``data-v``. Column groups (Table 5's train / test set) get a spanning
    header row above, as in the paper."""
    grouped = any(c.group for c in table.columns)
    head = ""
    if grouped:
        spans: list[list] = []
        for column in table.columns:
            if spans and spans[-1][0] == column.group:
                spans[-1][1] += 1
            else:
                spans.append([column.group, 1])
        head += "<tr class=\"groups\">" + "<th></th>" * len(table.text_headers) + "".join(
            f'<th colspan="{n}">{html.escape(g)}</th>' for g, n in spans) + "</tr>"
    head += "<tr>" + "".join(f'<th data-type="text">{html.escape(h)}</th>' for h in table.text_headers)
    head += "".join(f'<th data-type="num" title="click to sort">{c.metric.header(html=True)}</th>'
                    for c in table.columns) + "</tr>"
    body = []
    for row, marks in zip(table.rows, table.marks()):
        cells = "".join(f"<td>{html.escape(t)}</td>" for t in row.texts)
        for column, value, mark in zip(table.columns, row.values, marks):
            text = column.metric.format(value)
            text = f"<b>{text}</b>" if mark == "best" else f"<u>{text}</u>" if mark == "second" else text
            cells += f'<td class="num" data-v="{"" if value is None else repr(value)}">{text}</td>'
        body.append(f'<tr data-run="{html.escape(row.run_id)}">{cells}</tr>')
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in table.notes)
    return (f'<div class="scroll"><table class="paper sortable" id="{html.escape(table.key)}"><caption>'
            f"{html.escape(table.title)}</caption><thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>"
            f"{notes}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


__all__ = ["TABLE_TAG", "ROW_TAG", "Column", "Row", "Table", "PaperTable", "PAPER_TABLES", "comparison_tables",
           "paper_tables", "table_numbers", "row_label", "to_markdown", "to_html"]
