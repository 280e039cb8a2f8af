"""Subclass distillation: a binary teacher rediscovers the ten digits in its sub-logits.

Müller, Kornblith & Hinton (2020), "Subclass Distillation", arXiv:2002.03936.
The teacher only ever sees a binary super-class label (digits 0-4 vs 5-9 by
default).  It has 10 outputs grouped 5 + 5; a super-class logit is the
log-sum-exp of its group's 5 sub-logits, and the teacher is trained with
cross-entropy on those two grouped logits plus an auxiliary loss that stops
each group's sub-logits collapsing into one.  To keep the super-class loss low
*and* spread examples over its sub-logits, the teacher ends up sorting each
super-class by its natural sub-classes: the digits.  A student trained only on
the teacher's softened sub-logit distribution, with no labels of any kind,
then clusters the test set by digit.

    python subclass_distill.py                          # the default recipe, seed 0
    python subclass_distill.py --preset canonical       # the public numpy reproduction's recipe
    python subclass_distill.py --seeds 0 1 2 3 4        # variance over seeds
    python subclass_distill.py --sweep sharpen=0.2,0.5,1.0

Subclass recovery is scored on the test set from the 10x10 contingency of
(true digit, argmax sub-logit): "1-to-1" maps clusters to digits by the exact
optimal assignment; "any-mapping" gives each cluster its plurality digit.
"""

import argparse
import os
import sys
import time

import numpy as np

from mlp_numpy import (MLP, Adam, confusion_matrix, distillation_loss, group_logsumexp,
                       grouped_cross_entropy, jitter, logsumexp, minibatches, softmax, standardize,
                       standardize_backward)
from mnist_data import (DataError, ScriptParser, describe, load_mnist, out_of_range, run_config,
                        save_results, sweep_variants)

# ----------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------

PRESETS = {
    # The public numpy reproduction: entropy aux loss, 12 + 12 epochs.
    "canonical": dict(aux_loss="entropy", aux_weight=1.0, sharpen=0.5, hidden=256, n_epochs_teacher=12,
                      n_epochs_student=12, consistency_weight=0.0),
    # This project's default, chosen by the sweeps in the README: twice the aux
    # weight, plus the translation-consistency loss.
    "default": dict(aux_loss="entropy", aux_weight=2.0, sharpen=0.5, hidden=256, n_epochs_teacher=12,
                    n_epochs_student=12, consistency_weight=1.0),
}
GROUPS = np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])  # sub-logit indices of super-class A and B
SWEEPABLE = {"sharpen": float, "aux_weight": float, "consistency_weight": float, "jitter": int, "aux_loss": str, "hidden": int, "temperature": float,
             "n_epochs_teacher": int, "n_epochs_student": int, "lr": float, "split": str}


def parse_args(argv=None):
    parser = ScriptParser(description=__doc__.split("\n\n")[0],
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="a recipe; any flag given explicitly overrides it")
    parser.add_argument("--seed", type=int, default=0, help="seed for init, data order and k-means")
    parser.add_argument("--seeds", type=int, nargs="+", help="run these seeds and summarise (overrides --seed)")
    parser.add_argument("--split", default="01234/56789",
                        help="the two super-classes: two groups of five digits, e.g. 01389/24567")
    parser.add_argument("--n-epochs-teacher", type=int, help="teacher epochs")
    parser.add_argument("--n-epochs-student", type=int, help="student epochs")
    parser.add_argument("--aux-loss", choices=["entropy", "contrastive"], help="the anti-collapse loss")
    parser.add_argument("--aux-weight", type=float, help="weight of the auxiliary loss")
    parser.add_argument("--sharpen", type=float, help="entropy aux: weight of the per-example entropy term")
    parser.add_argument("--hidden", type=int, help="hidden width (one hidden layer, teacher and student)")
    parser.add_argument("--consistency-weight", type=float,
                        help="weight of a loss that makes the teacher's sub-logit softmax the same on a "
                             "randomly shifted copy of each image (0: off)")
    parser.add_argument("--jitter", type=int, default=2, help="max shift in pixels of those copies")
    parser.add_argument("--temperature", type=float, default=4.0, help="distillation temperature T (T^2 factor)")
    parser.add_argument("--student-hard-weight", type=float, default=0.0,
                        help="weight of the student's super-class cross-entropy (0: no labels at all)")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="Adam L2 weight decay")
    parser.add_run_args("subclass", SWEEPABLE)
    return parser.parse_experiment(argv, PRESETS, SWEEPABLE, invalid_settings)


def parse_split(split):
    """'01234/56789' -> (digits of A, digits of B); raises ValueError if not a 5/5 partition."""
    groups = split.split("/")
    digits = [[int(c) for c in g] for g in groups if g.isdigit()]
    if len(groups) != 2 or len(digits) != 2 or sorted(digits[0] + digits[1]) != list(range(10)) \
            or len(digits[0]) != 5:
        raise ValueError(f"--split {split!r} must split the digits 0-9 into two groups of five, e.g. 01234/56789")
    return digits


def invalid_settings(args):
    """What is wrong with a configuration, as a list of one-line messages."""
    problems = out_of_range(args, positive=("n_epochs_teacher", "n_epochs_student", "hidden", "batch_size",
                                            "temperature", "lr"),
                            non_negative=("aux_weight", "sharpen", "weight_decay", "student_hard_weight",
                                          "consistency_weight", "jitter"))
    if args.aux_loss not in ("entropy", "contrastive"):
        problems.append(f"--aux-loss must be entropy or contrastive, not {args.aux_loss!r}")
    try:
        parse_split(args.split)
    except ValueError as err:
        problems.append(str(err))
    return problems


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------


def load_data(args):
    """Images in [0, 1], digit labels (for evaluation only) and super-class labels (0 = A, 1 = B)."""
    data = load_mnist(args.dataset, args.data_dir)
    group_b = parse_split(args.split)[1]
    return {"x_train": data.x_train, "digit_train": data.y_train,
            "super_train": np.isin(data.y_train, group_b).astype(np.int64),
            "x_test": data.x_test, "digit_test": data.y_test,
            "super_test": np.isin(data.y_test, group_b).astype(np.int64)}


# ----------------------------------------------------------------------------
# Auxiliary losses: each returns (loss, dL/dlogits)
# ----------------------------------------------------------------------------


def entropy_aux_loss(logits, super_labels, sharpen):
    """Per group g, over the batch's examples of g, with p_i = softmax of i's 5 sub-logits:
    L_g = -H(mean_i p_i) + sharpen * mean_i H(p_i), averaged over the groups present.

    The first term wants the group's examples spread over all 5 sub-logits,
    the second wants each example confident in one of them; both lie in
    [0, log 5].
    """
    grad = np.zeros_like(logits)
    present = [g for g in range(len(GROUPS)) if np.any(super_labels == g)]
    loss = 0.0
    for g in present:
        rows = np.flatnonzero(super_labels == g)
        p = softmax(logits[np.ix_(rows, GROUPS[g])])
        n = len(rows)
        log_p = np.log(np.maximum(p, 1e-30))
        p_mean = p.mean(axis=0)
        log_p_mean = np.log(np.maximum(p_mean, 1e-30))
        loss += (p_mean * log_p_mean).sum() - sharpen * (p * log_p).sum(axis=1).mean()
        # dL/dp_ik = (log pbar_k - sharpen log p_ik) / n  (+ a constant that softmax cancels)
        d_p = (log_p_mean[None, :] - sharpen * log_p) / n
        d_z = p * (d_p - (p * d_p).sum(axis=1, keepdims=True))
        grad[np.ix_(rows, GROUPS[g])] = d_z / len(present)
    return float(loss) / len(present), grad


def contrastive_aux_loss(logits, temperature=1.0):
    """The paper's "negative sampling" loss on the batch's sub-logit vectors.

    Each example's 10 sub-logits are standardised and scaled by 1/sqrt(T*10),
    so that an example's similarity to itself is ~1/T; with S = Z Z^T,
    L = mean_i logsumexp_j S_ij - 1/T - log B, which is lowest when examples
    have dissimilar sub-logit patterns, i.e. are spread over the sub-classes.
    """
    n, k = logits.shape
    z_std, std = standardize(logits)
    scale = 1.0 / np.sqrt(temperature * k)
    Z = z_std * scale
    S = Z @ Z.T
    loss = logsumexp(S, axis=1).mean() - 1.0 / temperature - np.log(n)
    P = softmax(S) / n  # dL/dS
    dZ = (P + P.T) @ Z
    return float(loss), standardize_backward(dZ * scale, z_std, std)


def teacher_loss(logits, super_labels, args):
    """Super-class cross-entropy through the grouped logits, plus the weighted aux loss."""
    ce, grad = grouped_cross_entropy(logits, super_labels, GROUPS)
    if args.aux_loss == "entropy":
        aux, aux_grad = entropy_aux_loss(logits, super_labels, args.sharpen)
    else:
        aux, aux_grad = contrastive_aux_loss(logits)
    return ce, aux, grad + args.aux_weight * aux_grad


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------


def best_assignment(table):
    """Exact maximum-weight one-to-one assignment of columns to rows (bitmask DP).

    best[mask] is the best total using the first popcount(mask) rows and the
    set of columns in mask; 10 x 2^10 states, exact where greedy is not.
    Returns the column chosen for each row.
    """
    n = len(table)
    best = np.full(1 << n, -np.inf)
    best[0] = 0.0
    choice = np.zeros(1 << n, dtype=np.int64)
    for mask in range(1 << n):
        if best[mask] == -np.inf:
            continue
        row = bin(mask).count("1")
        if row == n:
            continue
        for col in range(n):
            if not mask & (1 << col):
                value = best[mask] + table[row][col]
                if value > best[mask | (1 << col)]:
                    best[mask | (1 << col)] = value
                    choice[mask | (1 << col)] = col
    columns, mask = [], (1 << n) - 1
    for _ in range(n):
        col = int(choice[mask])
        columns.append(col)
        mask &= ~(1 << col)
    return columns[::-1]


def recovery(table):
    """Subclass recovery of a contingency: (1-to-1 optimal, any-mapping) accuracies."""
    table = np.asarray(table)
    total = table.sum()
    columns = best_assignment(table)
    one_to_one = sum(table[row, col] for row, col in enumerate(columns)) / total
    any_mapping = table.max(axis=0).sum() / total
    return float(one_to_one), float(any_mapping)


def score_clusters(digits, clusters):
    """The 10x10 contingency (rows: true digit, columns: cluster) and its two recovery scores."""
    table = confusion_matrix(digits, clusters, 10)
    one_to_one, any_mapping = recovery(table)
    return {"one_to_one": one_to_one, "any_mapping": any_mapping, "contingency": table.tolist()}


def super_accuracy(logits, super_labels):
    grouped, _ = group_logsumexp(logits, GROUPS)
    return float(np.mean(grouped.argmax(axis=1) == super_labels))


def evaluate(net, x, digits, super_labels):
    logits = net.predict_logits(x)
    return {"super_acc": super_accuracy(logits, super_labels), **score_clusters(digits, logits.argmax(axis=1))}


def kmeans(x, k, rng, iterations=30):
    """Plain Lloyd's k-means with k-means++ seeding (the unsupervised baseline)."""
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min([((x - c) ** 2).sum(axis=1) for c in centres], axis=0)
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
    centres = np.array(centres)
    for _ in range(iterations):
        assign = nearest(x, centres)
        centres = np.array([x[assign == j].mean(axis=0) if np.any(assign == j) else centres[j] for j in range(k)])
    return centres


def nearest(x, centres):
    d2 = (x * x).sum(axis=1, keepdims=True) - 2 * x @ centres.T + (centres * centres).sum(axis=1)
    return d2.argmin(axis=1)


def kmeans_baseline(data, rng):
    """k-means with 5 clusters inside each super-class on raw pixels: exactly the teacher's information."""
    clusters = np.empty(len(data["x_test"]), np.int64)
    for g in range(2):
        centres = kmeans(data["x_train"][data["super_train"] == g], 5, rng)
        test_rows = data["super_test"] == g
        clusters[test_rows] = GROUPS[g][nearest(data["x_test"][test_rows], centres)]
    return score_clusters(data["digit_test"], clusters)


def super_only_baseline(data):
    """Knowing only the super-class: every example of a super-class in one cluster."""
    scores = score_clusters(data["digit_test"], GROUPS[data["super_test"], 0])
    return {"one_to_one": scores["one_to_one"], "any_mapping": scores["any_mapping"]}


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------


def consistent_teacher_step(net, xb, sb, args, rng):
    """Forward the batch and a randomly shifted copy together; the copy's sub-logit
    softmax is pulled towards the original's (held fixed), so that sub-classes
    are invariant to small translations, as in IMSAT's self-augmentation."""
    n = len(xb)
    logits = net.forward(np.concatenate([xb, jitter(xb, args.jitter, rng)]))
    ce, aux, grad_clean = teacher_loss(logits[:n], sb, args)
    _, grad_shifted = distillation_loss(logits[n:], softmax(logits[:n]), 1.0)
    return ce, aux, np.concatenate([grad_clean, args.consistency_weight * grad_shifted])


def train_teacher(net, data, args, rng, log):
    opt = Adam(net.params, lr=args.lr, weight_decay=args.weight_decay)
    history = []
    for epoch in range(1, args.n_epochs_teacher + 1):
        start, ce_sum, aux_sum, n_batches = time.perf_counter(), 0.0, 0.0, 0
        for xb, sb in minibatches((data["x_train"], data["super_train"]), args.batch_size, rng):
            if args.consistency_weight:
                ce, aux, grad = consistent_teacher_step(net, xb, sb, args, rng)
            else:
                ce, aux, grad = teacher_loss(net.forward(xb), sb, args)
            net.backward(grad)
            opt.step(net.grads)
            ce_sum, aux_sum, n_batches = ce_sum + ce, aux_sum + aux, n_batches + 1
        metrics = evaluate(net, data["x_test"], data["digit_test"], data["super_test"])
        history.append({"epoch": epoch, "super_ce": ce_sum / n_batches, "aux_loss": aux_sum / n_batches,
                        **metrics})
        log(f"teacher epoch {epoch}/{args.n_epochs_teacher}: super CE {ce_sum / n_batches:.4f}, "
            f"aux {aux_sum / n_batches:.4f}, super acc {100 * metrics['super_acc']:.2f} %, "
            f"1-to-1 recovery {100 * metrics['one_to_one']:.1f} % ({time.perf_counter() - start:.1f} s)")
    return history


def train_student(net, teacher, data, args, rng, log):
    """Distil softmax(teacher sub-logits / T) on the training images; labels only if hard weight > 0."""
    targets = softmax(teacher.predict_logits(data["x_train"]), args.temperature).astype(np.float32)
    arrays = (data["x_train"], targets) + ((data["super_train"],) if args.student_hard_weight else ())
    opt = Adam(net.params, lr=args.lr, weight_decay=args.weight_decay)
    history = []
    for epoch in range(1, args.n_epochs_student + 1):
        start, loss_sum, n_batches = time.perf_counter(), 0.0, 0
        for xb, tb, *sb in minibatches(arrays, args.batch_size, rng):
            logits = net.forward(xb)
            loss, grad = distillation_loss(logits, tb, args.temperature)
            if args.student_hard_weight:
                hard, hard_grad = grouped_cross_entropy(logits, sb[0], GROUPS)
                loss, grad = loss + args.student_hard_weight * hard, grad + args.student_hard_weight * hard_grad
            net.backward(grad)
            opt.step(net.grads)
            loss_sum, n_batches = loss_sum + loss, n_batches + 1
        metrics = evaluate(net, data["x_test"], data["digit_test"], data["super_test"])
        history.append({"epoch": epoch, "distill_loss": loss_sum / n_batches, **metrics})
        log(f"student epoch {epoch}/{args.n_epochs_student}: distillation loss {loss_sum / n_batches:.4f}, "
            f"super acc {100 * metrics['super_acc']:.2f} %, 1-to-1 recovery {100 * metrics['one_to_one']:.1f} % "
            f"({time.perf_counter() - start:.1f} s)")
    return history


def derived_seeds(seed):
    """Independent seeds for the teacher's init, the student's init, data order and k-means."""
    return np.random.default_rng(seed).integers(2 ** 31, size=4)


def baselines(data, seed):
    """What clustering without a teacher achieves; depends only on the data and the seed."""
    return {"chance": {"one_to_one": 0.1, "any_mapping": 0.1},
            "super_only": super_only_baseline(data),
            "kmeans": kmeans_baseline(data, np.random.default_rng(derived_seeds(seed)[3]))}


def run(args, seed, data, log=print):
    """One seed: teacher on super-class labels, then the student on its sub-logits."""
    seed_teacher, seed_student, seed_data, _ = derived_seeds(seed)
    sizes = [784, args.hidden, 10]
    timings = {}

    t0 = time.perf_counter()
    teacher = MLP(sizes, seed=seed_teacher)
    teacher_history = train_teacher(teacher, data, args, np.random.default_rng(seed_data), log)
    timings["teacher_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    student = MLP(sizes, seed=seed_student)
    student_history = train_student(student, teacher, data, args, np.random.default_rng(seed_data + 1), log)
    timings["student_s"] = time.perf_counter() - t0
    return {"seed": seed, "timings": timings,
            "metrics": {"teacher": teacher_history[-1], "student": student_history[-1]},
            "history": {"teacher": teacher_history, "student": student_history}}


# ----------------------------------------------------------------------------
# Runs, sweeps and saving
# ----------------------------------------------------------------------------


def sample_images(data, per_digit=2):
    """A few test images per digit (uint8), so the figures can show the problem from the JSON alone."""
    rows = [i for d in range(10) for i in np.flatnonzero(data["digit_test"] == d)[:per_digit]]
    return {"digits": data["digit_test"][rows].tolist(), "super": data["super_test"][rows].tolist(),
            "pixels": np.round(data["x_test"][rows] * 255).astype(np.uint8).tolist()}


def summarize(runs):
    """Each headline number over seeds (mean, std, min, max)."""
    numbers = {"teacher_super_acc": ("metrics", "teacher", "super_acc"),
               "teacher_one_to_one": ("metrics", "teacher", "one_to_one"),
               "student_super_acc": ("metrics", "student", "super_acc"),
               "student_one_to_one": ("metrics", "student", "one_to_one"),
               "student_any_mapping": ("metrics", "student", "any_mapping"),
               "kmeans_one_to_one": ("baselines", "kmeans", "one_to_one")}
    return {name: describe([r[a][b][c] for r in runs]) for name, (a, b, c) in numbers.items()}


def default_out(args):
    name = f"sweep_{args.sweep[0]}" if args.sweep else "seeds" if args.seeds else f"seed{args.seed}"
    if args.preset != "default":
        name = f"{args.preset}_{name}"
    if args.split != "01234/56789":
        name = f"split{args.split.replace('/', '-')}_{name}"
    return os.path.join("viz", "subclass", name + ".json")


def main(argv=None):
    args = parse_args(argv)
    log = (lambda *a: None) if args.quiet else (lambda msg: print(msg, flush=True))
    out = args.out or default_out(args)
    started = time.perf_counter()
    seeds = args.seeds or [args.seed]
    data_by_split, baselines_by_split_seed = {}, {}
    groups = []
    for value, run_args in sweep_variants(args):
        if args.sweep:
            log(f"== {args.sweep[0]} = {value}")
        if run_args.split not in data_by_split:
            data_by_split[run_args.split] = load_data(run_args)
        data = data_by_split[run_args.split]
        runs = []
        for seed in seeds:
            log(f"-- seed {seed}")
            record = run(run_args, seed, data, log)
            key = (run_args.split, seed)  # the baselines do not change with the swept setting
            if key not in baselines_by_split_seed:
                t0 = time.perf_counter()
                baselines_by_split_seed[key] = baselines(data, seed)
                record["timings"]["baselines_s"] = time.perf_counter() - t0
            record["baselines"] = baselines_by_split_seed[key]
            runs.append(record)
        groups.append({"config": run_config(run_args), "sweep_value": value, "runs": runs,
                       "summary": summarize(runs)})
        s = groups[-1]["summary"]
        log(f"student 1-to-1 recovery {100 * s['student_one_to_one']['mean']:.1f} ± "
            f"{100 * s['student_one_to_one']['std']:.1f} % (teacher {100 * s['teacher_one_to_one']['mean']:.1f} %, "
            f"k-means {100 * s['kmeans_one_to_one']['mean']:.1f} %), teacher super acc "
            f"{100 * s['teacher_super_acc']['mean']:.2f} % over {len(seeds)} seed(s)")
    return save_results("subclass", args, groups, started, out, log,
                        samples=sample_images(data_by_split[groups[0]["config"]["split"]]))


if __name__ == "__main__":
    try:
        main()
    except DataError as err:
        sys.exit(f"error: {err}")
