"""MANO pickle conversion through the restricted unpickler: an official-like Python 2 pickle with chumpy objects
converts without chumpy; hostile globals are refused and never run."""
from __future__ import annotations

import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch

from s2hand.errors import DataError, UnsafePickleError
from s2hand.hand.convert import convert_mano_pickle
from s2hand.hand.model import HandModel
from s2hand.hand.model_files import S2HAND_MANO_FINGERTIPS, load_model
from s2hand.utils.safe_pickle import restricted_load


def _fake_chumpy_module():
    """A throwaway module named chumpy.ch whose Ch pickles like chumpy's: class reference + __dict__ state."""
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    chumpy.ch = ch
    return chumpy, ch


def write_official_like_pickle(arrays: dict, path: Path, protocol: int = 2) -> None:
    """Mimic MANO_RIGHT.pkl: protocol 2, chumpy Ch for the dense arrays, scipy csc J_regressor, uint32 kintree with
    the root's parent stored as 2**32 - 1, Python 2 module names for numpy and scipy."""
    chumpy, ch = _fake_chumpy_module()
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, ch
    try:
        kintree = arrays["kintree_table"].astype(np.uint32)
        kintree[0, 0] = np.uint32(4294967295)
        official = {
            "v_template": ch.Ch(arrays["v_template"]),
            "shapedirs": ch.Ch(arrays["shapedirs"]),
            "posedirs": arrays["posedirs"],
            "weights": ch.Ch(arrays["weights"]),
            "J_regressor": scipy.sparse.csc_matrix(arrays["J_regressor"]),
            "kintree_table": kintree,
            "f": arrays["f"].astype(np.uint32),
            "hands_components": arrays["hands_components"],
            "hands_mean": arrays["hands_mean"],
            "hands_coeffs": np.zeros((10, 45)),
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }
        data = pickle.dumps(official, protocol=protocol)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray").replace(b"scipy.sparse._csc", b"scipy.sparse.csc")
    path.write_bytes(data)


@pytest.fixture(params=[2, 0], ids=["protocol2", "protocol0"])
def official_pickle(request, tmp_path, open_hand_arrays):
    path = tmp_path / "MANO_RIGHT.pkl"
    write_official_like_pickle(open_hand_arrays, path, request.param)
    data = path.read_bytes()
    assert b"chumpy.ch" in data and b"numpy.core.multiarray" in data
    if request.param == 0:  # Python 2 style object reconstruction
        assert b"copy_reg\n_reconstructor" in data
    return path


def test_converts_without_chumpy_and_loads_in_hand_model(official_pickle, tmp_path, open_hand_arrays):
    assert "chumpy" not in sys.modules
    out = convert_mano_pickle(official_pickle, tmp_path / "mano_model")
    assert out == tmp_path / "mano_model" / "MANO_RIGHT.npz"
    converted = load_model(tmp_path / "mano_model")
    for key in ("v_template", "shapedirs", "posedirs", "weights", "J_regressor", "hands_components", "hands_mean"):
        assert np.array_equal(converted[key], open_hand_arrays[key]), key
    assert np.array_equal(converted["f"], open_hand_arrays["f"])
    assert converted["kintree_table"][0, 0] == -1
    assert tuple(converted["fingertip_ids"]) == S2HAND_MANO_FINGERTIPS
    hand = HandModel(tmp_path / "mano_model")
    assert hand(torch.zeros(2, 30)).vertices.shape == (2, 778, 3)
    assert "chumpy" not in sys.modules


HOSTILE = {
    "os.system": b"cos\nsystem\n(S'touch {marker}'\ntR.",
    "builtins.eval": b"cbuiltins\neval\n(S'open(\"{marker}\", \"w\")'\ntR.",
    "posix.system nested in a dict": b"(dp0\nS'v_template'\np1\ncposix\nsystem\n(S'touch {marker}'\ntRs.",
    "subprocess.Popen": b"csubprocess\nPopen\n((S'touch'\nS'{marker}'\nltR.",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_globals_are_refused_and_nothing_runs(name, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(HOSTILE[name].replace(b"{marker}", str(marker).encode()))
    with pytest.raises(UnsafePickleError, match=r"refused to load global"):
        convert_mano_pickle(path, tmp_path / "out")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_the_hostile_payload_would_run_with_plain_pickle(tmp_path):
    # guards the test above: the payload is real, so refusing it means something
    marker = tmp_path / "pwned"
    pickle.loads(HOSTILE["os.system"].replace(b"{marker}", str(marker).encode()))
    assert marker.exists()


def test_corrupt_and_incomplete_pickles_name_the_file(tmp_path, official_pickle):
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(official_pickle.read_bytes()[:1000])
    with pytest.raises(DataError, match="truncated.pkl"):
        convert_mano_pickle(truncated, tmp_path / "out")
    incomplete = tmp_path / "incomplete.pkl"
    incomplete.write_bytes(pickle.dumps({"v_template": np.zeros((778, 3))}, protocol=2))
    with pytest.raises(DataError, match="missing key 'f'"):
        convert_mano_pickle(incomplete, tmp_path / "out")
    with pytest.raises(DataError, match="cannot read"):
        restricted_load(tmp_path / "absent.pkl")


def test_cli_convert_and_refusal(official_pickle, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "s2hand.cli", "mano", "convert", str(official_pickle), "--out",
                         str(tmp_path / "m")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "m" / "MANO_RIGHT.npz").is_file()
    hostile = tmp_path / "evil.pkl"
    hostile.write_bytes(HOSTILE["os.system"].replace(b"{marker}", str(tmp_path / "x").encode()))
    bad = subprocess.run([sys.executable, "-m", "s2hand.cli", "mano", "convert", str(hostile), "--out",
                          str(tmp_path / "n")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "refused to load global 'os.system'" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()
