"""Build hook: ship the released model bundles of ``models/`` inside the wheel.

``models/`` stays at the top of the repository (where releases are reviewed);
the wheel carries a copy as ``tgll_edge/bundled/`` so a plain ``pip install``
can run ``tgll-predict`` and ``tgll-stream`` with the default bundle.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithModels(build_py):
    def run(self):
        super().run()
        src = Path(__file__).parent / "models"
        if src.is_dir():
            dst = Path(self.build_lib) / "tgll_edge" / "bundled"
            shutil.copytree(src, dst, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.py", "__pycache__"))


setup(cmdclass={"build_py": BuildPyWithModels})
