"""The one build step pyproject.toml cannot declare: the starter models (assets/) travel inside
the ``studio`` package of a wheel or a non-editable install, where ``studio.paths`` finds them
when no source tree is beside the package. An editable install reads them from the tree."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            target = Path(self.build_lib) / "studio" / "assets"
            shutil.copytree(Path(__file__).parent / "assets", target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithAssets})
