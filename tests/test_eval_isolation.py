"""The evaluation package imports neither Ray nor MLflow (it must run wherever a prediction file is)."""
import pkgutil
import subprocess
import sys

import s2hand.evaluation


def test_evaluation_imports_no_ray_or_mlflow():
    modules = [f"s2hand.evaluation.{m.name}" for m in pkgutil.iter_modules(s2hand.evaluation.__path__)]
    assert "s2hand.evaluation.scoring" in modules and "s2hand.evaluation.submission" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "import s2hand.cli.eval_cmd\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'mlflow'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
