"""Shared test set-up: quiet TensorFlow, keep caches and runs out of the project tree."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_paths(tmp_path, monkeypatch):
    """Point the cache and runs folders at a temporary folder for every test."""
    from fer_utils import paths

    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
