"""s2hand: an experiment and evaluation platform for self-supervised 3D hand reconstruction.

This folder is the package ``s2hand`` (see setup.py). It lives in a folder named ``platform`` by the user's layout;
if it is ever reached as the top-level module ``platform`` (e.g. ``python`` started in the repository root), it
hands the import over to the standard library's ``platform`` so nothing is shadowed.
"""
if __name__ == "platform":  # pragma: no cover - exercised in a subprocess by tests/test_package.py
    import importlib.util as _util
    import sys as _sys
    import sysconfig as _sysconfig
    from pathlib import Path as _Path

    _spec = _util.spec_from_file_location("platform", _Path(_sysconfig.get_paths()["stdlib"]) / "platform.py")
    _module = _util.module_from_spec(_spec)
    _sys.modules["platform"] = _module  # the import statement returns whatever sys.modules holds afterwards
    _spec.loader.exec_module(_module)
else:
    __version__ = "0.1.0"
    __all__ = ["__version__"]
