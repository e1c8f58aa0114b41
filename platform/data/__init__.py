"""Data: synthetic generation in the official layouts, loaders for FreiHAND / HO-3D / STB / YT 3D, 2D detections,
augmentation and sequence sampling.

    from s2hand.data import build_dataset
    dataset = build_dataset(spec.data)            # Samples (see sample.py); synthetic data by default

Modules: sample (the Sample dict), source + freihand / ho3d / stb / yt3d (layouts -> frame index and annotations),
dataset (decode, crop, augment, bad-input policy), factory (build_dataset), embedded (cached default synthetic
data), synth/ (generator), detections (file format, OpenPose import), synthetic_detector (noise model),
mediapipe_detector (optional), detect (`s2hand detect`), videos (`s2hand data import-videos`), augment,
transforms (affine maps), sampler (sequence batches), images / jsonio (files with errors that name them).
"""
from s2hand.data.dataset import BadSample, HandDataset
from s2hand.data.factory import build_dataset, dataset_root, open_source
from s2hand.data.sample import Sample
from s2hand.data.sampler import SequenceBatchSampler

__all__ = ["BadSample", "HandDataset", "Sample", "SequenceBatchSampler", "build_dataset", "dataset_root",
           "open_source"]
