"""Typed experiment specs: YAML files with ``extends``, dotted overrides, and a generated reference.

>>> from s2hand.config import load_spec
>>> spec = load_spec("s2hand/finetune", ["train.lr=1e-4"])
>>> spec.train.lr, spec.loss_weights()["ori"]
(0.0001, 0.1)

Schema: ``spec.py``; reading and errors: ``loader.py``; the markdown reference: ``reference.py``.
"""
from s2hand.config.loader import (
    apply_overrides,
    find_spec,
    is_sweep_file,
    jobs_dir,
    list_specs,
    load_spec,
    load_sweep,
    loads_spec,
    parse_override,
)
from s2hand.config.spec import (
    FLAT_WEIGHT_FACTORS,
    LOSS_TERMS,
    STAGE_TERMS,
    STAGES,
    DataSpec,
    DistributedSpec,
    ExperimentSpec,
    HandSpec,
    LossSpec,
    ModelSpec,
    SearchDim,
    SweepSpec,
    TrackingSpec,
    TrainSpec,
)

__all__ = [
    "FLAT_WEIGHT_FACTORS",
    "LOSS_TERMS",
    "STAGES",
    "STAGE_TERMS",
    "DataSpec",
    "DistributedSpec",
    "ExperimentSpec",
    "HandSpec",
    "LossSpec",
    "ModelSpec",
    "SearchDim",
    "SweepSpec",
    "TrackingSpec",
    "TrainSpec",
    "apply_overrides",
    "find_spec",
    "is_sweep_file",
    "jobs_dir",
    "list_specs",
    "load_spec",
    "load_sweep",
    "loads_spec",
    "parse_override",
]
