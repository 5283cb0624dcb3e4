"""Files shipped inside the package (prompts, configs, training recipes), found the same way in a checkout
and in an installed wheel."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_dir(package: str) -> Path:
    """The folder holding a data package's files (`autodata.prompts`, `autodata.configs`, ...)."""
    return Path(str(files(package)))
