"""Dashboards and paper tables built from a REAL MLflow store (embedded `mlflow server`, no mocks).

The module fixture starts the server in a temporary root and fills one experiment the way the platform does:
two trained runs (MlflowLogger callback: per-step loss terms, epoch metrics), evaluated like `s2hand evaluate`
(eval/<key> metrics, scores.json with real PCK curves from s2hand.evaluation, scores.train.json, predictions.npz,
reconstructions.npz) and tagged s2hand.table / s2hand.row, a sweep parent with trials, and Table 3 runs of the
paper's own jobs (jobs/paper/table3, found by their names).
``build_demo`` is shared with test_dashboards_browser.py, which opens the same page in Chromium.
"""
from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric as MlflowMetric

from s2hand.cli import main
from s2hand.config import load_spec
from s2hand.dashboards.results import (
    read_predictions,
    read_reconstructions,
    write_predictions,
    write_reconstructions,
)
from s2hand.errors import DataError
from s2hand.tracking.mlflow_logger import (
    MlflowLogger,
    TrackingHandle,
    finish_run,
    prepare_tracking,
    start_child_run,
    start_parent_run,
    start_run,
)
from s2hand.tracking.server import ensure_server, stop_server

EXPERIMENT = "dashboard-demo"
REPO = Path(__file__).resolve().parents[1]
SEQUENCES = ("SM1", "AP13", "AP10")  # HO-3D test sequence names, as in the paper's Fig. 10


# --------------------------------------------------------------------------------------------- a realistic store


def _evaluation(noise: float, seed: int) -> tuple[dict, dict, dict]:
    """(scores.json, scores.train.json, predictions arrays) as `s2hand evaluate` computes them, for predictions
    whose error grows with ``noise``: 3D scores of synthetic hands, 2D PCK, and smooth video sequences."""
    from s2hand.evaluation.appearance import shape_sd
    from s2hand.evaluation.keypoints2d import PCK2D_THRESHOLDS_PX, mpjpe_2d, pck_2d
    from s2hand.evaluation.scoring import scalar_scores, score_freihand
    from s2hand.evaluation.synthetic import synthetic_hands, synthetic_predictions
    from s2hand.evaluation.temporal import acceleration_metrics

    rng = np.random.default_rng(seed)
    gt_j, gt_v, params = synthetic_hands(16, seed=0)
    pred_j, pred_v = synthetic_predictions(params, seed=1, pose_noise=0.3 * noise, rot_noise=0.12 * noise,
                                           scale_noise=0.04 * noise, trans_noise=0.01 * noise,
                                           vert_noise=0.003 * noise)
    full = score_freihand(pred_j, pred_v, gt_j, gt_v)
    scores = scalar_scores(full)
    scores["curves"] = {k: np.asarray(v).tolist() for k, v in full["curves"].items()}
    kp_gt = rng.uniform(40, 180, (64, 21, 2))
    sets = {"projected": kp_gt + rng.normal(0, 5 * noise, kp_gt.shape),
            "predicted": kp_gt + rng.standard_t(3, kp_gt.shape) * 3 * noise}
    scores["curves_2d"] = {"thresholds_px": PCK2D_THRESHOLDS_PX.tolist(),
                           **{k: pck_2d(v, kp_gt).tolist() for k, v in sets.items()}}
    scores["mpjpe_2d_px"] = mpjpe_2d(sets["projected"], kp_gt)

    frames = np.arange(40)
    base, _, _ = synthetic_hands(len(SEQUENCES), seed=5)
    gt_seq, pred_seq, betas, sequence = [], [], [], []
    for s, name in enumerate(SEQUENCES):
        path = 0.03 * np.stack([np.sin(frames / 7 + s), np.cos(frames / 9), 0.5 * np.sin(frames / 11)], 1)
        truth = base[s][None] + path[:, None, :]
        gt_seq.append(truth)
        pred_seq.append(truth + rng.normal(0, 0.0025 * noise, truth.shape))
        betas.append(rng.normal(0, 0.6, 10)[None] + rng.normal(0, 0.25 * noise, (len(frames), 10)))
        sequence += [name] * len(frames)
    gt_seq, pred_seq, betas = np.concatenate(gt_seq), np.concatenate(pred_seq), np.concatenate(betas)
    acc = acceleration_metrics(pred_seq, sequence, gt_seq)
    scores.update(acc=acc["acc"], acc_err=acc["acc_err"], acc_per_sequence=acc["per_sequence"],
                  quat_loss=0.02 * noise, shape_sd=shape_sd(betas, sequence), texture_sd=0.03 * noise,
                  samples=16)
    train = {"acc": acc["acc"] * 0.8, "acc_err": acc["acc_err"] * 0.9, "quat_loss": 0.014 * noise}
    predictions = dict(joints=pred_seq, sequence=np.array(sequence), frame=np.tile(frames, len(SEQUENCES)),
                       gt_joints=gt_seq, betas=betas)
    return scores, train, predictions


def _hand_pictures(hand: dict, angles: tuple[float, ...], size: int = 224) -> dict:
    """Reconstructions of the open hand seen from a few angles: a painter's-algorithm rendering as the 'input',
    projected FreiHAND keypoints, camera-frame vertices, lit per-face colours."""
    from PIL import Image, ImageDraw

    from s2hand.hand.joints import ho3d_to_freihand

    faces = hand["f"].astype(np.int64)
    model = hand["v_template"] - hand["v_template"].mean(0)
    # model axes (fingers -x, palm -y, thumb +z) -> OpenCV camera: fingers up, palm to the camera, thumb right
    to_camera = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    focal, centre = 480.0, size / 2
    rng = np.random.default_rng(3)
    albedo = np.array([0.82, 0.6, 0.55]) + rng.normal(0, 0.03, (len(faces), 3))
    out = {k: [] for k in ("images", "keypoints", "vertices", "face_colors")}
    for angle in angles:
        rotation = _rotation(1, angle) @ _rotation(0, 15.0)
        verts = model @ to_camera.T @ rotation.T + np.array([0.0, 0.0, 0.6])
        mano16 = hand["J_regressor"] @ verts
        joints = ho3d_to_freihand(np.concatenate([mano16, verts[hand["fingertip_ids"]]]))
        tri = verts[faces]
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
        shade = 0.55 + 0.45 * np.abs(normals @ np.array([0.3, -0.4, -0.86]))
        colors = np.clip(albedo * shade[:, None], 0, 1)
        project = lambda p: p[..., :2] / p[..., 2:] * focal + centre  # noqa: E731
        image = Image.new("RGB", (size, size), (58, 74, 92))
        draw = ImageDraw.Draw(image)
        for f in np.argsort(-tri[:, :, 2].mean(1)):  # far to near
            draw.polygon([tuple(p) for p in project(tri[f])], fill=tuple((colors[f] * 255).astype(int)))
        out["images"].append(np.asarray(image))
        out["keypoints"].append(project(joints))
        out["vertices"].append(verts)
        out["face_colors"].append(colors)
    arrays = {k: np.stack(v) for k, v in out.items()}
    return dict(arrays, faces=faces, ids=np.array([7, 42, 105][: len(angles)]),
                keypoints_ref=arrays["keypoints"] + rng.normal(0, 2.0, arrays["keypoints"].shape))


def _rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [a for a in range(3) if a != axis]
    matrix = np.eye(3)
    matrix[[i, i, j, j], [i, j, i, j]] = c, -s, s, c
    return matrix


def _train(handle: TrackingHandle, run_id: str, spec, scale: float, seed: int) -> None:
    """What the Trainer's callback logs: per-step loss terms, epoch means, lr and validation at epoch ends."""
    rng = np.random.default_rng(seed)
    logger = MlflowLogger(handle, run_id, log_every=2, system_metrics=False, strict=True)
    trainer = SimpleNamespace(spec=spec, state=SimpleNamespace(step=0, epoch=0, skipped_steps=0), is_main=True)
    start = {"loc": 30.0, "ori": 0.02, "pixel": 0.2, "ssim": 0.4, "beta": 0.5, "texture": 0.01, "scale": 0.004,
             "joint_angle": 0.05, "kp2d": 12.0, "cons": 20.0}
    if spec.model.variant == "s2hand_v":
        start.update(quat=0.05, ts=0.8)
    for _ in range(spec.train.epochs):
        for _ in range(8):
            trainer.state.step += 1
            decay = scale * (0.35 + 0.65 * np.exp(-trainer.state.step / 8))
            terms = {k: v * decay * float(np.exp(rng.normal(0, 0.08))) for k, v in start.items()}
            logger.on_step(trainer, terms, sum(terms.values()))
        trainer.state.epoch += 1
        logger.on_epoch_end(trainer, {"epoch": float(trainer.state.epoch), "lr": spec.train.lr,
                                      "eval_pa_mpjpe_cm": 1.6 * scale - 0.1 * trainer.state.epoch}, None)
    assert logger.failures == 0


def _log_evaluation(client: MlflowClient, run_id: str, scores: dict, scratch: Path, files: dict[str, dict]) -> None:
    """As `s2hand evaluate --mlflow-run`: eval/<key> metrics and result files as artifacts."""
    now = int(time.time() * 1000)
    scalars = {k: v for k, v in scores.items() if isinstance(v, (int, float))}
    client.log_batch(run_id, metrics=[MlflowMetric(f"eval/{k}", float(v), now, 0) for k, v in scalars.items()])
    for name, content in files.items():
        path = scratch / run_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".json"):
            path.write_text(json.dumps(content))
        elif name == "predictions.npz":
            write_predictions(path, **content)
        else:
            write_reconstructions(path, **content)
        client.log_artifact(run_id, str(path))


def fill_store(root: Path, hand: dict) -> dict[str, str]:
    """One experiment as the platform writes it; returns run ids by role."""
    base = load_spec("s2hand/finetune").with_overrides({
        "tracking.experiment": EXPERIMENT, "train.epochs": 3, "data.layout": "synthetic-ho3d"})
    video = load_spec("s2hand_v/video_finetune").with_overrides({"tracking.experiment": EXPERIMENT,
                                                                 "train.epochs": 3})
    handle = prepare_tracking(base, root)
    client = handle.client()
    scratch = root / "scratch"
    ids: dict[str, str] = {}
    pictures = _hand_pictures(hand, (-20.0, 25.0))
    for role, spec, noise, row in (("s2hand", base, 1.0, "S2HAND"),
                                   ("s2hand_v", video, 0.75, "S2HAND(V) (w/ Quaternion Loss, T&S Loss)")):
        run_id = start_run(handle, spec, name=spec.name, tags={"s2hand.table": "2,4,5,9", "s2hand.row": row})
        _train(handle, run_id, spec, noise, seed=len(ids))
        scores, train, predictions = _evaluation(noise, seed=len(ids))
        files = {"scores.json": scores, "scores.train.json": train, "predictions.npz": predictions}
        if role == "s2hand_v":
            files["reconstructions.npz"] = pictures
        _log_evaluation(client, run_id, scores, scratch, files)
        ids[role] = run_id

    # a sweep as `s2hand sweep` logs it: the parent's params describe the search space, trials report per epoch
    sweep_yaml = (REPO / "jobs/sweeps/finetune_lr.yaml").read_text()
    parent = start_parent_run(handle, "finetune_lr", spec_yaml=sweep_yaml, tags={"sweep": "finetune_lr"}, params={
        "metric": "xyz_al_mean3d", "mode": "min", "search_alg": "random",
        "space.train.lr": "loguniform [5e-05, 0.001]", "space.loss.w_ori": "choice [50.0, 100.0, 200.0]"})
    ids["sweep"] = parent
    sweep_spec = base.with_overrides({"data.layout": "synthetic-freihand"})
    for i, (lr, w_ori) in enumerate(((5e-5, 50.0), (1.2e-4, 100.0), (2.5e-4, 200.0), (4e-4, 100.0), (9e-4, 50.0))):
        trial = start_child_run(handle, parent, sweep_spec.with_overrides({"train.lr": lr, "loss.w_ori": w_ori}),
                                name=f"finetune_lr_trial_{i}", tags={"sweep": "finetune_lr", "sweep_params": json.dumps(
                                    {"train.lr": lr, "loss.w_ori": w_ori})})
        mpjpe = 1.12 + 0.08 * (np.log10(lr) + 3.6) ** 2 + 0.0004 * abs(w_ori - 100)
        client.log_metric(trial, "eval_pa_mpjpe_cm", mpjpe)
        finish_run(handle, trial)
        ids[f"trial{i}"] = trial
    finish_run(handle, parent)

    # Table 3 from the paper's own jobs: no tags, the run names say which table and row (jobs/paper/table3/)
    for job, values in (("2_loc_regu", (1.54, 1.58, 0.696, 0.687, 0.387, 0.852)),
                        ("3_loc_regu_ori", (1.24, 1.26, 0.754, 0.750, 0.457, 0.903)),
                        ("6_all", (1.19, 1.20, 0.766, 0.765, 0.480, 0.920))):
        spec = load_spec(f"paper/table3/{job}").with_overrides({"tracking.experiment": EXPERIMENT})
        run_id = start_run(handle, spec)
        keys = ("MPJPE", "MPVPE", "AUC_J", "AUC_V", "F_5", "F_15")
        client.log_batch(run_id, metrics=[MlflowMetric(f"eval/{k}", v, 0, 0) for k, v in zip(keys, values)])
        finish_run(handle, run_id)
        ids[job] = run_id
    return ids


@contextlib.contextmanager
def demo_store(root: Path, hand: dict) -> Iterator[SimpleNamespace]:
    """A running embedded server under ``root`` with the demo experiment; always stopped afterwards."""
    try:
        info, _ = ensure_server(root)
        yield SimpleNamespace(root=root, uri=info.uri, ids=fill_store(root, hand))
    finally:
        stop_server(root)


def unescaped(page: str) -> str:
    """The page with the \\uXXXX escapes of plotly's JSON decoded ("train\\u002ftotal" -> "train/total")."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), page)


def build_demo(store: SimpleNamespace, out: Path) -> Path:
    code = main(["dashboard", "--experiment", EXPERIMENT, "--root", str(store.root), "--out", str(out)])
    assert code == 0
    return out / "index.html"


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def store(tmp_path_factory, open_hand_arrays) -> Iterator[SimpleNamespace]:
    with demo_store(tmp_path_factory.mktemp("dashboard-root"), open_hand_arrays) as filled:
        yield filled


@pytest.fixture(scope="module")
def page(store, tmp_path_factory) -> str:
    # Where test_dashboards_browser.py looks first, so a whole-suite run builds the page once.
    out = tmp_path_factory.getbasetemp() / "dashboard-demo"
    return unescaped(build_demo(store, out).read_text())


def _cell(page: str, table_id: str, row: str, value: str) -> str:
    """The HTML of the cell showing ``value`` in the row of ``table_id`` whose first cell is ``row``."""
    table = re.search(rf'<table class="paper sortable" id="{re.escape(table_id)}">.*?</table>', page, re.S).group(0)
    tr = re.search(rf"<tr[^>]*><td>{re.escape(row)}</td>.*?</tr>", table, re.S).group(0)
    return re.search(rf'<td class="num" data-v="[^"]*">(?:<[bu]>)?{re.escape(value)}(?:</[bu]>)?</td>', tr).group(0)


# --------------------------------------------------------------------------------------------- dashboard


def test_dashboard_has_every_section_with_figures(page):
    assert "<script src=" not in page and "<link " not in page  # self-contained: plotly.js inline
    assert len(page) > 4_000_000 and "Plotly.newPlot" in page
    for anchor in ("runs", "comparison", "pck", "training", "sweeps", "smoothness", "appearance", "reconstructions"):
        assert f'<section id="{anchor}">' in page, anchor  # none of them empty
    figures = re.findall(r'<div id="([\w-]+)" class="plotly-graph-div"', page)
    # 3D PCK, 2D PCK, loss terms, validation, sweep parcoords + scatter, ACC, trajectory, S.D. bars, boxes, 2 recs
    assert len(figures) == 12 and len(set(figures)) == 12
    for trace in ('"type":"parcoords"', '"type":"mesh3d"', '"facecolor":', '"type":"box"', '"type":"image"'):
        assert trace in page, trace
    for term in ("train/total", "train/loc", "train/quat", "train/ts", "eval_pa_mpjpe_cm"):
        assert f'"text":"{term}"' in page, term  # a panel per loss term


def test_comparison_table_marks_best_and_second(page, store):
    client = MlflowClient(store.uri)
    mpjpe = {role: client.get_run(store.ids[role]).data.metrics["eval/MPJPE"] for role in ("s2hand", "s2hand_v")}
    assert mpjpe["s2hand_v"] < mpjpe["s2hand"]  # less noise, better scores
    best, second = f"{mpjpe['s2hand_v']:.2f}", f"{mpjpe['s2hand']:.2f}"
    assert f"<b>{best}</b>" in _cell(page, "comparison-synthetic-ho3d", "s2hand_v-video_finetune", best)
    assert f"<u>{second}</u>" in _cell(page, "comparison-synthetic-ho3d", "s2hand-finetune", second)
    # the sweep's trials are compared among themselves (another dataset); the best trial is bold
    trials = {i: client.get_run(store.ids[f"trial{i}"]).data.metrics["eval_pa_mpjpe_cm"] for i in range(5)}
    winner = min(trials, key=trials.get)
    value = f"{trials[winner]:.2f}"
    assert f"<b>{value}</b>" in _cell(page, "comparison-synthetic-freihand", f"finetune_lr_trial_{winner}", value)


def test_sweep_target_and_parameters_from_the_sweep(page):
    assert "finetune_lr · 5 trials · target MPJPE ↓ (cm)" in page
    assert '"label":"log10 train.lr"' in page and '"label":"loss.w_ori"' in page


# --------------------------------------------------------------------------------------------- tables


def test_paper_tables_markdown_and_html(store, tmp_path):
    assert main(["tables", "--experiment", EXPERIMENT, "--root", str(store.root), "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "tables.md").read_text()
    assert "**Table 3: Ablation of the losses on FreiHAND**" in markdown
    table3 = markdown.split("**Table 3")[1].split("**Table 4")[0]
    assert table3.index("| 2_loc_regu |") < table3.index("| 3_loc_regu_ori |") < table3.index("| 6_all |")
    assert "| 2_loc_regu | ✓ | ✓ |  |  |  | 1.54 | 1.58 | 0.696 |" in table3  # the terms its spec computes
    assert "| 3_loc_regu_ori | ✓ | ✓ | ✓ |  |  | <u>1.24</u> | <u>1.26</u> | <u>0.754</u> |" in table3
    assert "| 6_all | ✓ | ✓ | ✓ | ✓ | ✓ | **1.19** | **1.20** | **0.766** |" in table3
    client = MlflowClient(store.uri)
    v_run = client.get_run(store.ids["s2hand_v"]).data.metrics
    row = next(line for line in markdown.split("**Table 9")[1].splitlines() if line.startswith("| S2HAND(V)"))
    assert f"**{v_run['eval/texture_sd']:.3f}**" in row and f"**{v_run['eval/shape_sd']:.3f}**" in row
    table5 = markdown.split("**Table 5")[1].split("**Table 6")[0]
    assert "Train set: ACC-ERR ↓ (mm/frame²)" in table5 and "Test set: ACC ↓ (mm/frame²)" in table5
    assert f"**{v_run['eval/acc'] * 1000:.2f}**" in table5  # test-set ACC in mm per frame²
    for n in (1, 6, 7, 8):
        assert f"- Table {n} (" in markdown and f"no runs named paper-table{n}-* or tagged s2hand.table={n}" in markdown
    page = (tmp_path / "tables.html").read_text()
    assert '<table class="paper sortable" id="table3">' in page and "Plotly" not in page
    assert '<th colspan="3">Train set</th><th colspan="2">Test set</th>' in page  # Table 5's column groups
    assert f"From run root {store.root}" in markdown


def test_tables_print_markdown_without_out(store, capsys):
    assert main(["tables", "--experiment", EXPERIMENT, "--root", str(store.root), "--tables", "9"]) == 0
    out = capsys.readouterr().out
    assert "**Table 9: Hand appearance consistency on HO-3D**" in out and "Table 3" not in out


def test_runs_option_selects_a_sweep_with_its_trials(store, tmp_path):
    args = ["dashboard", "--experiment", EXPERIMENT, "--root", str(store.root), "--out", str(tmp_path),
            "--runs", store.ids["sweep"][:10]]
    assert main(args) == 0
    page = (tmp_path / "index.html").read_text()
    assert "6 runs" in page and "finetune_lr_trial_4" in page and "s2hand-finetune" not in page
    assert '<section id="reconstructions" class="empty">' in page  # sections without data: a note


def test_unknown_experiment_and_run_are_one_line_errors(store, tmp_path, capsys):
    assert main(["dashboard", "--experiment", "nope", "--root", str(store.root), "--out", str(tmp_path)]) == 2
    assert f"no experiment 'nope' on {store.uri}; it has: " in capsys.readouterr().err
    assert main(["dashboard", "--experiment", EXPERIMENT, "--root", str(store.root), "--out", str(tmp_path),
                 "--runs", "zzzz"]) == 2
    assert "run id 'zzzz' matches no run" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- without a store


def test_unreachable_tracking_uri_fails_fast_in_one_line(tmp_path, capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    began = time.monotonic()
    code = main(["dashboard", "--experiment", "x", "--tracking-uri", f"http://127.0.0.1:{port}", "--out",
                 str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - began < 10
    assert err.count("\n") == 1 and f"no MLflow tracking server answers at http://127.0.0.1:{port}" in err


def test_dashboard_from_result_files_only(tmp_path, open_hand_arrays):
    scores, _, predictions = _evaluation(1.0, seed=0)
    run_dir = tmp_path / "my_eval"
    run_dir.mkdir()
    (run_dir / "scores.json").write_text(json.dumps(scores))
    write_predictions(run_dir / "predictions.npz", **predictions)
    write_reconstructions(tmp_path / "recs.npz", **_hand_pictures(open_hand_arrays, (0.0,)))
    args = ["dashboard", "--out", str(tmp_path / "out"), "--scores", str(run_dir / "scores.json"),
            "--predictions", str(run_dir / "predictions.npz"), "--reconstructions", f"my_eval={tmp_path / 'recs.npz'}",
            "--sequence", "AP13", "--joint", "thumb_tip", "--samples", "7"]
    assert main(args) == 0
    page = unescaped((tmp_path / "out" / "index.html").read_text())
    assert "1 runs" in page and "<td>my_eval</td>" in page
    assert "Sequence AP13: thumb tip" in page and "my_eval · sample 7" in page
    assert '<section id="training" class="empty"><h2>Training</h2><p class="note">no loss terms logged' in page
    assert '<section id="sweeps" class="empty">' in page


def test_result_files_round_trip_and_refuse_bad_shapes(tmp_path, open_hand_arrays):
    pictures = _hand_pictures(open_hand_arrays, (0.0, 30.0))
    recs = read_reconstructions(write_reconstructions(tmp_path / "r.npz", **pictures))
    assert recs.images.dtype == np.uint8 and recs.face_colors.shape == (2, 1538, 3) and list(recs.ids) == [7, 42]
    _, _, predictions = _evaluation(1.0, seed=0)
    pred = read_predictions(write_predictions(tmp_path / "p.npz", **predictions))
    assert pred.sequence_ids() == list(SEQUENCES) and len(pred.frames_of("AP10")) == 40
    with pytest.raises(DataError, match=r"r2.npz: 'keypoints' has shape \(2, 20, 2\), expected \(2, 21, 2\)"):
        write_reconstructions(tmp_path / "r2.npz", **{**pictures, "keypoints": pictures["keypoints"][:, :20]})
    np.savez(tmp_path / "bad.npz", joints=np.zeros((3, 21, 3)))
    with pytest.raises(DataError, match="bad.npz: missing array 'sequence'"):
        read_predictions(tmp_path / "bad.npz")


def test_marks_follow_displayed_values():
    from s2hand.dashboards.metrics import AUC_J, MPJPE
    from s2hand.dashboards.tables import _column_marks

    assert _column_marks([1.234, 1.1, 1.3, None], MPJPE) == ["second", "best", None, None]
    assert _column_marks([1.101, 1.099, 1.2], MPJPE) == ["best", "best", "second"]  # equal as shown: a tie
    assert _column_marks([0.7, 0.78], AUC_J) == ["second", "best"]
    assert _column_marks([0.7, None], AUC_J) == [None, None]  # a lone value is not "best" of anything


def test_a_tagged_sweep_gives_one_row_per_trial():
    from s2hand.dashboards.data import Run
    from s2hand.dashboards.tables import paper_tables, to_markdown

    parent = Run("p", "quat_config", tags={"s2hand.table": "7"})
    trials = [Run(f"t{i}", f"trial{i}", start_time=i, tags={"mlflow.parentRunId": "p"},
                  params={"data.sequence.interval": str(interval), "data.sequence.frames": "3"},
                  metrics={"eval/MPJPE": mpjpe, "eval/AUC_J": auc})
              for i, (interval, mpjpe, auc) in enumerate(((1, 1.11, 0.778), (3, 1.10, 0.780), (6, 1.13, 0.775)))]
    (table,), skipped = paper_tables([parent, *trials], [7, 9])
    assert skipped == ["Table 9 (Hand appearance consistency on HO-3D): no runs named paper-table9-* or tagged "
                       "s2hand.table=9; skipped."]
    assert [row.texts for row in table.rows] == [["interv=1, n=3"], ["interv=3, n=3"], ["interv=6, n=3"]]
    assert "| interv=3, n=3 | **0.780** | **1.10** | – | – |" in to_markdown(table)
    # a paper sweep as `s2hand sweep` logs it: untagged, trials named after the sweep, swept values in a tag
    ts = [Run(f"ts{on}", f"paper-table9-ts_consistency-{on}", tags={"sweep": "paper-table9-ts_consistency",
                                                                    "sweep_params": json.dumps({"loss.terms.ts": on})},
              metrics={"eval/texture_sd": sd, "eval/shape_sd": sd / 2}) for on, sd in ((False, 0.042), (True, 0.016))]
    (table,), _ = paper_tables(ts, [9])
    assert [row.texts for row in table.rows] == [["ts=false"], ["ts=true"]]
    assert "| ts=true | **0.016** | **0.008** |" in to_markdown(table)


def test_serve_binds_localhost_only(tmp_path):
    from s2hand.dashboards.serve import make_server

    (tmp_path / "index.html").write_text("<html>ok</html>")
    server = make_server(tmp_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.read() == b"<html>ok</html>"
    finally:
        server.shutdown()
        server.server_close()


def test_dashboards_import_no_ray_or_training_code():
    code = (
        "import sys, pkgutil, importlib, s2hand.dashboards as d\n"
        "for m in pkgutil.iter_modules(d.__path__): importlib.import_module('s2hand.dashboards.' + m.name)\n"
        "import s2hand.cli.dashboard_cmd\n"
        "bad = ('ray', 's2hand.train', 's2hand.models', 's2hand.losses', 's2hand.render', 's2hand.data')\n"
        "print(sorted(m for m in sys.modules if any(m == b or m.startswith(b + '.') for b in bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
