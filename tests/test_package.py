"""The package layout: `platform/` is `s2hand`, never the standard library's `platform`."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_platform_after_s2hand_is_stdlib():
    import platform

    import s2hand

    assert Path(s2hand.__file__).parent.name == "platform"
    assert hasattr(platform, "python_version") and platform.python_version() == sys.version.split()[0]
    assert "site-packages" not in platform.__file__ and Path(platform.__file__).name == "platform.py"


@pytest.mark.parametrize("cwd", [REPO, REPO / "tests"])
def test_stdlib_platform_even_from_repo_root(cwd):
    # sys.path[0] is the working directory for `python -c`: the repo root holds a folder named `platform`.
    code = "import platform, s2hand; print(platform.__file__); print(platform.system()); print(s2hand.__version__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True).stdout
    path, system, version = out.split()
    assert path.endswith("platform.py") and Path(path).parent != REPO / "platform"
    assert system and version == __import__("s2hand").__version__


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "s2hand.cli", "--help"], capture_output=True, text=True, check=True)
    assert "hand" in out.stdout and "config" in out.stdout
