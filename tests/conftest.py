"""Shared test setup: import the project from the repo root; locate the real data."""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# The real datasets live beside the project (../shared/data); CI must have them.
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


def numerical_grad(f, x, h=1e-6):
    """Central differences of a scalar function f at x (x is perturbed in place)."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f()
        x[i] = old - h
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def assert_close(analytic, numeric, tol=1e-6):
    scale = max(1.0, np.abs(numeric).max())
    assert np.abs(analytic - numeric).max() <= tol * scale, (analytic, numeric)


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


def fake_mnist(*args, evaluate_on=None, **kwargs):
    """A tiny learnable stand-in for load_mnist: noisy copies of one prototype per digit
    (with ``evaluate_on``, without the validation images, as load_mnist does)."""
    from mnist_data import Dataset, with_validation
    rng = np.random.default_rng(0)
    prototypes = rng.random((10, 784), dtype=np.float32)

    def split(n):
        y = np.arange(n) % 10
        return np.clip(prototypes[y] + 0.25 * rng.standard_normal((n, 784), dtype=np.float32), 0, 1), y
    data = Dataset(*split(600), *split(200))
    return with_validation(data, evaluate_on) if evaluate_on else data


def bad_input_message(script, flags, tmp_path):
    """Run a script with bad flags: it must exit 2, print no traceback and write no results.
    Returns its last stderr line, the one-line error."""
    out = tmp_path / "results.json"
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), *flags, "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not out.exists()
    return result.stderr.strip().splitlines()[-1]
