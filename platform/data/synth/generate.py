"""`s2hand data synth`: synthetic hands in FreiHAND's or HO-3D's official layout, deterministic per seed, resumable.

Work is cut into chunks of `chunk` frames per split. Everything random in a chunk comes from a Generator seeded by
(seed, split, chunk) — for videos by (seed, split, sequence) — so a chunk renders the same bytes whether it runs in
the first attempt or after an interruption. A chunk writes its images (and HO-3D metas), then a marker holding its
ground truth under `.s2hand-synth/`; a rerun skips chunks with markers, and once all are there writes the split
annotation files and the synthetic detections from the markers. The manifest there records the configuration; a
rerun with a different one is refused rather than mixing two datasets.

Parallelism is per chunk, in worker processes running torch (and numpy's BLAS) single-threaded: on a small machine
shared with other work, one process per core beats torch's intra-op threads, which stall whenever a core is busy
elsewhere. Small jobs run in-process (a worker's start-up costs a few seconds).

Per chunk (64 images at 224 px), roughly by cost: rasterising (the renderer's hard, forward-only path), background
windows, JPEG encoding, scene sampling and the hand model, compositing. `Synthesizer.timer` (a render.Timer) adds
up wall and CPU seconds per stage for profiling (benchmarks/bench_data.py --profile).
"""
from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import tempfile
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from tqdm import tqdm

from s2hand.data.detections import Detections, save_detections
from s2hand.data.images import JPEG_QUALITY, write_image
from s2hand.data.synthetic_detector import NoiseModel, synthetic_detections
from s2hand.errors import DataError
from s2hand.io.atomic import atomic_write

from . import writers
from .background import BackgroundBank
from .render import SceneRenderer, Timer
from .scene import SceneBatch, sample_sequence_scenes, sample_still_scenes

SYNTH_VERSION = 2  # 2: hard rasteriser (outline blurred in the image), fast JPEG writer
IN_PROCESS_FRAMES = 256  # auto mode renders jobs up to this size in-process
STATE_DIR = ".s2hand-synth"
SPLITS = ("train", "evaluation")
_SPLIT_CODE = {"train": 1, "evaluation": 2}
_CHUNK, _SEQUENCE, _BANK, _DETECT = 0, 1, 2, 3


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. FreiHAND: `train` / `evaluation` images. HO-3D: `sequences` / `eval_sequences` videos of
    `frames` frames each."""

    layout: Literal["freihand", "ho3d"]
    seed: int = 0
    train: int = 0
    evaluation: int = 0
    sequences: int = 0
    eval_sequences: int = 0
    frames: int = 0
    image_size: int = 224
    ho3d_version: Literal[2, 3] = 3
    chunk: int = 64
    model: str = "open"

    def __post_init__(self) -> None:
        if self.layout not in ("freihand", "ho3d"):
            raise ValueError(f"layout must be freihand or ho3d, got {self.layout!r}")
        if min(self.train, self.evaluation, self.sequences, self.eval_sequences, self.frames) < 0:
            raise ValueError("counts must be >= 0")
        if self.layout == "ho3d" and (self.sequences + self.eval_sequences) > 0 and self.frames < 1:
            raise ValueError("ho3d needs frames >= 1 per sequence")
        if self.image_size < 32 or self.chunk < 1:
            raise ValueError("image_size must be >= 32 and chunk >= 1")

    def frames_in(self, split: str) -> int:
        if self.layout == "freihand":
            return self.train if split == "train" else self.evaluation
        return (self.sequences if split == "train" else self.eval_sequences) * self.frames

    def chunks_in(self, split: str) -> int:
        return math.ceil(self.frames_in(split) / self.chunk)


@dataclass
class SynthResult:
    root: Path
    rendered: int  # frames rendered by this call
    skipped: int  # frames found done from an earlier run
    files: list[Path] = field(default_factory=list)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def state_dir(root: Path) -> Path:
    return Path(root) / STATE_DIR


def is_complete(root: str | os.PathLike) -> bool:
    """True once every chunk and the split files of a generated dataset are written."""
    try:
        return bool(json.loads((state_dir(Path(root)) / "manifest.json").read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def _marker(root: Path, split: str, chunk: int) -> Path:
    return state_dir(root) / split / f"{chunk:06d}.npz"


def load_records(root: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
    """The ground truth of a generated split, concatenated from its chunk markers (includes per-joint visibility,
    which the synthetic detector uses)."""
    directory = state_dir(Path(root)) / split
    files = sorted(directory.glob("*.npz"))
    if not files:
        raise DataError(f"{directory}: no synthetic records (not a dataset written by `s2hand data synth`)")
    parts = []
    for file in files:
        try:
            with np.load(file, allow_pickle=False) as data:
                parts.append({k: data[k] for k in data.files})
        except (OSError, ValueError) as error:
            raise DataError(f"{file}: unreadable synthetic record ({error})") from error
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class Synthesizer:
    def __init__(self, config: SynthConfig, root: str | os.PathLike) -> None:
        self.config = config
        self.root = Path(root)
        self._renderer: SceneRenderer | None = None
        self._bank: BackgroundBank | None = None
        self._sequences: OrderedDict[tuple[str, int], tuple[SceneBatch, torch.Tensor]] = OrderedDict()
        self._made_dirs: set[Path] = set()
        self.timer: Timer | None = None  # set to a Timer to profile run_chunk by stage

    @property
    def renderer(self) -> SceneRenderer:
        if self._renderer is None:
            from s2hand.hand.model import HandModel

            self._renderer = SceneRenderer(HandModel(self.config.model), self.config.image_size)
        return self._renderer

    # ------------------------------------------------------------------ public

    def run(self, progress: bool = True, on_chunk: Callable[[str, int], None] | None = None,
            workers: int = 0) -> SynthResult:
        """Generate what is missing; ``on_chunk(split, chunk)`` is called after each chunk is committed.
        workers: processes (0 = auto: in-process for small jobs, else one per core up to 8; 1 = in-process)."""
        self._check_manifest()
        cfg = self.config
        todo = [(s, c) for s in SPLITS for c in range(cfg.chunks_in(s)) if not _marker(self.root, s, c).exists()]
        size = {job: self._chunk_range(*job)[1] - self._chunk_range(*job)[0] for job in todo}
        total = sum(cfg.frames_in(s) for s in SPLITS)
        pending = sum(size.values())
        if not todo and is_complete(self.root):
            return SynthResult(self.root, 0, total)
        if workers == 0:
            workers = 1 if pending <= IN_PROCESS_FRAMES else min(os.cpu_count() or 1, 8)
        workers = max(1, min(workers, len(todo)))
        bar = tqdm(total=total, initial=total - pending, unit="img", desc=f"synth {cfg.layout}", disable=not progress,
                   dynamic_ncols=True)
        with bar:
            if workers == 1:
                with _torch_threads(1):
                    for job in todo:
                        self.run_chunk(*job)
                        bar.update(size[job])
                        if on_chunk is not None:
                            on_chunk(*job)
            else:
                def done(job: tuple[str, int]) -> None:
                    bar.update(size[job])
                    if on_chunk is not None:
                        on_chunk(*job)

                self._run_pool(todo, workers, done)
        files = self._finalize()
        return SynthResult(self.root, pending, total - pending, files)

    def _run_pool(self, todo: list[tuple[str, int]], workers: int, done: Callable[[tuple[str, int]], None]) -> None:
        # spawn, not fork: forking a process whose torch thread pools are live can deadlock
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self.config, str(self.root)))
        try:
            futures = {pool.submit(_work, *job): job for job in todo}
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
                    done(futures.pop(future))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # chunks in flight still commit; queued ones are dropped

    # ------------------------------------------------------------------ manifest

    def _manifest(self) -> dict:
        return {"generator": "s2hand data synth", "version": SYNTH_VERSION, "config": asdict(self.config)}

    def _check_manifest(self) -> None:
        path = state_dir(self.root) / "manifest.json"
        if path.exists():
            try:
                found = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise DataError(f"{path}: unreadable manifest ({error}); remove {state_dir(self.root)} to start "
                                "over") from error
            if found.get("version") != SYNTH_VERSION or found.get("config") != asdict(self.config):
                raise DataError(f"{self.root} holds a different synthetic dataset ({found.get('config')}); "
                                "use another --out directory (or delete it) instead of mixing two")
            return
        if self.root.exists() and any(p.name != STATE_DIR for p in self.root.iterdir()):
            raise DataError(f"{self.root} is not empty and was not written by `s2hand data synth`: choose a new --out")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "w") as handle:
            json.dump(self._manifest(), handle, indent=1, sort_keys=True)

    # ------------------------------------------------------------------ chunks

    def _chunk_range(self, split: str, chunk: int) -> tuple[int, int]:
        start = chunk * self.config.chunk
        return start, min(start + self.config.chunk, self.config.frames_in(split))

    @property
    def bank(self) -> BackgroundBank:
        if self._bank is None:
            cfg = self.config
            units = cfg.train + cfg.evaluation if cfg.layout == "freihand" else cfg.sequences + cfg.eval_sequences
            count = int(np.clip(units // 8 if cfg.layout == "freihand" else units, 8, 256))
            self._bank = BackgroundBank(count, cfg.image_size, seed=int(_rng(cfg.seed, _BANK).integers(2**62)))
        return self._bank

    def run_chunk(self, split: str, chunk: int) -> int:
        """Render one chunk, write its files, then its marker."""
        cfg, size = self.config, self.config.image_size
        timer = self.timer or Timer(enabled=False)
        timer.start()
        start, stop = self._chunk_range(split, chunk)
        index = np.arange(start, stop)
        if cfg.layout == "freihand":
            rng = _rng(cfg.seed, _SPLIT_CODE[split], _CHUNK, chunk)
            scenes = sample_still_scenes(rng, len(index), self.renderer.hand, self.renderer.skin, size)
            timer.lap("scenes")
            background = self.bank.sample(rng, len(index), size, as_uint8=True)
            timer.lap("background")
            sequence, frame = index, np.zeros_like(index)
        else:
            sequence, frame = index // cfg.frames, index % cfg.frames
            parts = [self._sequence(split, int(s)) for s in sequence]
            scenes = SceneBatch.concat([p[0].take(slice(f, f + 1)) for p, f in zip(parts, frame)])
            background = torch.cat([p[1] for p in parts])
            timer.lap("scenes")
        out = self.renderer.render(scenes, background, timer=timer)

        for row, (i, s, f) in enumerate(zip(index, sequence, frame)):
            if cfg.layout == "freihand":
                image_path = writers.freihand_image(self.root, split, int(i))
            else:
                name = writers.ho3d_sequence_name(split, int(s))
                image_path, meta_path = writers.ho3d_frame(self.root, split, name, int(f), cfg.ho3d_version)
                self._mkdir(meta_path.parent)
                meta = writers.ho3d_meta(split, out.joints[row], scenes.pose[row], scenes.rotation[row],
                                         scenes.betas[row], scenes.translation[row], scenes.K[row], out.hand_box[row])
                writers.write_pickle(meta_path, meta)
            self._mkdir(image_path.parent)
            if image_path.suffix == ".jpg":
                writers.write_jpeg(image_path, out.images[row], JPEG_QUALITY)
            else:
                write_image(image_path, out.images[row])
        timer.lap("write_images")

        record = {
            "index": index, "sequence": sequence, "frame": frame, "K": scenes.K, "joints": out.joints,
            "vertices": out.vertices, "keypoints": out.keypoints, "visible": out.visible, "hand_box": out.hand_box,
            "hand_pixels": out.hand_pixels, "betas": scenes.betas, "pose": scenes.pose, "rotation": scenes.rotation,
            "translation": scenes.translation,
        }
        _save_npz(_marker(self.root, split, chunk), record)
        timer.lap("marker")
        return len(index)

    def _mkdir(self, directory: Path) -> None:
        if directory not in self._made_dirs:
            directory.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(directory)

    def _sequence(self, split: str, sequence: int) -> tuple[SceneBatch, torch.Tensor]:
        key = (split, sequence)
        if key not in self._sequences:
            rng = _rng(self.config.seed, _SPLIT_CODE[split], _SEQUENCE, sequence)
            scenes, _ = sample_sequence_scenes(rng, self.config.frames, self.renderer.hand, self.renderer.skin,
                                               self.config.image_size)
            self._sequences[key] = (scenes, self.bank.sample(rng, 1, self.config.image_size, as_uint8=True))
            while len(self._sequences) > 4:
                self._sequences.popitem(last=False)
        return self._sequences[key]

    # ------------------------------------------------------------------ split files

    def _finalize(self) -> list[Path]:
        cfg, files = self.config, []
        for split in SPLITS:
            if cfg.frames_in(split) == 0:
                continue
            records = load_records(self.root, split)
            if cfg.layout == "freihand":
                mano = writers.freihand_mano(records["pose"], records["rotation"], records["betas"],
                                             records["translation"])
                files += writers.write_freihand_annotations(self.root, split, records["K"], records["joints"],
                                                            records["vertices"], mano)
                keys = [writers.freihand_key(split, int(i)) for i in records["index"]]
            else:
                names = [f"{writers.ho3d_sequence_name(split, int(s))}/{int(f):04d}"
                         for s, f in zip(records["sequence"], records["frame"])]
                files.append(writers.write_ho3d_lists(self.root, split, names))
                if split == "evaluation":
                    files += writers.write_ho3d_evaluation_gt(self.root, records["joints"], records["vertices"])
                ext = "png" if cfg.ho3d_version == 2 else "jpg"
                keys = [f"{writers.HO3D_DIRS[split]}/{n.split('/')[0]}/rgb/{n.split('/')[1]}.{ext}" for n in names]
            files.append(write_synthetic_detections(self.root, split, records, keys, cfg.image_size,
                                                    seed=int(_rng(cfg.seed, _SPLIT_CODE[split], _DETECT).integers(2**62))))
        manifest = {**self._manifest(), "complete": True}
        with atomic_write(state_dir(self.root) / "manifest.json", "w") as handle:
            json.dump(manifest, handle, indent=1, sort_keys=True)
        return files


def write_synthetic_detections(root: Path, split: str, records: dict[str, np.ndarray], keys: list[str],
                               image_size: int, seed: int, out: Path | None = None) -> Path:
    keypoints, confidence = synthetic_detections(records["keypoints"], records["visible"], (image_size, image_size),
                                                 seed)
    detections = Detections(keypoints, confidence, keys, {**NoiseModel().describe(), "seed": seed}, split)
    return save_detections(out or Path(root) / "detections" / f"{split}.json", detections)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def synthesize(config: SynthConfig, root: str | os.PathLike, progress: bool = True,
               on_chunk: Callable[[str, int], None] | None = None, workers: int = 0) -> SynthResult:
    """Generate (or finish) a synthetic dataset under ``root`` (workers: see Synthesizer.run)."""
    return Synthesizer(config, root).run(progress=progress, on_chunk=on_chunk, workers=workers)


@contextlib.contextmanager
def _torch_threads(count: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


_WORKER: Synthesizer | None = None


def _init_worker(config: SynthConfig, root: str) -> None:
    global _WORKER
    _single_threaded()
    _WORKER = Synthesizer(config, root)


def _single_threaded() -> None:
    """One thread per worker process for torch and numpy's BLAS (one process per core is faster on a shared
    machine). The BLAS limit needs threadpoolctl, when installed; numpy's BLAS sees little use here."""
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


def _work(split: str, chunk: int) -> int:
    return _WORKER.run_chunk(split, chunk)
