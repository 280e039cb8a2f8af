"""Omitted-class dark knowledge: a student that never saw a 3 still recognises 3s.

Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network",
section 3.  A big teacher (784-1200-1200-10, trained on all of MNIST with
+-2 pixel jitter) produces soft targets at a high temperature T.  A smaller
student (784-800-800-10, no regularisation) is trained to match them on a
*transfer set from which every example of one digit has been removed*.  The
student's only information about that digit is the teacher's small
probabilities for it on the other digits ("this 8 looks a bit like a 3"), yet
it classifies most test 3s correctly; what it gets wrong is mostly a bias
too low, which one scalar added to the 3's output bias corrects.  The offset
is chosen without the test set: the student's mean probability of a 3 over a
probe of training images is matched to the frequency of 3s.

    python omitted_class_distill.py                       # omit 3, seed 0 (the default recipe)
    python omitted_class_distill.py --preset public       # the public numpy script's recipe (speed target)
    python omitted_class_distill.py --omit none --baseline --seeds 0 1 2   # the compression table
    python omitted_class_distill.py --keep 7 8            # transfer set of only 7s and 8s
    python omitted_class_distill.py --sweep omit=0,1,2,3,4,5,6,7,8,9

Teachers are cached on disk (an .npz keyed by the teacher's whole config and
seed), so sweeps over the student side retrain only the student.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import time
import zipfile

import numpy as np

from mlp_numpy import MLP, Adam, cross_entropy, distillation_loss, jitter, minibatches, softmax
from mnist_data import (DataError, ScriptParser, cache_dir, describe, load_mnist, out_of_range,
                        run_config, save_results, sweep_variants, write_atomically)

# ----------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------

PRESETS = {
    # The public numpy reproduction's recipe: 12 teacher epochs, 20 student epochs, constant learning rate.
    "public": dict(n_epochs_teacher=12, n_epochs_student=20, teacher_dropout=0.0, lr_schedule="constant"),
    # This project's default, chosen by measurement (README): longer, with dropout and a cosine schedule.
    "default": dict(n_epochs_teacher=40, n_epochs_student=40, teacher_dropout=0.3, lr_schedule="cosine"),
}
SWEEPABLE = {"omit": lambda v: [int(v)] if v != "none" else [], "temperature": float, "student_hidden": int,
             "hard_weight": float, "n_epochs_student": int, "lr": float}
N_CLASSES = 10
CACHE_FORMAT = 1  # bump when the cached teacher's contents change meaning


def parse_args(argv=None):
    parser = ScriptParser(description=__doc__.split("\n\n")[0],
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="a recipe; any flag given explicitly overrides it")
    parser.add_argument("--seed", type=int, default=0, help="seed for inits, data order, jitter, dropout, probe")
    parser.add_argument("--seeds", type=int, nargs="+", help="run these seeds and summarise (overrides --seed)")
    parser.add_argument("--omit", nargs="+", metavar="DIGIT",
                        help="digits removed from the transfer set, or 'none' (default: 3)")
    parser.add_argument("--keep", type=int, nargs="+", metavar="DIGIT",
                        help="instead of --omit: the transfer set holds only these digits (e.g. 7 8)")
    parser.add_argument("--temperature", type=float, default=20.0, help="distillation temperature T (T^2 factor)")
    parser.add_argument("--hard-weight", type=float, default=0.0,
                        help="weight of the cross-entropy on the transfer set's hard labels (0: soft targets only)")
    parser.add_argument("--baseline", action="store_true",
                        help="also train the student on the transfer set's hard labels alone (no teacher)")
    parser.add_argument("--n-epochs-teacher", type=int, help="teacher epochs")
    parser.add_argument("--n-epochs-student", type=int, help="student epochs (also the baseline's)")
    parser.add_argument("--teacher-hidden", type=int, default=1200, help="width of the teacher's two hidden layers")
    parser.add_argument("--student-hidden", type=int, default=800, help="width of the student's two hidden layers")
    parser.add_argument("--teacher-dropout", type=float, help="dropout probability on the teacher's hidden units")
    parser.add_argument("--jitter", type=int, default=2, help="teacher augmentation: max shift in pixels")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size (teacher and student)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (teacher and student)")
    parser.add_argument("--lr-schedule", choices=["constant", "cosine"],
                        help="learning rate over the epochs: constant, or cosine decay towards 0")
    parser.add_argument("--probe-size", type=int, default=60000,
                        help="training images (drawn at random; all if >= the training set) on which the "
                             "student's mean probability of each omitted class is matched to its frequency")
    parser.add_argument("--cache-dir", metavar="DIR", help="where trained teachers are kept "
                        "(default: the dataset cache's teachers/ folder)")
    parser.add_argument("--no-cache", action="store_true", help="retrain the teacher (and overwrite its cached copy)")
    parser.add_run_args("omitted_class", SWEEPABLE)
    args = parser.parse_experiment(argv, PRESETS, SWEEPABLE, invalid_settings)
    args.omit = omitted_digits(args)
    return args


def omitted_digits(args):
    """The digits missing from the transfer set, sorted; raises ValueError on a bad --omit/--keep."""
    if args.keep is not None:
        if args.omit is not None:
            raise ValueError("give --omit or --keep, not both")
        if not set(args.keep) <= set(range(N_CLASSES)):
            raise ValueError(f"--keep digits must be 0-9, got {args.keep}")
        return sorted(set(range(N_CLASSES)) - set(args.keep))
    if args.omit is None:
        return [3]
    if args.omit == ["none"] or args.omit == []:
        return []
    try:
        digits = sorted({int(d) for d in args.omit})
    except (TypeError, ValueError):
        raise ValueError(f"--omit takes digits 0-9 or 'none', got {' '.join(map(str, args.omit))}") from None
    if not set(digits) <= set(range(N_CLASSES)):
        raise ValueError(f"--omit digits must be 0-9, got {' '.join(map(str, args.omit))}")
    if len(digits) == N_CLASSES:
        raise ValueError("--omit cannot remove all ten digits: the transfer set would be empty")
    return digits


def invalid_settings(args):
    """What is wrong with a configuration, as a list of one-line messages."""
    problems = out_of_range(args, positive=("n_epochs_teacher", "n_epochs_student", "teacher_hidden",
                                            "student_hidden", "batch_size", "probe_size", "temperature", "lr"),
                            non_negative=("hard_weight", "jitter"))
    if not 0 <= args.teacher_dropout < 1:
        problems.append("--teacher-dropout must be in [0, 1)")
    try:
        omitted_digits(args)
    except ValueError as err:
        problems.append(str(err))
    return problems


# ----------------------------------------------------------------------------
# Data: the transfer set is the training set without the omitted digits
# ----------------------------------------------------------------------------


def transfer_mask(labels, omitted):
    """True for the training examples the student may see (every omitted digit removed)."""
    return ~np.isin(labels, omitted)


def derived_seeds(seed):
    """Independent seeds: teacher init, teacher data/jitter/dropout, student init, student data, probe."""
    return np.random.default_rng(seed).integers(2 ** 31, size=5)


def learning_rate(args, epoch, n_epochs):
    """Adam's step size for a (1-based) epoch: constant, or cosine-decayed from --lr towards 0."""
    if args.lr_schedule == "constant":
        return args.lr
    return args.lr * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / n_epochs))


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------


def evaluate(logits, labels, omitted):
    """Accuracy and error counts overall, per class, on the omitted digits and on the rest."""
    correct = logits.argmax(axis=1) == labels
    on_omitted = np.isin(labels, omitted)
    return {"acc": float(correct.mean()), "errors": int((~correct).sum()),
            "per_class_acc": [float(correct[labels == c].mean()) for c in range(N_CLASSES)],
            "omitted_acc": float(correct[on_omitted].mean()) if on_omitted.any() else None,
            "omitted_errors": int((~correct[on_omitted]).sum()),
            "others_acc": float(correct[~on_omitted].mean())}


# ----------------------------------------------------------------------------
# The teacher (trained once per config and seed, then cached)
# ----------------------------------------------------------------------------


def teacher_config(args, seed):
    """Everything that determines the trained teacher; its hash names the cache file."""
    return {"format": CACHE_FORMAT, "dataset": args.dataset, "seed": int(seed),
            "sizes": [784, args.teacher_hidden, args.teacher_hidden, N_CLASSES],
            "n_epochs": args.n_epochs_teacher, "dropout": args.teacher_dropout, "jitter": args.jitter,
            "batch_size": args.batch_size, "lr": args.lr, "lr_schedule": args.lr_schedule}


def cache_path(args, config):
    folder = args.cache_dir or os.path.join(os.path.dirname(cache_dir(args.dataset)), "teachers")
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(folder, f"teacher-{args.dataset}-{digest}.npz")


def load_cached_teacher(path, config):
    """(MLP, history, seconds it took to train) from a cache file, or None if there is none.

    The file must hold exactly this config (not merely the same hash) and a
    parameter vector of the right length; anything else is a DataError, so a
    damaged cache stops the run instead of silently giving a wrong teacher."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            stored_config = json.loads(str(f["config"]))
            params, history, train_s = f["params"], json.loads(str(f["history"])), float(f["train_s"])
        if stored_config != config:
            raise ValueError("it was made for another teacher config")
        return MLP(config["sizes"], init_params=params), history, train_s
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"teacher cache {path} is unreadable ({err}); delete it or rerun with --no-cache") from None


def save_cached_teacher(path, config, teacher, history, train_s):
    buffer = io.BytesIO()
    np.savez(buffer, config=json.dumps(config, sort_keys=True), params=teacher.params,
             history=json.dumps(history), train_s=train_s)
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as err:
        print(f"warning: could not cache the teacher in {path}: {err.strerror}", file=sys.stderr)


def train_teacher(net, data, args, rng, log):
    """Hard labels on all training images, each batch jittered by up to --jitter pixels, with dropout."""
    opt = Adam(net.params, lr=args.lr)
    history = []
    for epoch in range(1, args.n_epochs_teacher + 1):
        start, loss_sum, n_batches = time.perf_counter(), 0.0, 0
        opt.lr = learning_rate(args, epoch, args.n_epochs_teacher)
        for xb, yb in minibatches((data.x_train, data.y_train), args.batch_size, rng):
            logits = net.forward(jitter(xb, args.jitter, rng), args.teacher_dropout, rng)
            loss, grad = cross_entropy(logits, yb)
            net.backward(grad)
            opt.step(net.grads)
            loss_sum, n_batches = loss_sum + loss, n_batches + 1
        test = evaluate(net.predict_logits(data.x_test), data.y_test, [])
        history.append({"epoch": epoch, "lr": opt.lr, "train_ce": loss_sum / n_batches, "test_acc": test["acc"],
                        "test_errors": test["errors"]})
        log(f"teacher epoch {epoch}/{args.n_epochs_teacher}: train CE {loss_sum / n_batches:.4f}, "
            f"test {100 * test['acc']:.2f} % ({test['errors']} errors) ({time.perf_counter() - start:.1f} s)")
    return history


def get_teacher(args, seed, data, log):
    """The trained teacher for this config and seed: from the cache, or trained (and cached)."""
    config = teacher_config(args, seed)
    path = cache_path(args, config)
    cached = None if args.no_cache else load_cached_teacher(path, config)
    if cached:
        log(f"teacher loaded from {path} (trained in {cached[2]:.0f} s)")
        return (*cached, True)
    seed_init, seed_data = derived_seeds(seed)[:2]
    start = time.perf_counter()
    teacher = MLP(config["sizes"], seed=seed_init)
    history = train_teacher(teacher, data, args, np.random.default_rng(seed_data), log)
    train_s = time.perf_counter() - start
    save_cached_teacher(path, config, teacher, history, train_s)
    return teacher, history, train_s, False


# ----------------------------------------------------------------------------
# The student: soft targets at temperature T (plus optional hard labels)
# ----------------------------------------------------------------------------


def train_student(net, x, soft_targets, labels, data, args, rng, log, name="student", samples=None):
    """Distil ``soft_targets`` (computed once) with T^2 * KL, plus hard_weight * CE on
    ``labels``; with ``soft_targets=None`` it is the hard-label baseline instead."""
    hard_weight = 1.0 if soft_targets is None else args.hard_weight
    arrays = (x,) + ((soft_targets,) if soft_targets is not None else ()) + ((labels,) if hard_weight else ())
    opt = Adam(net.params, lr=args.lr)
    history = []
    for epoch in range(1, args.n_epochs_student + 1):
        start, loss_sum, n_batches = time.perf_counter(), 0.0, 0
        opt.lr = learning_rate(args, epoch, args.n_epochs_student)
        for xb, *targets in minibatches(arrays, args.batch_size, rng):
            logits = net.forward(xb)
            loss, grad = 0.0, 0.0
            if soft_targets is not None:
                loss, grad = distillation_loss(logits, targets[0], args.temperature)
            if hard_weight:
                hard, hard_grad = cross_entropy(logits, targets[-1])
                loss, grad = loss + hard_weight * hard, grad + hard_weight * hard_grad
            net.backward(grad)
            opt.step(net.grads)
            loss_sum, n_batches = loss_sum + loss, n_batches + 1
        test = evaluate(net.predict_logits(data.x_test), data.y_test, args.omit)
        record = {"epoch": epoch, "lr": opt.lr, "train_loss": loss_sum / n_batches, **test}
        if samples is not None:
            record["sample_predictions"] = net.predict_logits(samples).argmax(axis=1).tolist()
        history.append(record)
        omitted = f", omitted {100 * test['omitted_acc']:.1f} %" if args.omit else ""
        log(f"{name} epoch {epoch}/{args.n_epochs_student}: loss {loss_sum / n_batches:.4f}, "
            f"test {100 * test['acc']:.2f} % ({test['errors']} errors){omitted} "
            f"({time.perf_counter() - start:.1f} s)")
    return history


# ----------------------------------------------------------------------------
# Bias correction: one offset per omitted class, chosen on training images
# ----------------------------------------------------------------------------


def mean_probs(logits, classes, offsets):
    """Mean softmax probability of each of ``classes`` after adding ``offsets`` to their logits."""
    shifted = logits.copy()
    shifted[:, classes] += offsets
    return softmax(shifted).mean(axis=0)[classes]


def fit_offsets(logits, classes, targets, tol=1e-6, max_rounds=1000):
    """Offsets b (one per class) such that the mean softmax mass of class c over
    ``logits`` equals targets[c] once b[c] is added to that class's logit.

    For one class this is a binary search: the mean mass rises monotonically
    with the offset.  For several, each offset in turn is binary-searched with
    the others held fixed, round after round, until every class matches; the
    offsets jointly minimise the convex mean(logsumexp(z + b)) - b.targets, so
    these coordinate-wise solves converge to the joint solution.  With the
    softmax numerators e = exp(z - max z) computed once, one class's mean mass
    is exp(b) e_c / (rest + exp(b) e_c), which keeps every step cheap."""
    classes, targets = list(classes), np.asarray(targets, float)
    e = np.exp(logits - logits.max(axis=1, keepdims=True)).astype(np.float64)
    offsets = np.zeros(len(classes))
    for _ in range(max_rounds):
        for j, c in enumerate(classes):
            shifted = e.copy()
            shifted[:, classes] *= np.exp(offsets)
            rest = shifted.sum(axis=1) - shifted[:, c]
            lo, hi = -50.0, 50.0
            for _ in range(60):
                mid = (lo + hi) / 2
                mass = np.exp(mid) * e[:, c]
                if np.mean(mass / (rest + mass)) < targets[j]:
                    lo = mid
                else:
                    hi = mid
            offsets[j] = (lo + hi) / 2
        if np.abs(mean_probs(logits, classes, offsets) - targets).max() < tol:
            break
    return offsets


def bias_sweep(test_logits, test_labels, probe_logits, omitted, grid):
    """Test accuracy (overall, omitted) and probe mean mass vs one common offset on the omitted logits."""
    curve = {"offset": [], "acc": [], "errors": [], "omitted_acc": [], "probe_mean_p": []}
    for offset in grid:
        shifted = test_logits.copy()
        shifted[:, omitted] += offset
        scores = evaluate(shifted, test_labels, omitted)
        curve["offset"].append(float(offset))
        for key in ("acc", "errors", "omitted_acc"):
            curve[key].append(scores[key])
        curve["probe_mean_p"].append(mean_probs(probe_logits, omitted, np.full(len(omitted), offset)).tolist())
    best = int(np.argmax(curve["acc"]))  # the paper's choice: tuned on the test set (first maximum)
    curve["test_tuned_offset"] = curve["offset"][best]
    return curve


def correct_bias(student, data, omitted, probe_rows):
    """The fitted offsets, the student's test metrics after adding them, and the bias sweep curve."""
    probe_logits = student.predict_logits(data.x_train[probe_rows]).astype(np.float64)
    # The frequency in the probe itself: a random 10k probe's share of 3s can
    # be 0.3 points off the training set's, which moves the offset by ~1.
    targets = np.bincount(data.y_train[probe_rows], minlength=N_CLASSES)[omitted] / len(probe_rows)
    offsets = fit_offsets(probe_logits, omitted, targets)
    test_logits = student.predict_logits(data.x_test).astype(np.float64)
    corrected = test_logits.copy()
    corrected[:, omitted] += offsets
    curve = bias_sweep(test_logits, data.y_test, probe_logits, omitted, np.arange(-4, 16.001, 0.25))
    return {"offsets": offsets.tolist(), "target_freq": targets.tolist(),
            "probe_mean_p_before": mean_probs(probe_logits, omitted, 0).tolist(),
            "probe_mean_p_after": mean_probs(probe_logits, omitted, offsets).tolist(),
            "metrics_after": evaluate(corrected, data.y_test, omitted),
            "corrected_predictions": corrected.argmax(axis=1), "sweep": curve}


# ----------------------------------------------------------------------------
# One run: teacher, distilled student, bias correction, (baseline)
# ----------------------------------------------------------------------------


def sample_rows(labels, omitted, n=24):
    """Test images shown in the GIF: the first few of each omitted digit (or of every digit)."""
    digits = omitted or list(range(N_CLASSES))
    per_digit = max(1, n // len(digits))
    return np.array([i for d in digits for i in np.flatnonzero(labels == d)[:per_digit]][:n])


def run(args, seed, data, teachers, log=print):
    """One seed.  ``teachers`` maps a teacher config to a trained one, so a sweep trains each teacher once."""
    _, _, seed_student, seed_student_data, seed_probe = derived_seeds(seed)
    timings, start = {}, time.perf_counter()
    key = json.dumps(teacher_config(args, seed), sort_keys=True)
    if key not in teachers:
        teachers[key] = get_teacher(args, seed, data, log)
    teacher, teacher_history, timings["teacher_train_s"], teacher_cached = teachers[key]
    teacher_metrics = evaluate(teacher.predict_logits(data.x_test), data.y_test, args.omit)
    timings["teacher_s"] = time.perf_counter() - start

    start = time.perf_counter()
    keep = transfer_mask(data.y_train, args.omit)
    x_transfer, y_transfer = data.x_train[keep], data.y_train[keep]
    soft_targets = softmax(teacher.predict_logits(x_transfer), args.temperature).astype(np.float32)
    samples = sample_rows(data.y_test, args.omit)
    sizes = [784, args.student_hidden, args.student_hidden, N_CLASSES]
    student = MLP(sizes, seed=seed_student)
    student_history = train_student(student, x_transfer, soft_targets, y_transfer, data, args,
                                    np.random.default_rng(seed_student_data), log, samples=data.x_test[samples])
    timings["student_s"] = time.perf_counter() - start

    record = {"seed": seed, "transfer_size": int(keep.sum()), "teacher_cached": teacher_cached,
              "metrics": {"teacher": teacher_metrics, "student": student_history[-1]},
              "history": {"teacher": teacher_history, "student": student_history},
              "samples": {"rows": samples.tolist(), "labels": data.y_test[samples].tolist()}}
    if args.omit:
        start = time.perf_counter()
        n_train = len(data.x_train)
        probe = (np.arange(n_train) if args.probe_size >= n_train else
                 np.random.default_rng(seed_probe).choice(n_train, args.probe_size, replace=False))
        bias = correct_bias(student, data, args.omit, probe)
        record["samples"]["corrected_predictions"] = bias.pop("corrected_predictions")[samples].tolist()
        record["metrics"]["student_corrected"] = bias.pop("metrics_after")
        record["bias"] = bias
        timings["bias_s"] = time.perf_counter() - start
        after = record["metrics"]["student_corrected"]
        log(f"bias offsets {np.round(bias['offsets'], 2).tolist()} (test-tuned: {bias['sweep']['test_tuned_offset']}): "
            f"test {100 * after['acc']:.2f} % ({after['errors']} errors), omitted {100 * after['omitted_acc']:.1f} %")
    if args.baseline:
        start = time.perf_counter()
        baseline = MLP(sizes, seed=seed_student)
        record["history"]["baseline"] = train_student(baseline, x_transfer, None, y_transfer, data, args,
                                                      np.random.default_rng(seed_student_data), log, "baseline")
        record["metrics"]["baseline"] = record["history"]["baseline"][-1]
        timings["baseline_s"] = time.perf_counter() - start
    record["timings"] = timings
    return record


# ----------------------------------------------------------------------------
# Runs, sweeps and saving
# ----------------------------------------------------------------------------


def summarize(runs):
    """Each headline number over seeds (mean, std, min, max)."""
    numbers = {"teacher_errors": ("teacher", "errors"), "teacher_acc": ("teacher", "acc"),
               "student_errors": ("student", "errors"), "student_acc": ("student", "acc"),
               "student_omitted_acc": ("student", "omitted_acc"),
               "corrected_errors": ("student_corrected", "errors"), "corrected_acc": ("student_corrected", "acc"),
               "corrected_omitted_acc": ("student_corrected", "omitted_acc"),
               "baseline_errors": ("baseline", "errors"), "baseline_acc": ("baseline", "acc")}
    summary = {name: describe([r["metrics"][who][key] for r in runs]) for name, (who, key) in numbers.items()
               if who in runs[0]["metrics"] and runs[0]["metrics"][who][key] is not None}
    if "bias" in runs[0]:
        summary["offset"] = describe([np.mean(r["bias"]["offsets"]) for r in runs])
        summary["test_tuned_offset"] = describe([r["bias"]["sweep"]["test_tuned_offset"] for r in runs])
    return summary


def default_out(args):
    """viz/omitted_class/[preset_][omitN_|keepNN_](sweep_KEY|[baseline_]seeds|seedN).json"""
    transfer = (f"keep{''.join(map(str, sorted(args.keep)))}" if args.keep is not None
                else f"omit{''.join(map(str, args.omit)) or 'none'}")
    parts = [args.preset] if args.preset != "default" else []
    if transfer != "omit3" and not (args.sweep and args.sweep[0] == "omit"):
        parts.append(transfer)
    if args.sweep:
        parts.append(f"sweep_{args.sweep[0]}")
    if args.baseline:
        parts.append("baseline")
    if not args.sweep:
        parts.append("seeds" if args.seeds else f"seed{args.seed}")
    return os.path.join("viz", "omitted_class", "_".join(parts) + ".json")


def sample_pixels(data, rows):
    return np.round(data.x_test[rows] * 255).astype(np.uint8).tolist()


def main(argv=None):
    args = parse_args(argv)
    log = (lambda *a: None) if args.quiet else (lambda msg: print(msg, flush=True))
    out = args.out or default_out(args)
    started = time.perf_counter()
    seeds = args.seeds or [args.seed]
    data = load_mnist(args.dataset, args.data_dir)
    teachers, groups = {}, []
    for value, run_args in sweep_variants(args):
        if args.sweep:
            log(f"== {args.sweep[0]} = {value}")
        runs = []
        for seed in seeds:
            log(f"-- seed {seed}, omitted digits {run_args.omit or 'none'}")
            runs.append(run(run_args, seed, data, teachers, log))
        groups.append({"config": run_config(run_args), "sweep_value": value, "runs": runs,
                       "summary": summarize(runs),
                       "sample_pixels": sample_pixels(data, runs[0]["samples"]["rows"])})
        s = groups[-1]["summary"]
        corrected = (f"; after bias correction {s['corrected_errors']['mean']:.0f} errors, omitted "
                     f"{100 * s['corrected_omitted_acc']['mean']:.1f} %" if "corrected_errors" in s else "")
        log(f"teacher {s['teacher_errors']['mean']:.0f} errors; student {s['student_errors']['mean']:.0f} errors"
            f"{corrected} (mean of {len(seeds)} seed(s))")
    return save_results("omitted_class", args, groups, started, out, log)


if __name__ == "__main__":
    try:
        main()
    except DataError as err:
        sys.exit(f"error: {err}")
