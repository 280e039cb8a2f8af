"""Shared test setup: import the project from the repo root; locate the real data."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# The real datasets live beside the project (../shared/data); CI must have them.
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


def real_data_dir(dataset):
    """Folder of a real dataset, or skip the test with the reason."""
    path = os.path.join(SHARED_DATA, dataset)
    if not os.path.isdir(path):
        pytest.skip(f"real {dataset} not found at {path} (CI provides ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache and no data folder from the environment."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("HINTON_DATA_DIR", raising=False)
