"""The installed version, read from the package metadata (never typed twice)."""

from __future__ import annotations

import importlib.metadata

__all__ = ["VERSION"]

try:
    VERSION = importlib.metadata.version("sora2pro")
except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
    VERSION = "0+unknown"
