"""Experiment specs: schema defaults, YAML loading, extends, overrides, errors, sweeps, CLI, generated reference."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from s2hand.config import (
    LOSS_TERMS,
    ExperimentSpec,
    LossSpec,
    SweepSpec,
    is_sweep_file,
    jobs_dir,
    list_specs,
    load_spec,
    load_sweep,
    loads_spec,
)
from s2hand.config.loader import parse_value
from s2hand.config.reference import render_reference
from s2hand.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
JOB_FILES = sorted((REPO / "jobs").rglob("*.yaml"))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def repo_jobs(monkeypatch):
    monkeypatch.delenv("S2HAND_JOBS_DIR", raising=False)  # spec names resolve in this repository's jobs/


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # error messages show paths relative to the working directory
    return tmp_path


# --------------------------------------------------------------------------------------------- defaults


def test_empty_yaml_is_the_default_spec_with_paper_settings(in_tmp):
    spec = load_spec(write(in_tmp, "empty.yaml", ""))
    assert spec == ExperimentSpec()
    assert spec.data.layout == "synthetic-freihand" and spec.data.root is None
    assert (spec.hand.model, spec.hand.pose_pca, spec.hand.flat_hand_mean) == ("open", 30, False)
    assert (spec.train.batch_size, spec.train.betas, spec.train.weight_decay) == (64, (0.9, 0.999), 0.0)
    assert (spec.train.lr, spec.train.lr_step_epochs, spec.train.lr_gamma) == (1e-3, 30, 0.5)
    assert (spec.data.sequence.frames, spec.data.sequence.interval, spec.loss.huber_delta_px) == (3, 3, 5.0)
    assert spec.distributed.storage_path.is_absolute()


def test_specs_are_frozen():
    spec = ExperimentSpec()
    with pytest.raises(ValidationError):
        spec.train.lr = 1.0
    with pytest.raises(ValidationError):
        spec.seed = 3


@pytest.mark.parametrize("path", JOB_FILES, ids=lambda p: str(p.relative_to(REPO / "jobs")))
def test_every_job_file_validates(path):
    loaded = load_sweep(path) if is_sweep_file(path) else load_spec(path)
    assert isinstance(loaded, (SweepSpec, ExperimentSpec))


def test_stage_specs_follow_the_paper_schedule():
    p2, p3, fin, video = (load_spec(n) for n in
                          ("s2hand/pretrain_2d", "s2hand/pretrain_3d", "s2hand/finetune", "s2hand_v/video_finetune"))
    for spec in (p2, p3):
        assert (spec.train.epochs, spec.train.lr, spec.train.lr_step_epochs, spec.train.lr_gamma) == (90, 1e-3, 30, 0.5)
    for spec in (fin, video):
        assert (spec.train.epochs, spec.train.lr, spec.train.lr_step_epochs) == (60, 2.5e-4, 20)
        assert spec.train.lr_gamma == pytest.approx(1 / 3)
    assert [s.stage for s in (p2, p3, fin, video)] == ["pretrain_2d", "pretrain_3d", "finetune", "video_finetune"]
    assert video.model.variant == "s2hand_v" and video.data.layout == "synthetic-ho3d"
    assert set(p2.loss_weights()) == {"kp2d"}
    assert {"kp2d", "cons"} <= set(fin.loss_weights()) and "quat" not in fin.loss_weights()
    assert video.loss_weights()["quat"] == pytest.approx(0.05) and video.loss_weights()["ts"] == pytest.approx(0.01)


def test_spec_names_resolve_in_the_jobs_folder(tmp_path, monkeypatch):
    assert jobs_dir() == REPO / "jobs"
    assert {"base", "s2hand/finetune", "s2hand/pretrain_2d", "s2hand_v/video_finetune"} <= set(list_specs())
    assert load_spec("s2hand/finetune") == load_spec(REPO / "jobs/s2hand/finetune.yaml")
    monkeypatch.setenv("S2HAND_JOBS_DIR", str(tmp_path))
    write(tmp_path, "mine/quick.yaml", "name: quick\ntrain: {epochs: 1}\n")
    assert load_spec("mine/quick").train.epochs == 1 and list_specs() == ["mine/quick"]
    with pytest.raises(ConfigError, match=r"no spec 's2hand/finetune'.*mine/quick"):
        load_spec("s2hand/finetune")


# --------------------------------------------------------------------------------------------- overrides


@pytest.mark.parametrize("text, value", [
    ("1e-3", 1e-3), ("2.5e-4", 2.5e-4), ("true", True), ("False", False), ("yes", "yes"), ("on", "on"),
    ("010", 10), ("0x10", 16), ("[1, 2]", [1, 2]), ("null", None), ("", None), ("/x", "/x"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
])
def test_override_values_follow_yaml_1_2_scalars(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_overrides_of_several_types(in_tmp):
    spec = load_spec("s2hand/finetune", [
        "train.lr=1e-4", "hand.pose_pca=12", "data.augment.rotation=false", "train.betas=[0.8, 0.99]",
        "train.grad_clip=1", "data.layout=freihand", "data.root=data/FreiHAND", "loss.terms.cons=false",
        "train.init_from=null", "data.sequence={frames: 4}", "name=quick-run",
    ])
    assert spec.train.lr == 1e-4 and isinstance(spec.train.lr, float)
    assert spec.hand.pose_pca == 12 and spec.data.augment.rotation is False
    assert spec.train.betas == (0.8, 0.99) and spec.train.grad_clip == 1.0
    assert spec.data.root == in_tmp / "data/FreiHAND"  # relative paths are stored absolute
    assert spec.data.sequence.frames == 4 and spec.data.sequence.interval == 3  # a mapping merges
    assert spec.loss.flat_weights()["cons"] == 0.0 and "cons" not in spec.loss_weights()
    assert spec.name == "quick-run" and spec.train.epochs == 60  # the rest is the file's


def test_with_overrides_accepts_strings_and_mappings():
    base = ExperimentSpec()
    assert base.with_overrides(["train.lr=3e-4"]) == base.with_overrides({"train.lr": 3e-4})
    assert base.with_overrides({"model.hourglass.stacks": 1}).model.hourglass.stacks == 1
    with pytest.raises(ConfigError, match=r"^override train\.lr=0\.0: train\.lr: Input should be greater than 0"):
        base.with_overrides({"train.lr": 0.0})
    with pytest.raises(ConfigError, match="is not a dotted key"):
        base.with_overrides({"train..lr": 1e-3})
    with pytest.raises(TypeError):
        base.with_overrides("train.lr=1e-3")  # one string, not a list: refused rather than read per character


# --------------------------------------------------------------------------------------------- errors


def test_unknown_key_in_file_names_file_line_and_key(in_tmp):
    write(in_tmp, "job.yaml", "train:\n  lr: 1.0e-3\nmodel:\n  pose_pcaa: 30\n")
    with pytest.raises(ConfigError) as caught:
        load_spec("job.yaml")
    message = str(caught.value)
    assert message.startswith("job.yaml:4: model.pose_pcaa: unknown key (got 30)")
    assert "did you mean 'hand.pose_pca'?" in message and "use_2d_branch" in message


def test_unknown_key_in_override_names_the_override():
    with pytest.raises(ConfigError) as caught:
        load_spec("s2hand/finetune", ["train.lrr=1e-3"])
    message = str(caught.value)
    assert message.startswith("command-line override 'train.lrr=1e-3': train.lrr: unknown key (got 0.001)")
    assert "did you mean 'lr'?" in message


@pytest.mark.parametrize("override, expected", [
    ("train.lr=abc", "train.lr: Input should be a valid number (got 'abc')"),
    ("model.use_2d_branch=1", "model.use_2d_branch: Input should be a valid boolean (got 1)"),
    ("loss.w_quat=true", "loss.w_quat: Input should be a valid number (got True)"),
    ("hand.pose_pca=50", "hand.pose_pca: Input should be less than or equal to 45 (got 50)"),
    ("hand.pose_pca=3.5", "hand.pose_pca: Input should be a valid integer (got 3.5)"),
    ("train.amp=fp8", "train.amp: Input should be 'none', 'bf16' or 'fp16' (got 'fp8')"),
    ("train.betas=[0.9, 2]", "train.betas[1]: Input should be less than 1 (got 2)"),
    ("loss.w_ori=-1", "loss.w_ori: Input should be greater than or equal to 0 (got -1)"),
])
def test_wrong_type_in_override_names_key_value_and_expectation(override, expected):
    with pytest.raises(ConfigError) as caught:
        load_spec("s2hand/finetune", [override])
    assert str(caught.value) == f"command-line override {override!r}: {expected}"


def test_wrong_type_in_file_names_the_file(in_tmp):
    write(in_tmp, "base.yaml", "train:\n  epochs: ten\n")
    write(in_tmp, "child.yaml", "extends: base.yaml\nseed: 1\n")
    with pytest.raises(ConfigError, match=r"^base\.yaml:2: train\.epochs: Input should be a valid integer "
                                          r"\(got 'ten'\)$"):
        load_spec("child.yaml")


@pytest.mark.parametrize("override", ["train", "train.lr", "=3", "train..lr=3"])
def test_malformed_overrides_are_refused(override):
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_spec("base", [override])


def test_bad_yaml_names_file_and_line(in_tmp):
    write(in_tmp, "broken.yaml", "seed: 1\ntrain:\n  lr: [1e-3\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"^broken\.yaml:\d+: invalid YAML: .*flow sequence on line 3"):
        load_spec("broken.yaml")
    write(in_tmp, "dup.yaml", "train:\n  lr: 1.0e-3\n  lr: 2.0e-3\n")
    with pytest.raises(ConfigError, match=r"^dup\.yaml:3: train\.lr: duplicate key \(first set on line 2\)"):
        load_spec("dup.yaml")
    write(in_tmp, "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"^list\.yaml:1: expected a mapping"):
        load_spec("list.yaml")


def test_cross_field_rules_blame_the_key_the_user_set(in_tmp):
    with pytest.raises(ConfigError, match=r"^command-line override 'data.layout=freihand': data\.root: layout "
                                          r"'freihand' needs a dataset root"):
        load_spec("base", ["data.layout=freihand"])
    write(in_tmp, "video.yaml", "stage: video_finetune\nmodel: {variant: s2hand_v}\n")
    with pytest.raises(ConfigError, match=r"^video\.yaml:1: data\.layout: stage 'video_finetune' needs video "
                                          r"sequences.*\(got 'synthetic-freihand'\)"):
        load_spec("video.yaml")
    with pytest.raises(ConfigError, match=r"model\.variant: stage 'video_finetune' does not go with variant"):
        load_spec("base", ["stage=video_finetune"])
    with pytest.raises(ConfigError, match=r"distributed\.backend: nccl needs GPUs"):
        load_spec("base", ["distributed.backend=nccl"])


# --------------------------------------------------------------------------------------------- extends


def test_extends_chain_deep_merges_child_over_parent(in_tmp):
    write(in_tmp, "root.yaml", "seed: 1\ntrain: {lr: 1.0e-3, epochs: 10, betas: [0.5, 0.5]}\n"
                               "data: {augment: {rotation: false, crop_jitter: 0.1}}\n")
    write(in_tmp, "mid/mid.yaml", "extends: ../root.yaml\ntrain: {epochs: 20}\ndata: {augment: {crop_jitter: 0.2}}\n")
    write(in_tmp, "mid/leaf/leaf.yaml", "extends: ../mid.yaml\ntrain: {betas: [0.9, 0.9]}\nname: leaf\n")
    spec = load_spec("mid/leaf/leaf.yaml")
    assert (spec.seed, spec.name, spec.train.lr, spec.train.epochs) == (1, "leaf", 1e-3, 20)
    assert spec.train.betas == (0.9, 0.9)  # lists are replaced whole
    assert (spec.data.augment.rotation, spec.data.augment.crop_jitter) == (False, 0.2)
    write(in_tmp, "two.yaml", "extends: [root.yaml, mid/mid.yaml]\nseed: 7\n")
    assert load_spec("two.yaml").train.epochs == 20 and load_spec("two.yaml").seed == 7


def test_extends_cycle_and_missing_parent_are_refused(in_tmp):
    write(in_tmp, "a.yaml", "extends: b.yaml\n")
    write(in_tmp, "b.yaml", "extends: c.yaml\n")
    write(in_tmp, "c.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match=r"extends cycle: a\.yaml -> b\.yaml -> c\.yaml -> a\.yaml"):
        load_spec("a.yaml")
    write(in_tmp, "self.yaml", "extends: self.yaml\n")
    with pytest.raises(ConfigError, match="extends cycle: self.yaml -> self.yaml"):
        load_spec("self.yaml")
    write(in_tmp, "orphan.yaml", "extends: ../nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"^orphan\.yaml:1: no spec '\.\./nowhere\.yaml'"):
        load_spec("orphan.yaml")


# --------------------------------------------------------------------------------------------- dumps


@pytest.mark.parametrize("name", ["base", "s2hand/finetune", "s2hand_v/video_finetune"])
def test_yaml_dump_round_trips(name, in_tmp):
    spec = load_spec(name, ["train.grad_clip=0.5", "data.root=some/where", "train.lr=1e-10"])
    assert loads_spec(spec.to_yaml()) == spec
    assert load_spec(write(in_tmp, "dump.yaml", spec.to_yaml())) == spec


def test_flatten_gives_dotted_leaves():
    spec = load_spec("s2hand/finetune")
    flat = spec.flatten()
    assert flat["train.lr"] == 2.5e-4 and flat["loss.terms.quat"] is True and flat["stage"] == "finetune"
    assert flat["model.hourglass.stacks"] == 2 and flat["train.betas"] == [0.9, 0.999]
    assert flat["data.root"] is None and isinstance(flat["distributed.storage_path"], str)
    assert not any(isinstance(value, dict) for value in flat.values())
    def leaves(tree: dict) -> int:
        return sum(leaves(v) if isinstance(v, dict) else 1 for v in tree.values())

    assert len(flat) == leaves(spec.to_dict()) > 90


# --------------------------------------------------------------------------------------------- loss weights

PAPER_FLAT_WEIGHTS = {  # FACTS §3 (reference code) and Eq. 23 (E_quat, E_T&S sit beside E_S2HAND)
    "loc": 1e-3, "ori": 0.1, "pixel": 5e-3, "ssim": 1e-3, "beta": 0.01, "texture": 5e-3, "scale": 0.1,
    "joint_angle": 0.1, "kp2d": 1e-3, "cons": 2e-4, "quat": 0.05, "ts": 0.01,
}


def test_flat_weights_are_the_paper_products():
    flat = LossSpec().flat_weights()
    assert list(flat) == list(LOSS_TERMS)
    for term, weight in PAPER_FLAT_WEIGHTS.items():
        assert flat[term] == pytest.approx(weight, rel=1e-12), term
    assert {t: flat[t] for t in ("temporal", "smooth", "mean_color", "laplacian")} == dict.fromkeys(
        ("temporal", "smooth", "mean_color", "laplacian"), 0.0)  # off by default


def test_flat_weights_follow_the_nesting_and_switches():
    loss = LossSpec(w_3d=2.0, w_ori=50.0, terms={"ssim": False, "temporal": True})
    flat = loss.flat_weights()
    assert flat["loc"] == pytest.approx(2e-3) and flat["ori"] == pytest.approx(0.1)
    assert flat["ssim"] == 0.0 and flat["temporal"] == pytest.approx(0.05)
    assert flat["kp2d"] == pytest.approx(1e-3)  # E_2d is outside E_3d
    no_branch = ExperimentSpec(stage="finetune", model={"use_2d_branch": False, "use_texture_head": False})
    assert set(no_branch.loss_weights()) == {"loc", "ori", "beta", "scale", "joint_angle"}


# --------------------------------------------------------------------------------------------- sweeps


def sweep(folder: Path, space: str, extra: str = "") -> Path:
    return write(folder, "sweep.yaml", f"base: s2hand/finetune\nspace:\n{space}{extra}")


def test_example_sweep_loads_and_resolves_trials():
    loaded = load_sweep("sweeps/finetune_lr")
    assert loaded.space["train.lr"].type == "loguniform" and Path(loaded.base).is_absolute()
    assert loaded.base_spec().train.epochs == 12
    trial = loaded.trial_spec({"train.lr": 2e-4, "loss.w_ori": 50.0})
    assert trial.train.lr == 2e-4 and trial.loss.flat_weights()["ori"] == pytest.approx(0.05)


@pytest.mark.parametrize("space, expected", [
    ("  model.use_2d_branch: {type: loguniform, low: 1.0e-3, high: 1.0}\n",
     r"sweep\.yaml:3: space\.model\.use_2d_branch: a loguniform dimension needs a numeric setting; "
     r"model\.use_2d_branch takes bool"),
    ("  train.lrr: {type: choice, values: [1.0e-3]}\n", r"space\.train\.lrr: no setting 'train\.lrr'"),
    ("  train: {type: choice, values: [{lr: 1.0}]}\n", r"space\.train: 'train' is a section"),
    ("  hand.pose_pca: {type: uniform, low: 10, high: 40}\n", r"needs a numeric setting; hand\.pose_pca takes int"),
    ("  hand.pose_pca: {type: grid, values: [10, 30, 50]}\n",
     r"sweep\.yaml:3: space\.hand\.pose_pca: grid value 50 gives an invalid spec: hand\.pose_pca: "
     r"Input should be less than or equal to 45"),
    ("  train.lr: {type: loguniform, low: 0.0, high: 1.0}\n", r"space\.train\.lr: Value error, loguniform needs|"
     r"space\.train\.lr: loguniform needs low > 0"),
    ("  train.lr: {type: uniform, low: 1.0e-3, high: 1.0e-4}\n", r"low \(0\.001\) must be below high"),
    ("  hand.pose_pca: {type: randint, low: 1.5, high: 40}\n", r"randint takes integer low and high"),
    ("  train.lr: {type: uniform, low: 0.0, high: 1.0e-3}\n", r"uniform value 0\.0 gives an invalid spec: "
     r"train\.lr: Input should be greater than 0"),
    ("  train.amp: {type: choice, values: [none, fp8]}\n", r"choice value 'fp8' gives an invalid spec"),
])
def test_sweep_space_is_checked_against_the_experiment_schema(in_tmp, space, expected):
    with pytest.raises(ConfigError, match=expected):
        load_sweep(sweep(in_tmp, space))


def test_sweep_search_algorithm_must_fit_the_space(in_tmp):
    grid_only = "search_alg: grid\n"
    with pytest.raises(ConfigError, match="search_alg 'grid' takes only grid dimensions"):
        load_sweep(sweep(in_tmp, "  train.lr: {type: uniform, low: 1.0e-4, high: 1.0e-3}\n", grid_only))
    with pytest.raises(ConfigError, match="optuna cannot search a grid dimension"):
        load_sweep(sweep(in_tmp, "  seed: {type: grid, values: [1, 2]}\n", "search_alg: optuna\n"))
    ok = load_sweep(sweep(in_tmp, "  seed: {type: grid, values: [1, 2]}\n  hand.pose_pca: {type: randint, low: 6, "
                                  "high: 46}\n", "scheduler: {type: none}\n"))
    assert ok.space["hand.pose_pca"].candidates() == [6, 45] and ok.scheduler.type == "none"


def test_sweep_overrides_are_checked_with_their_source(in_tmp):
    path = write(in_tmp, "sweep.yaml", "base: s2hand/finetune\noverrides: [train.epochs=zero]\n")
    with pytest.raises(ConfigError, match=r"^sweep\.yaml: overrides 'train.epochs=zero': train\.epochs: Input should"):
        load_sweep(path)
    with pytest.raises(ConfigError, match=r"is a sweep spec .*not an experiment spec"):
        load_spec(path)


# --------------------------------------------------------------------------------------------- CLI and reference


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("s2hand")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "s2hand.cli"]
    return subprocess.run(command + list(args), cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cli_show_prints_the_resolved_spec():
    result = run_cli("config", "show", "jobs/s2hand/finetune.yaml", "train.lr=1e-4")
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["train"]["lr"] == 1e-4 and shown["stage"] == "finetune"
    assert loads_spec(result.stdout) == load_spec("s2hand/finetune", ["train.lr=1e-4"])


def test_cli_errors_exit_2_with_one_readable_line(tmp_path):
    result = run_cli("config", "show", "jobs/s2hand/finetune.yaml", "model.pose_pca=30")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("s2hand config: error: command-line override 'model.pose_pca=30': "
                                    "model.pose_pca: unknown key (got 30)")
    bad = write(tmp_path, "bad.yaml", "train:\n  lr: fast\n")
    result = run_cli("config", "validate", "jobs/s2hand/finetune.yaml", str(bad))
    assert result.returncode == 2 and "ok  jobs/s2hand/finetune.yaml" in result.stdout
    assert "bad.yaml:2: train.lr: Input should be a valid number (got 'fast')" in result.stderr


def test_cli_validate_and_reference(tmp_path):
    result = run_cli("config", "validate", "jobs")
    assert result.returncode == 0 and result.stdout.count("ok  ") == len(JOB_FILES), result.stderr
    out = tmp_path / "reference.md"
    assert run_cli("config", "reference", "--out", str(out)).returncode == 0
    assert out.read_text(encoding="utf-8") == render_reference()
    for command in ("show", "validate", "reference", "list"):
        assert run_cli("config", command, "--help").returncode == 0


def test_reference_doc_is_up_to_date():
    committed = (REPO / "docs/config_reference.md").read_text(encoding="utf-8")
    assert committed == render_reference(), "regenerate: s2hand config reference --out docs/config_reference.md"


def test_reference_lists_every_setting_with_a_description():
    text = render_reference()
    for key in ExperimentSpec().flatten():
        assert f"| `{key}` |" in text, key
    assert "| `space.<key>.type` |" in text and "| ori | `loss.terms.ori` | w_3d · w_geo · w_ori | 0.1 |" in text
