"""Omitted-class dark knowledge: a student that never saw a 3 still recognises 3s.

Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network",
section 3.  A big teacher (784-1200-1200-10, trained on MNIST with each
image shifted by up to 2 pixels and rotated by up to 10 degrees) produces
soft targets at a high temperature T.  A smaller student (784-800-800-10, no
regularisation) is trained to match them on a *transfer set from which every
example of one digit has been removed*.  The student's only information
about that digit is the teacher's small probabilities for it on the other
digits ("this 8 looks a bit like a 3"), yet it classifies most test 3s
correctly; what it gets wrong is mostly a bias too low, which one scalar
added to the 3's output bias corrects.  The offset is chosen without the test
set, on a probe of training images: the student is made to call 1 % more of
them 3s than there are 3s among them (--correction margin, the default: a
digit it never saw needs the benefit of the doubt on a few ambiguous
images), or exactly as many (--correction count), or its mean probability of
a 3 is matched to the frequency of 3s (--correction mass).

    python omitted_class_distill.py                       # omit 3, seed 0 (the default recipe)
    python omitted_class_distill.py --preset long         # the same recipe by name, every epoch scored
    python omitted_class_distill.py --preset fast         # the best recipe within 300 s a seed on two cores
    python omitted_class_distill.py --preset public       # the public numpy script's recipe
    python omitted_class_distill.py --omit none --baseline --seeds 0 1 2   # the compression table
    python omitted_class_distill.py --keep 7 8            # transfer set of only 7s and 8s
    python omitted_class_distill.py --sweep omit=0,1,2,3,4,5,6,7,8,9

Teachers are cached on disk (an .npz keyed by the teacher's whole config and
seed), so runs that change only the student side never retrain the teacher.
"""


import hashlib
import io
import json
import os
import sys
import time
import zipfile
from typing import NamedTuple

import numpy as np

import runs
from mlp_numpy import (MLP, Adam, cross_entropy, distillation_loss, dropout_mask, jitter, max_norm, minibatches,
                       shift_or_rotate, softmax)
from mnist_data import PIXELS, DataError, cache_dir, load_mnist, refuse_special, special_file, write_atomically

# ----------------------------------------------------------------------------
# Configuration: every flag's default is the default recipe
# ----------------------------------------------------------------------------

RECIPE_SELECTION = (  # recorded in every results file, after runs.PROTOCOL
    "Teacher: the paper preset against shifts only on seed 100 (validation_paper_seed100), then rotation "
    "by up to 10 degrees and 40 or 100 epochs on seeds 100-101 (validation_teacher_screen). 200 epochs gave a "
    "better teacher there but a worse student with 3 omitted on seeds 100-102 (validation_teacher200_*), so 100 "
    "stays. Student: transfer jitter 2 and T = 20 on seeds 100-102 with a 40-epoch teacher "
    "(validation_sweep_transfer_jitter, validation_sweep_temperature); 80 epochs instead of 40 on seeds 100-102 "
    "with the default teacher, by a rule fixed beforehand (validation_student80_seeds: 92.3 errors after the "
    "correction against 102.0), then reported once on test seeds 0-4. Soft targets only (no hard-label term): "
    "first from sweeps scored on the test set (withdrawn), then kept on seeds 100-102 by a rule fixed beforehand "
    "(validation_sweep_hard_weight: weight 0.1 96.0 errors, 0.5 92.3, a tie with 0, which stays). Compression "
    "(--omit none, not the default): the 200-epoch teacher, and a student of 80 epochs with hard-label weight "
    "0.1, chosen among 40/80 epochs, hard weight 0/0.1/0.5 and T 8/20 on seeds 100-102 by a rule fixed "
    "beforehand (validation_teacher200_omitnone_*). Correction: the mass rule kept over the count rule on "
    "seeds 100-102 with 3, 5 and 8 omitted, by a rule fixed beforehand (validation_sweep_omit: 3 of 9 runs within "
    "109 errors and 98.6 % of the omitted digit with either). Then the margin rule (count + 1 %), its margin "
    "chosen among 0.5-2 % on those nine runs' bias sweeps, made the default by a rule fixed beforehand on fresh "
    "validation seeds 103-104 with 3, 5 and 8 omitted (validation_margin_sweep_omit: 6 of 6 runs within both "
    "lines, against 0 of 6 with mass). Faster recipes (teachers of 2x800 or 2x1200 trained for 20-50 epochs, "
    "students of 40-100 epochs, batch 128 or 256), screened on validation seeds 105-106 (3 omitted, one also 5 "
    "and 8) and the best confirmed on seeds 107-112 with 3, 5 and 8 omitted, by rules fixed beforehand "
    "(validation_fast_*, validation_teacher50_*): none put every run within both lines, so the default stays; "
    "the best within 300 s a seed is --preset fast.")
LONG = {  # the default recipe by name, as it made the committed reports: 100 + 80 epochs, every epoch scored
    "n_epochs_teacher": 100, "n_epochs_student": 80, "teacher_hidden": 1200, "batch_size": 128, "lr": 1e-3,
    "eval_every": 1}
PRESETS = {
    # The 2x1200 teacher trained for 100 epochs and the student for 80, batch 128, lr 1e-3, scored after
    # every epoch: the recipe behind the committed reports, kept by name whatever the default becomes.
    "long": LONG,
    # The best recipe screened that takes at most 300 s a seed on two cores (two BLAS threads, the teacher
    # trained afresh): a 2x800 teacher for 20 epochs and the student for 55, batch 256, lr 2e-3; chosen on
    # validation seeds 105-106 by a rule fixed beforehand (135-140 validation errors after the correction;
    # on the test set 102-107, most seeds within the paper's lines: viz/omitted_class/fast_*.json).
    "fast": {"teacher_hidden": 800, "n_epochs_teacher": 20, "n_epochs_student": 55, "batch_size": 256, "lr": 2e-3,
             "eval_every": 0},
    # The public numpy reproduction's recipe: 12 teacher epochs, 20 student epochs, no dropout, no
    # rotation, constant learning rate, the transfer set as it is; the mass correction reported, as
    # in the committed run of this preset (public_seed0.json) and at commit 64705c9.
    "public": {**LONG, "n_epochs_teacher": 12, "n_epochs_student": 20, "teacher_dropout": 0.0,
               "lr_schedule": "constant", "rotate": 0.0, "transfer_jitter": 0, "correction": "mass"},
    # The dropout paper's MLP regulariser (Srivastava et al. 2014): dropout 0.2 on the pixels and 0.5
    # on the hidden units, each unit's incoming weights capped at norm 3.5, trained longer; the
    # paper's teacher was only jittered, not rotated.
    "paper": {**LONG, "n_epochs_teacher": 60, "teacher_dropout": 0.5, "input_dropout": 0.2, "max_norm": 3.5,
              "rotate": 0.0},
}
N_CLASSES = 10
CACHE_FORMAT = 2  # bump when the cached teacher's contents change meaning (2: trained without the validation images)


def digit_or_word(text):
    """An --omit item: a number stays a number, so 'none' and bad words reach the check below."""
    return int(text) if text.isdigit() else text


PARSER = runs.ExperimentParser(__doc__, PRESETS,
                               seed_help="seed of the inits, data order, jitter, dropout and probe")
PARSER.add_argument("--omit", nargs="+", type=digit_or_word, default=[3], metavar="DIGIT",
                    help="digits removed from the transfer set, or 'none'")
PARSER.add_argument("--keep", type=int, nargs="+", metavar="DIGIT",
                    help="instead of --omit: the transfer set holds only these digits (e.g. 7 8)")
PARSER.exclusive.append(("omit", "keep"))
PARSER.add_argument("--temperature", type=float, default=20.0, above=0,
                    help="distillation temperature T (T^2 factor)")
PARSER.add_argument("--hard-weight", type=float, default=0.0, at_least=0,
                    help="weight of the cross-entropy on the transfer set's hard labels (0: soft targets only)")
PARSER.add_argument("--transfer-jitter", type=int, default=2, at_least=0, at_most=8,
                    help="max shift in pixels of the transfer images, each batch shifted anew and the teacher's "
                         "targets computed on the shifted images (0: the transfer set as it is, targets computed once)")
PARSER.add_argument("--baseline", action="store_true",
                    help="also train the student on the transfer set's hard labels alone (no teacher)")
PARSER.add_argument("--n-epochs-teacher", type=int, default=100, above=0, at_most=10000, help="teacher epochs")
PARSER.add_argument("--n-epochs-student", type=int, default=80, above=0, at_most=10000,
                    help="student epochs (also the baseline's)")
PARSER.add_argument("--teacher-hidden", type=int, default=1200, above=0, at_most=8192,
                    help="width of the teacher's two hidden layers")
PARSER.add_argument("--student-hidden", type=int, default=800, above=0, at_most=8192,
                    help="width of the student's two hidden layers")
PARSER.add_argument("--teacher-dropout", type=float, default=0.3, at_least=0, below=1,
                    help="dropout probability on the teacher's hidden units")
PARSER.add_argument("--input-dropout", type=float, default=0.0, at_least=0, below=1,
                    help="dropout probability on the teacher's input pixels")
PARSER.add_argument("--max-norm", type=float, default=0.0, at_least=0,
                    help="cap on the norm of each teacher unit's incoming weights, enforced after every step "
                         "(0: no cap)")
PARSER.add_argument("--jitter", type=int, default=2, at_least=0, at_most=8,
                    help="teacher augmentation: max shift in pixels")
PARSER.add_argument("--rotate", type=float, default=10.0, at_least=0, at_most=180,
                    help="teacher augmentation: max rotation in degrees (0: whole-pixel shifts only; otherwise "
                         "also rotated, and shifted by a real number of pixels up to --jitter, bilinearly)")
PARSER.add_argument("--batch-size", type=int, default=128, above=0, at_most=60000,
                    help="mini-batch size (teacher and student)")
PARSER.add_argument("--lr", type=float, default=1e-3, above=0, help="Adam learning rate (teacher and student)")
PARSER.add_argument("--lr-schedule", choices=["constant", "cosine"], default="cosine",
                    help="learning rate over the epochs: constant, or cosine decay towards 0")
PARSER.add_argument("--probe-size", type=int, default=60000, above=0,
                    help="training images (drawn at random) on which the omitted classes' offsets are fitted; "
                         "the default, more than there are, takes every one (49,999 with the validation split held out)")
PARSER.add_argument("--correction", choices=["mass", "count", "margin"], default="margin",
                    help="which fitted offsets are reported (all three are recorded): 'mass', the student's mean "
                         "probability of each omitted class over the probe equals its frequency there; 'count', "
                         "the student predicts it for as many probe images as are of that class; 'margin', for "
                         "--margin more")
PARSER.add_argument("--margin", type=float, default=0.01, at_least=0, at_most=1,
                    help="the margin rule's excess: it has the student predict each omitted class for (1 + margin) "
                         "times as many probe images as are of that class")
PARSER.add_argument("--cache-dir", metavar="DIR", config=False,
                    help="where trained teachers are kept (default: the data cache's teachers/ folder)")
PARSER.add_argument("--no-cache", action="store_true", config=False,
                    help="retrain the teacher in every run (and overwrite its cached copy)")
PARSER.add_eval_on()
PARSER.add_argument("--eval-every", type=int, default=1, at_least=0, at_most=10000,
                    help="score both networks on the evaluation split after every N-th epoch, for the training "
                         "curves and the GIF (0: after the last epoch only, which saves a few seconds a seed)")


def omitted_digits(args):
    """The digits missing from the transfer set, sorted; raises ValueError on a bad --omit/--keep."""
    if args.keep is not None:
        if not set(args.keep) <= set(range(N_CLASSES)):
            raise ValueError(f"--keep digits must be 0-9, got {args.keep}")
        return sorted(set(range(N_CLASSES)) - set(args.keep))
    if args.omit in (["none"], []):
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


def check(args):
    """What the flags' bounds cannot say about a configuration, and, before anything trains, a teacher
    cache file that is not a regular file (a FIFO would block the run, a device be replaced by it)."""
    try:
        omitted_digits(args)
    except ValueError as err:
        return [str(err)]
    kinds = {path: special_file(path) for path in (cache_path(args, teacher_config(args, seed))
                                                    for seed in args.seeds or [args.seed])}
    return [f"teacher cache {path} is {kind}, not a regular file: remove it or give another --cache-dir"
            for path, kind in kinds.items() if kind]


def parse_args(argv=None):
    """The flags, with ``omit`` resolved to the sorted digits missing from the transfer set."""
    args = PARSER.parse(argv, check)
    args.omit = omitted_digits(args)
    if args.keep is not None:
        args.keep = sorted(set(args.keep))
    return args


# ----------------------------------------------------------------------------
# Data: the transfer set is the training set without the omitted digits
# ----------------------------------------------------------------------------


def load_data(args):
    """Images in [0, 1] and labels, without the validation images in the training set."""
    return load_mnist(args.dataset, args.data_dir, evaluate_on=args.eval_on)


def transfer_mask(labels, omitted):
    """True for the training examples the student may see (every omitted digit removed)."""
    return ~np.isin(labels, omitted)


def evaluated(epoch, n_epochs, every):
    """Whether a network is scored after this (1-based) epoch: after the last one always, and after every
    ``every``-th (0: the last only).  Scoring reads no random numbers, so it never changes the training."""
    return epoch == n_epochs or (every > 0 and epoch % every == 0)


def learning_rate(args, epoch, n_epochs):
    """Adam's step size for a (1-based) epoch: constant, or cosine-decayed from --lr towards 0."""
    if args.lr_schedule == "constant":
        return args.lr
    return args.lr * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / n_epochs))


# ----------------------------------------------------------------------------
# Losses: each returns (loss, dL/dlogits)
# ----------------------------------------------------------------------------


def student_loss(logits, soft_targets, labels, temperature, hard_weight):
    """T^2 * KL to the teacher's softened outputs, plus hard_weight * CE on the labels (if > 0)."""
    loss, grad = distillation_loss(logits, soft_targets, temperature)
    if hard_weight:
        hard, hard_grad = cross_entropy(logits, labels)
        loss, grad = loss + hard_weight * hard, grad + hard_weight * hard_grad
    return loss, grad


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------


def scores(logits, labels, omitted):
    """Accuracy and error counts overall, per class, on the omitted digits and on the rest."""
    correct = logits.argmax(axis=1) == labels
    on_omitted = np.isin(labels, omitted)
    return {"acc": float(correct.mean()), "errors": int((~correct).sum()),
            "per_class_acc": [float(correct[labels == c].mean()) for c in range(N_CLASSES)],
            "omitted_acc": float(correct[on_omitted].mean()) if on_omitted.any() else None,
            "omitted_errors": int((~correct[on_omitted]).sum()),
            "others_acc": float(correct[~on_omitted].mean())}


def evaluate(net, x, y, omitted):
    return scores(net.predict_logits(x), y, omitted)


# ----------------------------------------------------------------------------
# The teacher (trained once per config and seed, then cached)
# ----------------------------------------------------------------------------


class Teacher(NamedTuple):
    net: MLP
    history: list
    train_s: float   # how long it took to train (when it was trained)
    cached: bool     # loaded from the cache in this run


def teacher_config(args, seed):
    """Everything that determines the trained teacher; its hash names the cache file."""
    return {"format": CACHE_FORMAT, "dataset": args.dataset, "seed": int(seed),
            "sizes": [PIXELS, args.teacher_hidden, args.teacher_hidden, N_CLASSES],
            "n_epochs": args.n_epochs_teacher, "dropout": args.teacher_dropout, "input_dropout": args.input_dropout,
            "max_norm": args.max_norm, "jitter": args.jitter, "rotate": args.rotate, "batch_size": args.batch_size,
            "lr": args.lr, "lr_schedule": args.lr_schedule, "eval_on": args.eval_on}


def cache_path(args, config):
    folder = args.cache_dir or os.path.join(os.path.dirname(cache_dir(args.dataset)), "teachers")
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(folder, f"teacher-{args.dataset}-{digest}.npz")


def load_cached_teacher(path, config):
    """The cached Teacher, or None if there is none.

    The file must hold exactly this config (not merely the same hash) and a
    finite parameter vector of the right length; anything else is a DataError,
    so a damaged cache stops the run instead of silently giving a wrong teacher."""
    if not os.path.lexists(path):
        return None
    refuse_special(path, "remove it or give another --cache-dir")
    try:
        with np.load(path, allow_pickle=False) as f:
            stored_config = json.loads(str(f["config"]))
            params, history, train_s = f["params"], json.loads(str(f["history"])), float(f["train_s"])
        if stored_config != config:
            raise ValueError("it was made for another teacher config")
        if not np.isfinite(params).all():
            raise ValueError("it holds non-finite parameters")
        return Teacher(MLP(config["sizes"], init_params=params), history, train_s, cached=True)
    except (OSError, ValueError, KeyError, EOFError, RecursionError, zipfile.BadZipFile) as err:
        raise DataError(f"teacher cache {path} is unreadable ({err}); delete it or rerun with --no-cache") from None


def save_cached_teacher(path, config, teacher):
    buffer = io.BytesIO()
    np.savez(buffer, config=json.dumps(config, sort_keys=True), params=teacher.net.params,
             history=json.dumps(teacher.history), train_s=teacher.train_s)
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as err:
        print(f"warning: could not cache the teacher in {path}: {err.strerror}", file=sys.stderr)


def train_teacher(net, data, args, rng, log):
    """Hard labels on all training images, each batch jittered by up to --jitter pixels (and rotated by
    up to --rotate degrees), with dropout (on the inputs too, with --input-dropout) and, with
    --max-norm, each unit's weights capped."""
    opt = Adam(net.params, lr=args.lr)
    history = []
    for epoch in range(1, args.n_epochs_teacher + 1):
        start, loss_sum, n_batches = time.perf_counter(), 0.0, 0
        opt.lr = learning_rate(args, epoch, args.n_epochs_teacher)
        for xb, yb in minibatches((data.x_train, data.y_train), args.batch_size, rng):
            xb = shift_or_rotate(xb, args.jitter, args.rotate, rng)
            if args.input_dropout:
                xb = xb * dropout_mask(xb.shape, args.input_dropout, rng)
            loss, grad = cross_entropy(net.forward(xb, args.teacher_dropout, rng), yb)
            net.backward(grad)
            opt.step(net.grads)
            if args.max_norm:
                max_norm(net, args.max_norm)
            loss_sum, n_batches = loss_sum + loss, n_batches + 1
        runs.check_finite("teacher", epoch, loss_sum, net.params)
        history.append({"epoch": epoch, "lr": opt.lr, "train_ce": loss_sum / n_batches})
        scored = ""
        if evaluated(epoch, args.n_epochs_teacher, args.eval_every):
            test = evaluate(net, data.x_test, data.y_test, [])
            history[-1].update(test_acc=test["acc"], test_errors=test["errors"])
            scored = f", {args.eval_on} {100 * test['acc']:.2f} % ({test['errors']} errors)"
        log(f"teacher epoch {epoch}/{args.n_epochs_teacher}: train CE {loss_sum / n_batches:.4f}{scored} "
            f"({time.perf_counter() - start:.1f} s)")
    return history


def get_teacher(args, seed, data, log):
    """The trained teacher for this config and seed: from the cache, or trained (and cached)."""
    config = teacher_config(args, seed)
    path = cache_path(args, config)
    teacher = None if args.no_cache else load_cached_teacher(path, config)
    if teacher:
        log(f"teacher loaded from {path} (trained in {teacher.train_s:.0f} s)")
        return teacher
    seeds = runs.derived_seeds(seed, "teacher_init", "teacher_data")
    start = time.perf_counter()
    net = MLP(config["sizes"], seed=seeds.teacher_init)
    history = train_teacher(net, data, args, np.random.default_rng(seeds.teacher_data), log)
    teacher = Teacher(net, history, time.perf_counter() - start, cached=False)
    save_cached_teacher(path, config, teacher)
    return teacher


# ----------------------------------------------------------------------------
# The student: one training loop, given its loss
# ----------------------------------------------------------------------------


def train_student(net, arrays, loss_fn, data, omitted, args, rng, log, name="student", samples=None, shift=0):
    """Train on mini-batches of ``arrays`` (images first, each batch shifted by up to ``shift`` pixels)
    with ``loss_fn(images, logits, *the batch's other arrays)``; evaluate on the evaluation split after
    the epochs --eval-every names (and predict ``samples`` for the GIF)."""
    opt = Adam(net.params, lr=args.lr)
    history = []
    for epoch in range(1, args.n_epochs_student + 1):
        start, loss_sum, n_batches = time.perf_counter(), 0.0, 0
        opt.lr = learning_rate(args, epoch, args.n_epochs_student)
        for xb, *targets in minibatches(arrays, args.batch_size, rng):
            xb = jitter(xb, shift, rng) if shift else xb
            loss, grad = loss_fn(xb, net.forward(xb), *targets)
            net.backward(grad)
            opt.step(net.grads)
            loss_sum, n_batches = loss_sum + loss, n_batches + 1
        runs.check_finite(name, epoch, loss_sum, net.params)
        history.append({"epoch": epoch, "lr": opt.lr, "train_loss": loss_sum / n_batches})
        scored = ""
        if evaluated(epoch, args.n_epochs_student, args.eval_every):
            test = evaluate(net, data.x_test, data.y_test, omitted)
            history[-1].update(test)
            if samples is not None:
                history[-1]["sample_predictions"] = net.predict_logits(samples).argmax(axis=1).tolist()
            on_omitted = f", omitted {100 * test['omitted_acc']:.1f} %" if omitted else ""
            scored = f", {args.eval_on} {100 * test['acc']:.2f} % ({test['errors']} errors){on_omitted}"
        log(f"{name} epoch {epoch}/{args.n_epochs_student}: loss {loss_sum / n_batches:.4f}{scored} "
            f"({time.perf_counter() - start:.1f} s)")
    return history


# ----------------------------------------------------------------------------
# Bias correction: one offset per omitted class, chosen on training images
# ----------------------------------------------------------------------------


def with_offsets(logits, classes, offsets):
    """A copy of ``logits`` with ``offsets`` added to the columns of ``classes``."""
    shifted = logits.copy()
    shifted[:, classes] += offsets
    return shifted


def mean_probs(logits, classes, offsets):
    """Mean softmax probability of each of ``classes`` after adding ``offsets`` to their logits."""
    return softmax(with_offsets(logits, classes, offsets)).mean(axis=0)[classes]


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


def fit_counts(logits, classes, counts, max_rounds=1000):
    """Offsets b (one per class) such that, once b[c] is added to class c's
    logit, the argmax is c for exactly counts[c] rows of ``logits``.

    For one class this needs no search: a row goes to c once the offset
    exceeds d = max over the other classes minus the row's logit for c, so
    the offset halfway between the counts[c]-th and the next smallest d
    gives exactly counts[c] rows (unless tied rows make that count
    unreachable).  For several, each class in turn is solved with the others'
    offsets held fixed, round after round, until no offset moves (at most
    ``max_rounds``); the test checks that two classes both get their counts."""
    classes = list(classes)
    offsets = np.zeros(len(classes))
    for _ in range(max_rounds):
        previous = offsets.copy()
        for j, c in enumerate(classes):
            shifted = with_offsets(logits, classes, offsets)
            shifted[:, c] = -np.inf
            gaps = np.sort(shifted.max(axis=1) - logits[:, c])
            padded = np.concatenate(([gaps[0] - 2], gaps, [gaps[-1] + 2]))  # k = 0 or all rows: 1 beyond the end
            k = int(counts[j])
            offsets[j] = (padded[k] + padded[k + 1]) / 2
        if np.abs(offsets - previous).max() < 1e-9:
            break
    return offsets


def predicted_share(logits, classes, offsets):
    """Fraction of rows whose argmax is each of ``classes`` after adding ``offsets`` to their logits."""
    predicted = with_offsets(logits, classes, offsets).argmax(axis=1)
    return np.bincount(predicted, minlength=logits.shape[1])[classes] / len(logits)


def bias_sweep(test_logits, test_labels, probe_logits, omitted, grid):
    """Accuracy on the evaluated split (overall, omitted), probe mean mass and probe predicted share vs
    one common offset on the omitted logits ("test_tuned_offset": the best one on that split)."""
    curve = {"offset": [], "acc": [], "errors": [], "omitted_acc": [], "probe_mean_p": [], "probe_share": []}
    for offset in grid:
        common = np.full(len(omitted), offset)
        scored = scores(with_offsets(test_logits, omitted, common), test_labels, omitted)
        curve["offset"].append(float(offset))
        for key in ("acc", "errors", "omitted_acc"):
            curve[key].append(scored[key])
        curve["probe_mean_p"].append(mean_probs(probe_logits, omitted, common).tolist())
        curve["probe_share"].append(predicted_share(probe_logits, omitted, common).tolist())
    best = int(np.argmax(curve["acc"]))  # the paper's choice: tuned on the test set (first maximum)
    curve["test_tuned_offset"] = curve["offset"][best]
    return curve


def correct_bias(student, data, omitted, probe_rows, rule, margin):
    """The offsets fitted on the probe by each rule (``margin``: the margin rule's excess), the
    student's test metrics after adding them, the bias sweep curve; ``rule``'s offsets are the
    reported ones."""
    probe_logits = student.predict_logits(data.x_train[probe_rows]).astype(np.float64)
    # The frequency in the probe itself: a random 10k probe's share of 3s can
    # be 0.3 points off the training set's, which moves the offset by ~1.
    counts = np.bincount(data.y_train[probe_rows], minlength=N_CLASSES)[omitted]
    targets = counts / len(probe_rows)
    test_logits = student.predict_logits(data.x_test).astype(np.float64)
    by_rule = {}
    for name, offsets in (("mass", fit_offsets(probe_logits, omitted, targets)),
                          ("count", fit_counts(probe_logits, omitted, counts)),
                          ("margin", fit_counts(probe_logits, omitted,
                                                np.minimum(np.round(counts * (1 + margin)), len(probe_rows))))):
        corrected = with_offsets(test_logits, omitted, offsets)
        by_rule[name] = {"offsets": offsets.tolist(), "metrics_after": scores(corrected, data.y_test, omitted),
                         "probe_mean_p_after": mean_probs(probe_logits, omitted, offsets).tolist(),
                         "probe_share_after": predicted_share(probe_logits, omitted, offsets).tolist(),
                         "predictions": corrected.argmax(axis=1)}
    chosen = by_rule[rule]
    curve = bias_sweep(test_logits, data.y_test, probe_logits, omitted, np.arange(-4, 16.001, 0.25))
    return {"rule": rule, "offsets": chosen["offsets"], "target_freq": targets.tolist(),
            "probe_mean_p_before": mean_probs(probe_logits, omitted, 0).tolist(),
            "probe_mean_p_after": chosen["probe_mean_p_after"], "metrics_after": chosen["metrics_after"],
            "corrected_predictions": chosen["predictions"],
            "by_rule": {name: {k: v for k, v in fit.items() if k != "predictions"} for name, fit in by_rule.items()},
            "sweep": curve}


# ----------------------------------------------------------------------------
# One run: teacher, distilled student, bias correction, (baseline)
# ----------------------------------------------------------------------------


def sample_rows(labels, omitted, n=24):
    """Test images shown in the GIF: the first few of each omitted digit (or of every digit)."""
    digits = omitted or list(range(N_CLASSES))
    per_digit = max(1, n // len(digits))
    return np.array([i for d in digits for i in np.flatnonzero(labels == d)[:per_digit]][:n])


def run_seeds(seed):
    """The run's seeds, one per use, drawn from ``--seed``."""
    return runs.derived_seeds(seed, "teacher_init", "teacher_data", "student_init", "student_data", "probe")


def student_sizes(args):
    return [PIXELS, args.student_hidden, args.student_hidden, N_CLASSES]


def run(args, seed, data, log=print):
    """One seed: the (cached) teacher; the student distilled on the transfer set; the bias
    correction for the omitted digits."""
    seeds = run_seeds(seed)
    omitted = omitted_digits(args)
    timings, start = {}, time.perf_counter()
    teacher = get_teacher(args, seed, data, log)
    timings["teacher_train_s"] = teacher.train_s
    teacher_metrics = evaluate(teacher.net, data.x_test, data.y_test, omitted)
    timings["teacher_s"] = time.perf_counter() - start

    start = time.perf_counter()
    keep = transfer_mask(data.y_train, omitted)
    x_transfer, y_transfer = data.x_train[keep], data.y_train[keep]
    samples = sample_rows(data.y_test, omitted)
    student = MLP(student_sizes(args), seed=seeds.student_init)
    if args.transfer_jitter:  # the teacher's targets for each shifted batch
        arrays = (x_transfer, y_transfer)

        def loss_fn(xb, logits, labels):
            soft = softmax(teacher.net.predict_logits(xb), args.temperature)
            return student_loss(logits, soft, labels, args.temperature, args.hard_weight)
    else:  # the same targets every epoch: computed once
        arrays = (x_transfer, softmax(teacher.net.predict_logits(x_transfer), args.temperature).astype(np.float32),
                  y_transfer)

        def loss_fn(xb, logits, soft, labels):
            return student_loss(logits, soft, labels, args.temperature, args.hard_weight)
    student_history = train_student(student, arrays, loss_fn, data, omitted, args,
                                    np.random.default_rng(seeds.student_data), log, samples=data.x_test[samples],
                                    shift=args.transfer_jitter)
    timings["student_s"] = time.perf_counter() - start

    record = {"seed": seed, "transfer_size": int(keep.sum()), "teacher_cached": teacher.cached,
              "metrics": {"teacher": teacher_metrics, "student": student_history[-1]},
              "history": {"teacher": teacher.history, "student": student_history},
              "samples": {"rows": samples.tolist(), "labels": data.y_test[samples].tolist()}}
    if omitted:
        start = time.perf_counter()
        n_train = len(data.x_train)
        probe = (np.arange(n_train) if args.probe_size >= n_train else
                 np.random.default_rng(seeds.probe).choice(n_train, args.probe_size, replace=False))
        bias = correct_bias(student, data, omitted, probe, args.correction, args.margin)
        record["samples"]["corrected_predictions"] = bias.pop("corrected_predictions")[samples].tolist()
        record["metrics"]["student_corrected"] = bias.pop("metrics_after")
        record["bias"] = bias
        timings["bias_s"] = time.perf_counter() - start
        for rule, fit in bias["by_rule"].items():
            log(f"bias offsets {np.round(fit['offsets'], 2).tolist()}, {rule} rule"
                f"{' (reported)' if rule == args.correction else ''}: {args.eval_on} {fit['metrics_after']['errors']} "
                f"errors, omitted {100 * fit['metrics_after']['omitted_acc']:.1f} % correct")
        log(f"best offset on the {args.eval_on} split (the paper's choice, for comparison): "
            f"{bias['sweep']['test_tuned_offset']}")
    record["timings"] = timings
    return record


def run_baseline(args, seed, data, log=print):
    """With --baseline: the student's network, init and batches trained on the transfer set's hard
    labels alone.  It needs no teacher, so it is a task of its own."""
    seeds, omitted = run_seeds(seed), omitted_digits(args)
    start = time.perf_counter()
    keep = transfer_mask(data.y_train, omitted)
    net = MLP(student_sizes(args), seed=seeds.student_init)
    history = train_student(net, (data.x_train[keep], data.y_train[keep]),
                            lambda xb, logits, labels: cross_entropy(logits, labels), data, omitted, args,
                            np.random.default_rng(seeds.student_data), log, "baseline")
    return {"metrics": {"baseline": history[-1]}, "history": {"baseline": history},
            "timings": {"baseline_s": time.perf_counter() - start}}


# ----------------------------------------------------------------------------
# Summary over seeds, results file name
# ----------------------------------------------------------------------------


def summarize(records):
    """Each headline number over seeds (mean, std, min, max)."""
    numbers = {"teacher_errors": ("teacher", "errors"), "teacher_acc": ("teacher", "acc"),
               "student_errors": ("student", "errors"), "student_acc": ("student", "acc"),
               "student_omitted_acc": ("student", "omitted_acc"),
               "corrected_errors": ("student_corrected", "errors"), "corrected_acc": ("student_corrected", "acc"),
               "corrected_omitted_acc": ("student_corrected", "omitted_acc"),
               "baseline_errors": ("baseline", "errors"), "baseline_acc": ("baseline", "acc")}
    summary = {name: runs.describe([r["metrics"][who][key] for r in records])
               for name, (who, key) in numbers.items()
               if who in records[0]["metrics"] and records[0]["metrics"][who][key] is not None}
    if "bias" in records[0]:
        summary["offset"] = runs.describe([np.mean(r["bias"]["offsets"]) for r in records])
        summary["test_tuned_offset"] = runs.describe([r["bias"]["sweep"]["test_tuned_offset"] for r in records])
    return summary


def headline(s):
    corrected = (f"; after bias correction {s['corrected_errors']['mean']:.0f} errors, omitted "
                 f"{100 * s['corrected_omitted_acc']['mean']:.1f} %" if "corrected_errors" in s else "")
    return (f"teacher {s['teacher_errors']['mean']:.0f} errors; student {s['student_errors']['mean']:.0f} "
            f"errors{corrected}")


def out_name(args):
    """[validation_][preset_][omitN_|keepNN_](sweep_KEY|[baseline_]seeds|seedN).json"""
    omitted = omitted_digits(args)
    transfer = (f"keep{''.join(map(str, sorted(args.keep)))}" if args.keep is not None
                else f"omit{''.join(map(str, omitted)) or 'none'}")
    parts = ["validation"] if args.eval_on == "validation" else []
    if args.preset != "default":
        parts.append(args.preset)
    if transfer != "omit3" and not (args.sweep and args.sweep[0] == "omit"):
        parts.append(transfer)
    if args.sweep:
        parts.append(f"sweep_{args.sweep[0]}")
    if args.baseline:
        parts.append("baseline")
    if not args.sweep:
        parts.append("seeds" if args.seeds else f"seed{args.seed}")
    return "_".join(parts) + ".json"


def sample_pixels(args, records, data):
    """The GIF's test images (uint8), so it can be drawn from the JSON alone."""
    return {"sample_pixels": np.round(data.x_test[records[0]["samples"]["rows"]] * 255).astype(np.uint8).tolist()}


EXPERIMENT = runs.Experiment("omitted_class", RECIPE_SELECTION, PARSER, parse_args, load_data, run, summarize,
                             headline, out_name, group_extras=sample_pixels, baseline=run_baseline,
                             wants_baseline=lambda args: args.baseline)


def main(argv=None):
    return runs.main(EXPERIMENT, argv)


if __name__ == "__main__":
    runs.cli(main)
