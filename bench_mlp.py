"""Benchmark: seconds per training epoch of the shared numpy MLP and CNN, vs GEMM peak and PyTorch.

Five workloads on synthetic MNIST-shaped data (the experiments' shapes):

    W1  784-256-10        batch 128, 60k samples, cross-entropy
    W2  784-1200-1200-10  batch 128, 60k samples, cross-entropy   (omitted-class teacher)
    W3  784-800-800-10    batch 128, 54k samples, soft targets T=20 (omitted-class student)
    W4  784-256-256-13    batch 256, 60k samples, cross-entropy   (ghost-logit teacher)
    W5  the seed report's CNN (conv32-pool2-conv64-pool2-fc128-13, 3x3 convolutions)
                          batch 256, 60k samples, cross-entropy   (cnn_numpy.CNN)

Each epoch is timed after one warm-up epoch; the median of ``--repeats`` is
reported, with the fraction of this machine's float32 GEMM peak it reaches
(the epoch's matrix-multiply FLOPs / time / peak, peak = best 2048^3 matmul).
If PyTorch is importable, the same workloads run in PyTorch (nn.Sequential,
torch.optim.Adam with its defaults, the same batches, default threads; W5 in
NCHW, PyTorch's own layout, with its oneDNN convolutions) and the
ratio numpy/PyTorch is printed.  ``--naive`` adds a straightforward numpy MLP
(fresh arrays every step, whole-array Adam) to show what the buffers buy.
The implementations take turns epoch by epoch, and numpy/PyTorch is the
median of each numpy epoch over the PyTorch epoch right after it: the
machine's speed drifts over minutes, and timing one implementation after the
other let that drift into the ratio.  What changes from one run of the
benchmark to the next (W2 read 0.88, then 1.00) pairing cannot remove: run it
twice before trusting a ratio near a target.

``--pipelines`` also times each experiment's default recipe end to end, cut
short (see PIPELINES), for one seed and for five seeds with ``--jobs 2``.

    python bench_mlp.py --naive --pipelines --out viz/bench/bench_mlp.json
    python visualize.py --readme     # README's performance tables from that JSON

Timing is not a test: numbers depend on the machine, and the BLAS kernel that
OpenBLAS picks is recorded (threadpoolctl's name for it), never overridden.
Where the environment chooses it for OpenBLAS (OPENBLAS_CORETYPE, and
OPENBLAS_L2_SIZE for its blocking), ``--unset-openblas-env`` times everything
a second time in a child process with both removed, as on a machine that sets
neither; the JSON holds both runs, and the table says which is which.

    python bench_mlp.py --unset-openblas-env --out viz/bench/bench_mlp.json
"""

import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from cnn_numpy import CNN, SEED_REPORT_LAYERS, parse_layers
from mlp_numpy import MLP, Adam, cross_entropy, distillation_loss, softmax
from runs import OPENBLAS_ENV, Parser, check_out, cli, environment, save_json


WORKLOADS = {
    "W1": {"sizes": [784, 256, 10], "batch": 128, "n": 60000, "loss": "ce"},
    "W2": {"sizes": [784, 1200, 1200, 10], "batch": 128, "n": 60000, "loss": "ce"},
    "W3": {"sizes": [784, 800, 800, 10], "batch": 128, "n": 54000, "loss": "soft", "T": 20.0},
    "W4": {"sizes": [784, 256, 256, 13], "batch": 256, "n": 60000, "loss": "ce"},
    # A CNN workload: "cnn" is its layer list before the output layer; "sizes" its input and output widths.
    "W5": {"cnn": list(SEED_REPORT_LAYERS), "sizes": [784, 13], "batch": 256, "n": 60000, "loss": "ce"},
}
IMAGE = (28, 28, 1)


ROOT = os.path.dirname(os.path.abspath(__file__))
PIPELINES = {  # each experiment's default recipe with fewer epochs: (script, flags)
    "subclass": ("subclass_distill.py", ["--n-epochs-teacher", "3", "--n-epochs-student", "3"]),
    "ghost_logit": ("ghost_logit_distill.py", ["--n-epochs-teacher", "2", "--n-epochs-student", "2"]),
    "omitted_class": ("omitted_class_distill.py", ["--n-epochs-teacher", "1", "--n-epochs-student", "1",
                                                   "--no-cache"]),
}


def time_pipelines(names):
    """Wall seconds of each experiment's pipeline (PIPELINES) as a user runs it: one seed, then
    five seeds with --jobs 2 (teachers are never taken from a cache)."""
    rows = []
    for name in names:
        script, flags = PIPELINES[name]
        row = {"experiment": name, "flags": flags}
        for key, seeds in (("one_seed_s", ["--seed", "0"]),
                           ("five_seeds_jobs2_s", ["--seeds", "0", "1", "2", "3", "4", "--jobs", "2"])):
            with tempfile.TemporaryDirectory() as tmp:
                cache = ["--cache-dir", tmp] if name == "omitted_class" else []
                start = time.perf_counter()
                subprocess.run([sys.executable, os.path.join(ROOT, script), *flags, *seeds, *cache, "--quiet",
                                "--out", os.path.join(tmp, "r.json")], check=True)
                row[key] = time.perf_counter() - start
        row["five_seeds_speedup"] = 5 * row["one_seed_s"] / row["five_seeds_jobs2_s"]
        rows.append(row)
        print(f"{name}: one seed {row['one_seed_s']:.1f} s; five seeds, --jobs 2: {row['five_seeds_jobs2_s']:.1f} s "
              f"({row['five_seeds_speedup']:.2f}x five sequential seeds)", flush=True)
    return rows


def synthetic_data(spec, seed=0):
    """MNIST-like inputs (sparse, in [0, 1]) with learnable labels or soft targets.

    Learnable matters: on random labels a ReLU net soon stops learning and its
    zero gradients make a timing unrepresentative.
    """
    rng = np.random.default_rng(seed)
    x = rng.random((spec["n"], 784), dtype=np.float32)
    x[x < 0.8] = 0  # ~80 % zero pixels, like MNIST
    logits = x @ rng.standard_normal((784, spec["sizes"][-1])).astype(np.float32)
    if spec["loss"] == "soft":
        return x, softmax(logits, 1.0).astype(np.float32)
    return x, logits.argmax(axis=1)


def epoch_orders(n, n_epochs, seed=0):
    """The per-epoch shuffles, shared by every implementation so they see the same batches."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(n_epochs)]


def make_network(spec, seed=0):
    """The project's network for a workload: the CNN if it names one, else the MLP."""
    if "cnn" in spec:
        return CNN(spec["cnn"], n_outputs=spec["sizes"][-1], image_shape=IMAGE, seed=seed)
    return MLP(spec["sizes"], seed=seed)


def layer_names(spec):
    return "-".join(spec["cnn"] + [str(spec["sizes"][-1])]) if "cnn" in spec else "-".join(map(str, spec["sizes"]))


def matmul_flops_per_epoch(spec):
    """Forward (x W) and backward (dW, and dX for every layer but the first) GEMM FLOPs.  A 3x3
    convolution of an H x W image is one GEMM of (H*W, 9*C_in) by (9*C_in, C_out) per example."""
    if "cnn" in spec:
        convs, hidden, flat = parse_layers(spec["cnn"], IMAGE)
        gemms = [(h * w, 9 * c_in, c_out) for c_in, c_out, h, w, _ in convs]
        sizes = [flat, *hidden, spec["sizes"][-1]]
    else:
        gemms, sizes = [], spec["sizes"]
    gemms += [(1, a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    per_example = sum(2 * m * k * n for m, k, n in gemms) * 2 + sum(2 * m * k * n for m, k, n in gemms[1:])
    return per_example * spec["n"]


def gemm_peak_gflops(size=2048, repeats=7, library="numpy"):
    """The best float32 size^3 matmul of numpy (its BLAS) or of PyTorch (its own BLAS), in GFLOPS."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    b, c = a.copy(), np.empty_like(a)
    if library == "torch":
        import torch
        a, b, c = (torch.from_numpy(array) for array in (a, b, c))
        matmul = functools.partial(torch.mm, a, b, out=c)
    else:
        matmul = functools.partial(np.matmul, a, b, out=c)
    matmul()
    best = min(_timed(matmul) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def numpy_epoch_runner(spec, x, targets):
    """One epoch of the project's MLP or CNN + Adam; returns (run(order) -> adam seconds)."""
    net = make_network(spec)
    opt = Adam(net.params)
    batch, T = spec["batch"], spec.get("T")
    xb_buf = np.empty((batch, x.shape[1]), np.float32)
    tb_buf = np.empty((batch,) + targets.shape[1:], targets.dtype)

    def run(order):
        adam_seconds = 0.0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            xb = np.take(x, idx, axis=0, out=xb_buf[:len(idx)], mode="clip")
            tb = np.take(targets, idx, axis=0, out=tb_buf[:len(idx)], mode="clip")
            logits = net.forward(xb)
            _, dlogits = distillation_loss(logits, tb, T) if T else cross_entropy(logits, tb)
            net.backward(dlogits)
            adam_start = time.perf_counter()
            opt.step(net.grads)
            adam_seconds += time.perf_counter() - adam_start
        return adam_seconds
    return run


def naive_epoch_runner(spec, x, targets):
    """The straightforward numpy MLP: fresh arrays every step, whole-array Adam."""
    rng = np.random.default_rng(0)
    pairs = list(zip(spec["sizes"][:-1], spec["sizes"][1:]))
    params = [p for a, b in pairs for p in ((rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32),
                                            np.zeros(b, np.float32))]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    batch, T, state = spec["batch"], spec.get("T"), {"t": 0}

    def run(order):
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            acts = [x[idx]]
            for i in range(0, len(params), 2):
                z = acts[-1] @ params[i] + params[i + 1]
                acts.append(np.maximum(z, 0) if i < len(params) - 2 else z)
            tb = targets[idx]
            _, delta = distillation_loss(acts[-1], tb, T) if T else cross_entropy(acts[-1], tb)
            grads = [None] * len(params)
            for i in range(len(params) - 2, -1, -2):
                grads[i], grads[i + 1] = acts[i // 2].T @ delta, delta.sum(axis=0)
                if i:
                    delta = (delta @ params[i].T) * (acts[i // 2] > 0)
            state["t"] += 1
            t = state["t"]
            for p, g, mi, vi in zip(params, grads, m, v):
                mi[...] = 0.9 * mi + 0.1 * g
                vi[...] = 0.999 * vi + 0.001 * g * g
                p -= 1e-3 * (mi / (1 - 0.9 ** t)) / (np.sqrt(vi / (1 - 0.999 ** t)) + 1e-8)
        return 0.0
    return run


def torch_epoch_runner(spec, x, targets):
    """The same epoch in PyTorch with its defaults (nn.Sequential, torch.optim.Adam); returns
    (run(order) -> seconds in opt.step), as the numpy runner does."""
    import torch
    torch.manual_seed(0)
    net = torch_cnn(spec) if "cnn" in spec else torch_mlp(spec)
    opt = torch.optim.Adam(net.parameters())
    x_t, targets_t = torch.from_numpy(x), torch.from_numpy(targets)
    if "cnn" in spec:
        x_t = x_t.reshape(-1, 1, *IMAGE[:2])  # NCHW
    batch, T = spec["batch"], spec.get("T")

    def run(order):
        order_t = torch.from_numpy(order)
        adam_seconds = 0.0
        for start in range(0, len(order), batch):
            idx = order_t[start:start + batch]
            logits = net(x_t.index_select(0, idx))
            tb = targets_t.index_select(0, idx)
            if T:
                loss = torch.nn.functional.kl_div(torch.log_softmax(logits / T, dim=1), tb,
                                                  reduction="batchmean") * T * T
            else:
                loss = torch.nn.functional.cross_entropy(logits, tb)
            opt.zero_grad()
            loss.backward()
            adam_start = time.perf_counter()
            opt.step()
            adam_seconds += time.perf_counter() - adam_start
        return adam_seconds
    return run


def torch_linear_layers(sizes):
    """Linear layers of these widths, a ReLU after each but the last, as PyTorch modules."""
    import torch
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
    return layers


def torch_mlp(spec):
    import torch
    return torch.nn.Sequential(*torch_linear_layers(spec["sizes"]))


def torch_cnn(spec):
    """The workload's CNN as a PyTorch user writes it: Conv2d (3x3, padding 1), ReLU, MaxPool2d, Linear."""
    import torch
    convs, hidden, flat = parse_layers(spec["cnn"], IMAGE)
    layers = []
    for c_in, c_out, _, _, pool in convs:
        layers += [torch.nn.Conv2d(c_in, c_out, 3, padding=1), torch.nn.ReLU()]
        layers += [torch.nn.MaxPool2d(pool)] if pool > 1 else []
    layers.append(torch.nn.Flatten())
    return torch.nn.Sequential(*layers, *torch_linear_layers([flat, *hidden, spec["sizes"][-1]]))


def time_epochs(runners, orders):
    """Each implementation's warm-up epoch, then the timed epochs in turn (numpy, naive, PyTorch,
    numpy, ...), so that a drift in the machine's speed reaches them alike.  Returns each one's
    epoch seconds and Adam seconds, in order, for medians and epoch-by-epoch ratios."""
    for runner in runners.values():
        runner(orders[0])
    seconds, adam = {name: [] for name in runners}, {name: [] for name in runners}
    for order in orders[1:]:
        for name, runner in runners.items():
            start = time.perf_counter()
            adam[name].append(runner(order))
            seconds[name].append(time.perf_counter() - start)
    return seconds, adam


def paired_ratio(numpy_seconds, torch_seconds):
    """The median of each numpy epoch's time over the PyTorch epoch's right after it (time_epochs)."""
    return float(np.median(np.divide(numpy_seconds, torch_seconds)))


def run_benchmark(names, repeats, with_naive, with_torch):
    env = environment()
    peak = gemm_peak_gflops()
    print(f"CPU: {env['cpu']} ({env['n_cpus']} cores); numpy {env['numpy']}, {env['blas']}, "
          f"kernel {env['blas_core']} ({openblas_env(env)})")
    print(f"float32 GEMM peak (2048^3 matmul): {peak:.0f} GFLOPS")
    torch_version, torch_peak = None, None
    if with_torch:
        try:
            import torch
            torch_version, torch_peak = torch.__version__, gemm_peak_gflops(library="torch")
            print(f"PyTorch {torch_version}, {torch.get_num_threads()} threads, "
                  f"float32 GEMM peak {torch_peak:.0f} GFLOPS")
        except ImportError:
            print("PyTorch not importable: numpy only")
    results = []
    for name in names:
        spec = WORKLOADS[name]
        x, targets = synthetic_data(spec)
        orders = epoch_orders(spec["n"], repeats + 1)
        flops = matmul_flops_per_epoch(spec)
        row = {"workload": name, **spec, "gflop_per_epoch": flops / 1e9}
        runners = {"numpy": numpy_epoch_runner(spec, x, targets)}
        if with_naive and "cnn" not in spec:
            runners["naive"] = naive_epoch_runner(spec, x, targets)
        if torch_version:
            runners["torch"] = torch_epoch_runner(spec, x, targets)
        seconds, adam = time_epochs(runners, orders)
        row["numpy_s"], row["numpy_adam_s"] = float(np.median(seconds["numpy"])), float(np.median(adam["numpy"]))
        row["fraction_of_peak"] = flops / row["numpy_s"] / (peak * 1e9)
        if "naive" in seconds:
            row["naive_s"] = float(np.median(seconds["naive"]))
        if torch_version:
            row["torch_s"], row["torch_adam_s"] = float(np.median(seconds["torch"])), float(np.median(adam["torch"]))
            row["numpy_over_torch"] = paired_ratio(seconds["numpy"], seconds["torch"])
            # the same on the time outside the optimiser: how the forward and backward passes compare
            row["numpy_over_torch_without_adam"] = paired_ratio(np.subtract(seconds["numpy"], adam["numpy"]),
                                                                np.subtract(seconds["torch"], adam["torch"]))
        results.append(row)
        print(format_row(row), flush=True)
    return {"environment": env, "torch": torch_version, "gemm_peak_gflops": peak, "torch_gemm_peak_gflops": torch_peak,
            "repeats": repeats, "workloads": results}


def openblas_env(env):
    """What the environment set for OpenBLAS, as one phrase."""
    return ", ".join(f"{name}={env.get(name)}" for name in OPENBLAS_ENV)


def without_openblas_env(argv):
    """The same benchmark (``argv`` without --unset-openblas-env; its --out is overridden by the last one) in a
    child process whose environment lacks OPENBLAS_ENV: its results, or None if the environment set neither."""
    if not any(os.environ.get(name) for name in OPENBLAS_ENV):
        print("\nneither OPENBLAS_CORETYPE nor OPENBLAS_L2_SIZE is set: the run above is the unset one")
        return None
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_ENV}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "unset.json")
        print(f"\nagain with {' and '.join(OPENBLAS_ENV)} unset:", flush=True)
        subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--out", out], env=env, check=True)
        with open(out) as f:
            return json.load(f)


def format_row(row):
    text = (f"{row['workload']} {layer_names(row):18s} batch {row['batch']:3d}: "
            f"numpy {row['numpy_s']:6.2f} s/epoch (Adam {row['numpy_adam_s']:.2f} s), "
            f"{100 * row['fraction_of_peak']:4.1f} % of GEMM peak")
    if "naive_s" in row:
        text += f"; naive numpy {row['naive_s']:.2f} s"
    if "torch_s" in row:
        text += (f"; PyTorch {row['torch_s']:.2f} s (Adam {row['torch_adam_s']:.2f} s); "
                 f"numpy/PyTorch {row['numpy_over_torch']:.2f}")
    return text


def markdown_table(results):
    """The README's performance table, generated from the benchmark JSON."""
    env = results["environment"]
    lines = [f"Machine: {env['cpu']}, {env['n_cpus']} cores; Python {env['python']}, numpy {env['numpy']}, "
             f"{env['blas']} (kernel {env['blas_core']}; {openblas_env(env)}); "
             f"PyTorch {results['torch'] or 'not installed'}; "
             f"float32 GEMM peak {results['gemm_peak_gflops']:.0f} GFLOPS"
             + (f" (PyTorch's: {results['torch_gemm_peak_gflops']:.0f})" if results.get("torch_gemm_peak_gflops")
                else "") + "; "
             f"median of {results['repeats']} epochs after a warm-up.",
             "",
             "| workload | layers | batch | numpy s/epoch | of which Adam | % of GEMM peak | naive numpy s/epoch "
             "| PyTorch s/epoch | of which Adam | numpy / PyTorch | the same, Adam left out |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in results["workloads"]:
        cells = [row["workload"], layer_names(row), str(row["batch"]),
                 f"{row['numpy_s']:.2f}", f"{row['numpy_adam_s']:.2f}", f"{100 * row['fraction_of_peak']:.0f} %",
                 f"{row['naive_s']:.2f}" if "naive_s" in row else "-",
                 f"{row['torch_s']:.2f}" if "torch_s" in row else "-",
                 f"{row['torch_adam_s']:.2f}" if "torch_adam_s" in row else "-",
                 f"{row['numpy_over_torch']:.2f}" if "numpy_over_torch" in row else "-",
                 f"{row['numpy_over_torch_without_adam']:.2f}" if "numpy_over_torch_without_adam" in row else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    if results.get("pipelines"):
        lines += ["", "| experiment (default recipe, fewer epochs) | one seed, s | five seeds with --jobs 2, s | "
                      "speed-up over five one-seed runs |", "|---|---|---|---|"]
        lines += [f"| {row['experiment']} `{' '.join(row['flags'])}` | {row['one_seed_s']:.1f} | "
                  f"{row['five_seeds_jobs2_s']:.1f} | {row['five_seeds_speedup']:.2f}x |" for row in results["pipelines"]]
    if results.get("openblas_env_unset"):
        lines += ["", f"The same with {' and '.join(OPENBLAS_ENV)} unset:", "",
                  markdown_table(results["openblas_env_unset"])]
    return "\n".join(lines)


def main(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS),
                        help="which workloads to time (default: all five)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed epochs of each implementation per workload after the warm-up (>= 1)")
    parser.add_argument("--naive", action="store_true", help="also time a straightforward numpy MLP")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is importable")
    parser.add_argument("--pipelines", nargs="*", choices=list(PIPELINES), metavar="EXPERIMENT",
                        help="also time these experiments end to end (no name: all three; needs the data)")
    parser.add_argument("--unset-openblas-env", action="store_true",
                        help=f"then time it all again with {' and '.join(OPENBLAS_ENV)} removed from the "
                             "environment (in a child process), and report both")
    parser.add_argument("--out", metavar="JSON", help="write the results to this JSON file")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.out:
        check_out(args.out)  # before the minutes of timing, not after
    results = run_benchmark(args.workloads, args.repeats, args.naive, not args.no_torch)
    if args.pipelines is not None:
        results["pipelines"] = time_pipelines(args.pipelines or list(PIPELINES))
    if args.unset_openblas_env:
        results["openblas_env_unset"] = without_openblas_env([a for a in argv if a != "--unset-openblas-env"])
    if args.out:
        save_json(results, args.out)
        print(f"wrote {args.out}")
    print()
    print(markdown_table(results))


if __name__ == "__main__":
    cli(main)
