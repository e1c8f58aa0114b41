"""Maps the repository's folders into the one import package ``s2hand``.

``platform/`` must never be importable as a top-level ``platform`` (it would shadow the standard library), so
every folder is installed under ``s2hand``. Works for regular and editable installs.
"""
from setuptools import find_packages, setup

PACKAGE_ROOTS = {
    "s2hand": "platform",
    "s2hand.evaluation": "evaluation",
    "s2hand.dashboards": "dashboards",
}


def _packages() -> list[str]:
    names = []
    for package, folder in PACKAGE_ROOTS.items():
        names.append(package)
        names += [f"{package}.{sub}" for sub in find_packages(folder)]
    return names


setup(
    packages=_packages(),
    package_dir=PACKAGE_ROOTS,
)
