"""The public surface: what __all__ promises is what is there, and nothing else."""

from __future__ import annotations

import types

import pytest

import sora2pro
import sora2pro.testing


@pytest.mark.parametrize("module", [sora2pro, sora2pro.testing])
def test_all_matches_public_names(module: types.ModuleType) -> None:
    """__all__ lists exactly the public, non-module names (ruff RUF022 keeps it sorted)."""
    for name in module.__all__:
        getattr(module, name)  # a name imported on first use (RedisCoordination) resolves
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(module.__all__) - {"__version__"} == public


def test_version_comes_from_metadata() -> None:
    """__version__ is the installed distribution's version."""
    import importlib.metadata  # noqa: PLC0415

    assert importlib.metadata.version("sora2pro") == sora2pro.__version__


def test_errors_form_one_tree() -> None:
    """Every exported exception derives from Sora2ProError, and the documented extras hold."""
    errors = [
        v for v in vars(sora2pro).values() if isinstance(v, type) and issubclass(v, Exception)
    ]
    assert all(issubclass(e, sora2pro.Sora2ProError) for e in errors)
    assert issubclass(sora2pro.InvalidInputError, ValueError)
    assert issubclass(sora2pro.WaitTimeoutError, TimeoutError)
    assert issubclass(sora2pro.SubmitUncertainError, sora2pro.TransportError)
