"""Evaluation: the paper metrics as the official scorers compute them; CodaLab submissions.

Imports neither Ray nor MLflow (tests/test_eval_isolation.py).

Modules (each one job):
- ``scoring``: ``score_freihand`` / ``score_ho3d``, the official benchmark keys and the paper's names.
- ``alignment``: batched Procrustes (official ``align_w_scale``) and HO-3D's scale-translation alignment.
- ``pck``: per-point errors, PCK curves and AUC (official ``EvalUtil``), STB's 20-50 mm AUC.
- ``fscore``: exact batched F-score at 5 / 15 mm.
- ``keypoints2d``: 2D MPJPE (px) and 2D PCK curves.
- ``temporal``: ACC / ACC-ERR per sequence, the quaternion smoothness metric (Table 5).
- ``appearance``: texture S.D. and shape S.D. (Table 9).
- ``submission``: pred.json / pred.zip reading, writing, validation, conversion to HO-3D; ground-truth files.
- ``reference``: the naive per-sample scorer the batched one is checked against; ``synthetic``: test hands.
Everything runs in float64 torch on a GPU when present (``tensors.scoring_device``).
"""
