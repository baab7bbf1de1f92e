"""Import a script that is not part of the package (a benchmark, an example's data maker)."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path


def load_script(path: Path) -> types.ModuleType:
    """The module defined by the Python file ``path`` (named after the file)."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
