"""`s2hand dashboard` (a self-contained HTML dashboard of an experiment) and `s2hand tables` (the paper's tables)."""
from __future__ import annotations

import argparse
from pathlib import Path

SOURCE_HELP = ("Runs are read (never written) from --tracking-uri, else from the embedded MLflow server of --root "
               "(default: $S2HAND_RUNS_DIR or ./runs), started for the duration if it is not running.")
TAGS_HELP = ("Rows are the runs of the paper's jobs (named paper-table<N>-<row>, see jobs/paper/; a sweep's trials "
             "each give a row), or runs tagged s2hand.table=<numbers> (e.g. \"4,5,9\") and s2hand.row=<label>; Table "
             "5's train-set columns come from a scores.train.json artifact.")


def register(subparsers: argparse._SubParsersAction) -> None:
    dashboard = subparsers.add_parser(
        "dashboard", help="build a self-contained HTML dashboard of an experiment's runs",
        description="Build DIR/index.html (plotly.js embedded: works offline) comparing the runs of an MLflow "
        "experiment: scores in the layout of the paper's Tables 1-2, PCK curves, loss curves, sweeps, smoothness, "
        "appearance consistency and reconstructions. Sections without data are left out with a note. "
        + SOURCE_HELP)
    _source_arguments(dashboard, required=False)
    dashboard.add_argument("--runs", help="comma-separated run ids or unique id prefixes (default: all; a sweep's "
                           "parent brings its trials)")
    dashboard.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    dashboard.add_argument("--scores", action="append", default=[], metavar="[LABEL=]PATH",
                           help="a scores.json written by `s2hand evaluate` (repeatable); LABEL names a loaded run "
                           "to attach it to, or a new row (default: the file's folder name)")
    dashboard.add_argument("--predictions", action="append", default=[], metavar="[LABEL=]PATH",
                           help="a predictions.npz (per-frame joints, sequence ids; see s2hand.dashboards.results)")
    dashboard.add_argument("--reconstructions", action="append", default=[], metavar="[LABEL=]PATH",
                           help="a reconstructions.npz (images, keypoints, textured meshes of chosen samples)")
    dashboard.add_argument("--target", help="sweep metric, e.g. MPJPE or xyz_al_mean3d (default: the sweep's own)")
    dashboard.add_argument("--sequence", help="sequence whose joint trajectory to plot (default: the first)")
    dashboard.add_argument("--joint", default="8", help="joint to follow: FreiHAND index or name (default: 8, "
                           "index_tip)")
    dashboard.add_argument("--samples", help="comma-separated reconstruction sample ids (default: the first 3)")
    dashboard.add_argument("--serve", action="store_true", help="then serve DIR on 127.0.0.1 until Ctrl-C")
    dashboard.add_argument("--port", type=int, default=0, help="port for --serve (default: a free one)")
    dashboard.set_defaults(func=_dashboard)

    tables = subparsers.add_parser(
        "tables", help="write the paper's tables from tagged runs (markdown and HTML)",
        description="Write the paper's Tables 1-9 (the ablations are Tables 3-9) as tables.md and tables.html; "
        "tables without runs are skipped with a note. " + TAGS_HELP + " " + SOURCE_HELP)
    _source_arguments(tables, required=True)
    tables.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: print the markdown)")
    tables.add_argument("--tables", help="comma-separated table numbers (default: all)")
    tables.set_defaults(func=_tables)


def _source_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--experiment", required=required, metavar="NAME", help="MLflow experiment name")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (http://..., sqlite:///...)")
    source.add_argument("--root", type=Path, metavar="DIR", help="run root holding mlflow/ (embedded server)")


def _dashboard(args: argparse.Namespace) -> int:
    from s2hand.dashboards.build import Options, build_dashboard, write_dashboard
    from s2hand.dashboards.data import Experiment, attach_files

    files = {"scores": args.scores, "predictions": args.predictions, "reconstructions": args.reconstructions}
    if not args.experiment and not any(files.values()):
        raise _error("give --experiment NAME, or result files (--scores, --predictions, --reconstructions)")
    options = Options(target=args.target, sequence=args.sequence, joint=_joint(args.joint),
                      samples=_ints(args.samples, "--samples"))
    experiment = _load(args) if args.experiment else Experiment("result files", "local files", [])
    for kind, entries in files.items():
        for entry in entries:
            label, path = _labelled(entry)
            attach_files(experiment, label, **{kind: path})
    path = write_dashboard(args.out, build_dashboard(experiment, options))
    print(f"dashboard of {len(experiment.runs)} runs written to {path}")
    if args.serve:
        from s2hand.dashboards.serve import serve

        serve(args.out, args.port)
    return 0


def _tables(args: argparse.Namespace) -> int:
    from s2hand.dashboards.build import build_tables
    from s2hand.dashboards.tables import PAPER_TABLES
    from s2hand.io.atomic import atomic_write

    numbers = _ints(args.tables, "--tables") or list(PAPER_TABLES)
    unknown = sorted(set(numbers) - set(PAPER_TABLES))
    if unknown:
        raise _error(f"--tables: no table {unknown[0]}; the paper's are 1-{max(PAPER_TABLES)}")
    markdown, page = build_tables(_load(args, history=False, specs=True), numbers)
    if args.out is None:
        print(markdown)
        return 0
    for name, text in (("tables.md", markdown), ("tables.html", page)):
        with atomic_write(args.out / name, encoding="utf-8") as handle:
            handle.write(text)
    print(f"tables written to {args.out / 'tables.md'} and {args.out / 'tables.html'}")
    return 0


def _load(args: argparse.Namespace, history: bool = True, specs: bool = False):
    import sys

    from s2hand.dashboards.data import load_experiment, open_store
    from s2hand.tracking.server import default_root

    run_ids = [r.strip() for r in (getattr(args, "runs", None) or "").split(",") if r.strip()]
    announce = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    with open_store(args.tracking_uri, args.root, on_start=announce) as uri:
        experiment = load_experiment(uri, args.experiment, run_ids or None, history=history, specs=specs)
    if not args.tracking_uri:
        experiment.source = f"run root {(args.root or default_root()).expanduser().resolve()}"
    return experiment


def _labelled(entry: str) -> tuple[str, Path]:
    """'LABEL=PATH' or 'PATH' (label: the folder of a standard file name, else the file's stem)."""
    label, sep, path = entry.partition("=")
    if not sep:
        label, path = "", entry
    path_ = Path(path).expanduser()
    if not path_.is_file():
        raise _error(f"{path_}: no such file")
    standard = path_.name.startswith("scores") or path_.name in ("predictions.npz", "reconstructions.npz")
    return label or (path_.resolve().parent.name if standard else path_.stem), path_


def _joint(text: str) -> int:
    from s2hand.hand.joints import FREIHAND_NAMES

    if text.isdigit() and int(text) < len(FREIHAND_NAMES):
        return int(text)
    if text in FREIHAND_NAMES:
        return FREIHAND_NAMES.index(text)
    raise _error(f"--joint {text!r}: give 0-20 or a name ({', '.join(FREIHAND_NAMES)})")


def _ints(text: str | None, option: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _error(f"{option} {text!r}: expected comma-separated integers") from None


def _error(message: str) -> Exception:
    from s2hand.errors import S2HandError

    return S2HandError(message)
