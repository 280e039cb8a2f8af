"""The benchmark runs end to end on a tiny workload."""

import json

import numpy as np
import pytest

import bench_mlp

MACHINE = {"cpu": "x", "n_cpus": 2, "python": "3", "numpy": "2", "blas": "b", "blas_core": "k"}


def test_matmul_flops_counts_forward_and_backward_gemms():
    spec = {"sizes": [784, 1200, 1200, 10], "n": 1}
    forward = 2 * (784 * 1200 + 1200 * 1200 + 1200 * 10)
    input_grads = 2 * (1200 * 1200 + 1200 * 10)  # no dL/dx for the first layer
    assert bench_mlp.matmul_flops_per_epoch(spec) == 2 * forward + input_grads


def test_cnn_flops_count_each_convolution_as_one_gemm_per_image():
    spec = {"cnn": ["conv4", "pool2", "fc8"], "sizes": [784, 10], "n": 1}
    conv, fc, out = 2 * 784 * 9 * 4, 2 * (14 * 14 * 4) * 8, 2 * 8 * 10
    assert bench_mlp.matmul_flops_per_epoch(spec) == 2 * (conv + fc + out) + fc + out


def test_tiny_benchmark_runs_and_writes_a_table(monkeypatch, tmp_path):
    monkeypatch.setattr(bench_mlp, "WORKLOADS", {
        "T1": {"sizes": [784, 16, 10], "batch": 32, "n": 256, "loss": "ce"},
        "T2": {"sizes": [784, 16, 16, 10], "batch": 32, "n": 200, "loss": "soft", "T": 20.0},
        "T3": {"cnn": ["conv4", "pool2", "fc8"], "sizes": [784, 10], "batch": 32, "n": 96, "loss": "ce"}})
    monkeypatch.setattr(bench_mlp, "gemm_peak_gflops", lambda: 100.0)
    out = tmp_path / "bench.json"
    bench_mlp.main(["--workloads", "T1", "T2", "T3", "--repeats", "1", "--naive", "--no-torch", "--out", str(out)])
    results = json.loads(out.read_text())
    assert [r["workload"] for r in results["workloads"]] == ["T1", "T2", "T3"]
    for row in results["workloads"]:
        spec = bench_mlp.WORKLOADS[row["workload"]]
        # The Adam time is part of the epoch, and the peak fraction is the epoch's GEMM work over it.
        assert 0 < row["numpy_adam_s"] < row["numpy_s"]
        assert row["fraction_of_peak"] == pytest.approx(
            bench_mlp.matmul_flops_per_epoch(spec) / row["numpy_s"] / 100e9)
    assert results["workloads"][0]["naive_s"] > 0 and "naive_s" not in results["workloads"][2]  # no naive CNN
    table = bench_mlp.markdown_table(results)
    assert "| T2 | 784-16-16-10 | 32 |" in table and "| T3 | conv4-pool2-fc8-10 | 32 |" in table


def test_pytorch_cnn_has_the_numpy_cnns_parameter_count():
    torch = pytest.importorskip("torch")
    spec = bench_mlp.WORKLOADS["W5"]
    torch_count = sum(p.numel() for p in bench_mlp.torch_cnn(spec).parameters())
    assert torch_count == bench_mlp.make_network(spec).params.size
    assert bench_mlp.torch_cnn(spec)(torch.zeros(2, 1, 28, 28)).shape == (2, 13)


def test_synthetic_data_is_learnable_by_the_shapes_it_claims():
    x, labels = bench_mlp.synthetic_data({"sizes": [784, 8, 13], "n": 500, "loss": "ce"})
    assert x.shape == (500, 784) and x.dtype == np.float32 and labels.max() < 13
    assert 0.7 < np.mean(x == 0) < 0.9
    _, soft = bench_mlp.synthetic_data({"sizes": [784, 8, 10], "n": 50, "loss": "soft"})
    assert np.allclose(soft.sum(axis=1), 1, atol=1e-5)


def test_pipeline_timings_run_each_script_and_land_in_the_table(monkeypatch):
    from conftest import real_data_dir
    monkeypatch.setenv("HINTON_DATA_DIR", real_data_dir("mnist"))
    monkeypatch.setattr(bench_mlp, "PIPELINES", {"ghost_logit": ("ghost_logit_distill.py", [
        "--n-epochs-teacher", "1", "--n-epochs-student", "1", "--hidden", "8", "--n-noise", "500"])})
    rows = bench_mlp.time_pipelines(["ghost_logit"])
    assert rows[0]["five_seeds_speedup"] == pytest.approx(5 * rows[0]["one_seed_s"] / rows[0]["five_seeds_jobs2_s"])
    table = bench_mlp.markdown_table({"environment": MACHINE, "torch": None, "gemm_peak_gflops": 1.0,
                                      "repeats": 1, "workloads": [], "pipelines": rows})
    assert "| ghost_logit `--n-epochs-teacher 1" in table


def test_ratios_pair_each_numpy_epoch_with_the_pytorch_epoch_after_it():
    assert bench_mlp.paired_ratio([1.0, 2.0, 9.0], [2.0, 2.0, 3.0]) == 1.0  # median of 0.5, 1, 3


def test_the_table_compares_the_libraries_with_and_without_their_optimisers():
    row = {"workload": "W9", "sizes": [784, 10], "batch": 8, "numpy_s": 3.0, "numpy_adam_s": 1.0,
           "fraction_of_peak": 0.5, "torch_s": 5.0, "torch_adam_s": 1.0, "numpy_over_torch": 0.6,
           "numpy_over_torch_without_adam": 0.5}
    table = bench_mlp.markdown_table({"environment": MACHINE, "torch": "2", "gemm_peak_gflops": 300.0,
                                      "torch_gemm_peak_gflops": 200.0, "repeats": 1, "workloads": [row]})
    assert "float32 GEMM peak 300 GFLOPS (PyTorch's: 200)" in table
    assert "| W9 | 784-10 | 8 | 3.00 | 1.00 | 50 % | - | 5.00 | 1.00 | 0.60 | 0.50 |" in table


def test_pytorch_runner_times_its_optimiser_step_inside_the_epoch():
    pytest.importorskip("torch")
    spec = {"sizes": [784, 16, 10], "batch": 32, "n": 256, "loss": "ce"}
    x, labels = bench_mlp.synthetic_data(spec)
    run = bench_mlp.torch_epoch_runner(spec, x, labels)
    order = bench_mlp.epoch_orders(spec["n"], 1)[0]
    start = bench_mlp.time.perf_counter()
    adam_seconds = run(order)
    assert 0 < adam_seconds < bench_mlp.time.perf_counter() - start


def test_unset_openblas_env_runs_the_benchmark_again_without_those_variables(monkeypatch, tmp_path):
    """The child benchmark sees neither variable, records the kernel it got, and lands in the JSON and table."""
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    out = tmp_path / "bench.json"
    bench_mlp.main(["--workloads", "W1", "--repeats", "1", "--no-torch", "--unset-openblas-env", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["environment"]["OPENBLAS_CORETYPE"] == "Haswell"
    assert results["environment"]["OPENBLAS_L2_SIZE"] == "1048576"
    unset = results["openblas_env_unset"]
    assert unset["environment"]["OPENBLAS_CORETYPE"] is None and unset["environment"]["OPENBLAS_L2_SIZE"] is None
    assert unset["environment"]["blas_core"] and "openblas_env_unset" not in unset
    table = bench_mlp.markdown_table(results)
    assert "OPENBLAS_CORETYPE=Haswell, OPENBLAS_L2_SIZE=1048576" in table
    assert "The same with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset:" in table
    assert "OPENBLAS_CORETYPE=None, OPENBLAS_L2_SIZE=None" in table


def test_unset_openblas_env_with_nothing_set_times_once(monkeypatch, tmp_path):
    for name in bench_mlp.OPENBLAS_ENV:
        monkeypatch.delenv(name, raising=False)
    assert bench_mlp.without_openblas_env(["--workloads", "W1"]) is None
