"""The real MNIST and Fashion-MNIST from ../shared/data (CI has them; skipped only where absent)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import mnist_data
from conftest import ROOT, real_data_dir

CLASS_COUNTS = {
    "mnist": ([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
              [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    "fashion-mnist": ([6000] * 10, [1000] * 10),
}


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_real_dataset_through_the_environment_variable(dataset, monkeypatch):
    monkeypatch.setenv("HINTON_DATA_DIR", real_data_dir(dataset))
    x_train, y_train, x_test, y_test = mnist_data.load_mnist(dataset, download=False)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and x_train.min() == 0.0 and x_train.max() == 1.0
    train_counts, test_counts = CLASS_COUNTS[dataset]
    assert np.bincount(y_train).tolist() == train_counts
    assert np.bincount(y_test).tolist() == test_counts


def test_real_mnist_through_the_flag_with_the_parent_folder():
    parent = os.path.dirname(real_data_dir("mnist"))  # ../shared/data holds mnist/ and fashion-mnist/
    result = subprocess.run([sys.executable, os.path.join(ROOT, "mnist_data.py"), "--check",
                             "--no-download", "--data-dir", parent], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "train  60000 images" in result.stdout and "3:1010" in result.stdout


def test_real_files_are_not_mixed_up_between_datasets():
    with pytest.raises(mnist_data.DataError, match="SHA-256 mismatch"):
        mnist_data.load_mnist("fashion-mnist", data_dir=real_data_dir("mnist"), download=False)
