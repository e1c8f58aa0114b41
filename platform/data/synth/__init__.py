"""Synthetic hands in the official FreiHAND / HO-3D layouts: scenes, motion, appearance, rendering, writers.

    from s2hand.data.synth import SynthConfig, synthesize
    synthesize(SynthConfig("freihand", train=512, evaluation=128, seed=0), "data/synth-frei")
"""
from .generate import SynthConfig, SynthResult, load_records, synthesize

__all__ = ["SynthConfig", "SynthResult", "load_records", "synthesize"]
