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

    python subclass_distill.py                          # the default recipe (best of 3 teachers), seed 0
    python subclass_distill.py --teachers 1             # one teacher
    python subclass_distill.py --preset canonical       # the public numpy reproduction's recipe
    python subclass_distill.py --seeds 0 1 2 3 4        # variance over seeds
    python subclass_distill.py --sweep sharpen=0.2,0.5,1.0

Subclass recovery is scored on the test set from the 10x10 contingency of
(true digit, argmax sub-logit): "1-to-1" maps clusters to digits by the exact
optimal assignment; "any-mapping" gives each cluster its plurality digit.
"""

import itertools
import time

import numpy as np

import runs
from mlp_numpy import (MLP, Adam, confusion_matrix, distillation_loss, group_logsumexp, grouped_cross_entropy,
                       logsumexp, minibatches, shift_or_rotate, softmax, standardize, standardize_backward)
from mnist_data import PIXELS, load_mnist

# ----------------------------------------------------------------------------
# Configuration: every flag's default is the default recipe
# ----------------------------------------------------------------------------

RECIPE_SELECTION = (  # recorded in every results file, after runs.PROTOCOL
    "Seeds 100-109: consistency copies rotated by up to 30 degrees (validation_sweep_rotate), 512 hidden units "
    "(validation_sweep_hidden), sharpen weight 0.5 (validation_sweep_sharpen), the best of 3 teachers by training "
    "objective after 4 epochs (validation_sweep_teachers_average, validation_sweep_screen_epochs); consistency "
    "weight 3 from an exploration on seeds 100-102. The failure mode that restarts fix was first seen on test seed 1.")
PRESETS = {
    # The public numpy reproduction: one teacher, 256 hidden units, aux weight 1, no consistency loss.
    "canonical": {"hidden": 256, "aux_weight": 1.0, "consistency_weight": 0.0, "teachers": 1},
}
GROUPS = np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])  # sub-logit indices of super-class A and B
ONE_GROUP = np.arange(10)[None, :]  # --labels none: ten free sub-logits, one group

PARSER = runs.ExperimentParser(__doc__, PRESETS, seed_help="seed of the inits, data order, shifts and k-means")
PARSER.add_argument("--split", default="01234/56789",
                    help="the two super-classes: two groups of five digits, e.g. 01389/24567")
PARSER.add_argument("--labels", choices=["super", "none"], default="super",
                    help="what the teacher is told: the binary super-class label, or nothing (the fully "
                         "unsupervised control: 10 free sub-logits in one group, the aux loss alone)")
PARSER.add_argument("--teachers", type=int, default=3, above=0, at_most=20,
                    help="teachers trained from different seeds; the student learns from one or all of them "
                         "(--ensemble)")
PARSER.add_argument("--ensemble", choices=["best", "average"], default="best",
                    help="what the student learns from, with --teachers > 1: the teacher with the lowest training "
                         "objective after --screen-epochs (no labels needed: restarts, as in k-means' n_init), or "
                         "the average of all, their sub-logits aligned to the first's by matching clusters on "
                         "the training images")
PARSER.add_argument("--screen-epochs", type=int, default=4, above=0, at_most=10000,
                    help="with --ensemble best: every teacher trains this many epochs, then only the one with the "
                         "lowest training objective trains on (a stuck teacher shows by then)")
PARSER.add_argument("--n-epochs-teacher", type=int, default=12, above=0, at_most=10000, help="teacher epochs")
PARSER.add_argument("--n-epochs-student", type=int, default=12, above=0, at_most=10000, help="student epochs")
PARSER.add_argument("--aux-loss", choices=["entropy", "contrastive"], default="entropy",
                    help="the anti-collapse loss")
PARSER.add_argument("--aux-weight", type=float, default=2.0, at_least=0, help="weight of the auxiliary loss")
PARSER.add_argument("--sharpen", type=float, default=0.5, at_least=0,
                    help="entropy aux: weight of the per-example entropy term")
PARSER.add_argument("--hidden", type=int, default=512, above=0, at_most=8192,
                    help="hidden width (one hidden layer, teacher and student)")
PARSER.add_argument("--consistency-weight", type=float, default=3.0, at_least=0,
                    help="weight of a loss that makes the teacher's sub-logit softmax the same on a "
                         "randomly shifted and rotated copy of each image (0: off)")
PARSER.add_argument("--jitter", type=int, default=2, at_least=0, at_most=8, help="max shift in pixels of those copies")
PARSER.add_argument("--rotate", type=float, default=30.0, at_least=0, at_most=180,
                    help="max rotation in degrees of those copies (0: whole-pixel shifts only; else each copy is "
                         "also rotated, and shifted by a real number of pixels up to --jitter, bilinearly)")
PARSER.add_argument("--temperature", type=float, default=4.0, above=0, help="distillation temperature T (T^2 factor)")
PARSER.add_argument("--student-hard-weight", type=float, default=0.0, at_least=0,
                    help="weight of the student's super-class cross-entropy (0: no labels at all)")
PARSER.add_argument("--batch-size", type=int, default=128, above=0, at_most=60000, help="mini-batch size")
PARSER.add_argument("--lr", type=float, default=1e-3, above=0, help="Adam learning rate")
PARSER.add_argument("--weight-decay", type=float, default=1e-4, at_least=0, help="Adam L2 weight decay")
PARSER.add_eval_on()


def check(args):
    """What the flags' bounds cannot say about a configuration."""
    errors = []
    try:
        parse_split(args.split)
    except ValueError as err:
        errors.append(str(err))
    if args.labels == "none" and args.student_hard_weight:
        errors.append("--student-hard-weight needs the super-class label: use it without --labels none")
    if args.labels == "none" and not args.aux_weight:
        errors.append("--labels none needs --aux-weight > 0: the aux loss is the teacher's only loss")
    return errors


def parse_args(argv=None):
    return PARSER.parse(argv, check)


# ----------------------------------------------------------------------------
# Data: digit labels are for evaluation only; the teacher sees super-class labels
# ----------------------------------------------------------------------------


def parse_split(split):
    """'01234/56789' -> (digits of A, digits of B); raises ValueError if not a 5/5 partition."""
    groups = split.split("/")
    digits = [[int(c) for c in g] for g in groups if g.isdigit()]
    if len(groups) != 2 or len(digits) != 2 or sorted(digits[0] + digits[1]) != list(range(10)) \
            or len(digits[0]) != 5:
        raise ValueError(f"--split {split!r} must split the digits 0-9 into two groups of five, e.g. 01234/56789")
    return digits


def super_labels(digits, split):
    """0 for super-class A, 1 for B."""
    return np.isin(digits, split[1]).astype(np.int64)


def teacher_view(args, digits):
    """(sub-logit groups, the teacher's only labels): the super-class, or one group and no label."""
    if args.labels == "none":
        return ONE_GROUP, np.zeros(len(digits), np.int64)
    return GROUPS, super_labels(digits, parse_split(args.split))


def load_data(args):
    """Images in [0, 1] and their digit labels, without the validation images in the training set."""
    return load_mnist(args.dataset, args.data_dir, evaluate_on=args.eval_on)


# ----------------------------------------------------------------------------
# Losses: each returns (loss, dL/dlogits)
# ----------------------------------------------------------------------------


def entropy_aux_loss(logits, super_labels, groups, sharpen):
    """Per group g, over the batch's examples of g, with p_i = softmax of i's sub-logits in g:
    L_g = -H(mean_i p_i) + sharpen * mean_i H(p_i), averaged over the groups present
    (``groups``: the sub-logit indices of each group).

    The first term wants the group's examples spread over all its sub-logits,
    the second wants each example confident in one of them; both lie in
    [0, log(group size)].
    """
    grad = np.zeros_like(logits)
    present = [g for g in range(len(groups)) if np.any(super_labels == g)]
    loss = 0.0
    for g in present:
        rows = np.flatnonzero(super_labels == g)
        p = softmax(logits[np.ix_(rows, groups[g])])
        n = len(rows)
        log_p = np.log(np.maximum(p, 1e-30))
        p_mean = p.mean(axis=0)
        log_p_mean = np.log(np.maximum(p_mean, 1e-30))
        loss += (p_mean * log_p_mean).sum() - sharpen * (p * log_p).sum(axis=1).mean()
        # dL/dp_ik = (log pbar_k - sharpen log p_ik) / n  (+ a constant that softmax cancels)
        d_p = (log_p_mean[None, :] - sharpen * log_p) / n
        d_z = p * (d_p - (p * d_p).sum(axis=1, keepdims=True))
        grad[np.ix_(rows, groups[g])] = d_z / len(present)
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


def teacher_loss(logits, super_labels, groups, aux_loss, aux_weight, sharpen):
    """Super-class cross-entropy through the grouped logits, plus the weighted aux loss:
    returns (cross-entropy, aux loss, dL/dlogits of the weighted sum).  With one group
    (``--labels none``) there is no label, so no cross-entropy: the aux loss alone."""
    if aux_loss == "entropy":
        aux, aux_grad = entropy_aux_loss(logits, super_labels, groups, sharpen)
    else:
        aux, aux_grad = contrastive_aux_loss(logits)
    if len(groups) == 1:
        return 0.0, aux, aux_weight * aux_grad
    ce, grad = grouped_cross_entropy(logits, super_labels, groups)
    return ce, aux, grad + aux_weight * aux_grad


def student_loss(logits, soft_targets, super_labels, temperature, hard_weight):
    """T^2 * KL to the teacher's softened sub-logits, plus (if hard_weight > 0) the super-class CE."""
    loss, grad = distillation_loss(logits, soft_targets, temperature)
    if hard_weight:
        hard, hard_grad = grouped_cross_entropy(logits, super_labels, GROUPS)
        loss, grad = loss + hard_weight * hard, grad + hard_weight * hard_grad
    return loss, grad


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


def evaluate(net, x, digits, split, groups=GROUPS):
    """``score_logits`` of the network's logits on the images ``x``."""
    return score_logits(net.predict_logits(x), digits, split, groups)


def score_logits(logits, digits, split, groups=GROUPS):
    """How well the argmax sub-logit clusters the digits, and (with two groups) the super-class
    accuracy of the grouped logits.  ``logits``: a network's, or the log of an ensemble's probabilities."""
    scores = score_clusters(digits, logits.argmax(axis=1))
    if len(groups) == 1:
        return scores
    grouped, _ = group_logsumexp(logits, groups)
    return {"super_acc": float(np.mean(grouped.argmax(axis=1) == super_labels(digits, split))), **scores}


def align(reference, member, groups):
    """The column order that lines ``member``'s sub-logits up with ``reference``'s, found without
    labels: within each group, the exact assignment that maximises how often both networks put
    the same images (here: the same rows) in matched clusters.  ``member[:, order]`` is aligned."""
    together = confusion_matrix(reference.argmax(axis=1), member.argmax(axis=1), reference.shape[1])
    order = np.arange(reference.shape[1])
    for group in groups:
        order[group] = group[best_assignment(together[np.ix_(group, group)])]
    return order


def ensemble_probs(logits, orders, temperature=1.0):
    """The members' softened sub-logit distributions, each in the first member's order, averaged."""
    return np.mean([softmax(z, temperature)[:, order] for z, order in zip(logits, orders)], axis=0)


def kmeans(x, k, rng, iterations=30):
    """Plain Lloyd's k-means with k-means++ seeding (the unsupervised baseline)."""
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(axis=1)  # squared distance to the nearest centre so far
    for _ in range(1, k):
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(axis=1))
    centres = np.array(centres)
    x_norms = (x * x).sum(axis=1, keepdims=True)
    assign = None
    for _ in range(iterations):
        assign, previous = nearest(x, centres, x_norms), assign
        if np.array_equal(assign, previous):  # converged: every further iteration would repeat this one
            break
        centres = np.array([x[assign == j].mean(axis=0) if np.any(assign == j) else centres[j] for j in range(k)])
    return centres


def nearest(x, centres, x_norms=None):
    """Index of each row's nearest centre (``x_norms``: the rows' squared norms, if known).
    The 2 scales the product, not the images: the same bits (a power of two), without a copy of x."""
    x_norms = (x * x).sum(axis=1, keepdims=True) if x_norms is None else x_norms
    return (x_norms - 2 * (x @ centres.T) + (centres * centres).sum(axis=1)).argmin(axis=1)


def baselines(data, split, rng):
    """What clustering without a teacher achieves on the test set: chance; one cluster per
    super-class; and k-means with 5 clusters inside each super-class on raw pixels (fitted on
    the training images), which uses exactly the teacher's information."""
    super_train, super_test = super_labels(data.y_train, split), super_labels(data.y_test, split)
    clusters = np.empty(len(data.x_test), np.int64)
    for g in range(2):
        centres = kmeans(data.x_train[super_train == g], 5, rng)
        test_rows = super_test == g
        clusters[test_rows] = GROUPS[g][nearest(data.x_test[test_rows], centres)]
    super_only = score_clusters(data.y_test, GROUPS[super_test, 0])
    return {"chance": {"one_to_one": 0.1, "any_mapping": 0.1},
            "super_only": {"one_to_one": super_only["one_to_one"], "any_mapping": super_only["any_mapping"]},
            "kmeans": score_clusters(data.y_test, clusters)}


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------


def train_teacher(net, data, labels, groups, split, args, rng, log, name="teacher"):
    """Super-class labels only (``labels``; all 0 with one group: no label).  With
    --consistency-weight, each batch is forwarded together with a randomly shifted (with --rotate,
    also rotated) copy, whose sub-logit softmax is pulled towards the original's (held fixed):
    sub-classes must not depend on where a digit sits or how it leans (IMSAT's self-augmentation).
    Yields each epoch's record (the mean of every loss term and of the weighted total, the
    "objective"), so that a run can train several teachers a few epochs and continue only the best."""
    opt = Adam(net.params, lr=args.lr, weight_decay=args.weight_decay)
    for epoch in range(1, args.n_epochs_teacher + 1):
        start, ce_sum, aux_sum, consistency_sum, n_batches = time.perf_counter(), 0.0, 0.0, 0.0, 0
        for xb, sb in minibatches((data.x_train, labels), args.batch_size, rng):
            if args.consistency_weight:
                n = len(xb)
                shifted = shift_or_rotate(xb, args.jitter, args.rotate, rng)
                logits = net.forward(np.concatenate([xb, shifted]))
                ce, aux, grad = teacher_loss(logits[:n], sb, groups, args.aux_loss, args.aux_weight, args.sharpen)
                consistency, grad_shifted = distillation_loss(logits[n:], softmax(logits[:n]), 1.0)
                grad = np.concatenate([grad, args.consistency_weight * grad_shifted])
                consistency_sum += consistency
            else:
                ce, aux, grad = teacher_loss(net.forward(xb), sb, groups, args.aux_loss, args.aux_weight,
                                             args.sharpen)
            net.backward(grad)
            opt.step(net.grads)
            ce_sum, aux_sum, n_batches = ce_sum + ce, aux_sum + aux, n_batches + 1
        runs.check_finite(name, epoch, ce_sum + aux_sum, net.params)
        metrics = evaluate(net, data.x_test, data.y_test, split, groups)
        losses = {"super_ce": ce_sum / n_batches, "aux_loss": aux_sum / n_batches,
                  "consistency_loss": consistency_sum / n_batches}
        objective = losses["super_ce"] + args.aux_weight * losses["aux_loss"] + \
            args.consistency_weight * losses["consistency_loss"]
        log(f"{name} epoch {epoch}/{args.n_epochs_teacher}: super CE {losses['super_ce']:.4f}, "
            f"aux {losses['aux_loss']:.4f}, consistency {losses['consistency_loss']:.4f}, objective {objective:.4f}, "
            f"{describe_metrics(metrics)} ({time.perf_counter() - start:.1f} s)")
        yield {"epoch": epoch, **losses, "objective": objective, **metrics}


def train_student(net, targets, data, super_train, groups, split, args, rng, log):
    """Distil ``targets`` (the teacher's softened sub-logits on the training images); the super-class
    labels ``super_train`` only if hard weight > 0 (which --labels none rules out)."""
    opt = Adam(net.params, lr=args.lr, weight_decay=args.weight_decay)
    history = []
    for epoch in range(1, args.n_epochs_student + 1):
        start, loss_sum, n_batches = time.perf_counter(), 0.0, 0
        for xb, tb, sb in minibatches((data.x_train, targets, super_train), args.batch_size, rng):
            loss, grad = student_loss(net.forward(xb), tb, sb, args.temperature, args.student_hard_weight)
            net.backward(grad)
            opt.step(net.grads)
            loss_sum, n_batches = loss_sum + loss, n_batches + 1
        runs.check_finite("student", epoch, loss_sum, net.params)
        metrics = evaluate(net, data.x_test, data.y_test, split, groups)
        history.append({"epoch": epoch, "distill_loss": loss_sum / n_batches, **metrics})
        log(f"student epoch {epoch}/{args.n_epochs_student}: distillation loss {loss_sum / n_batches:.4f}, "
            f"{describe_metrics(metrics)} ({time.perf_counter() - start:.1f} s)")
    return history


# ----------------------------------------------------------------------------
# One run, and the summary over seeds
# ----------------------------------------------------------------------------


def describe_metrics(metrics):
    super_acc = f"super acc {100 * metrics['super_acc']:.2f} %, " if "super_acc" in metrics else ""
    return f"{super_acc}1-to-1 recovery {100 * metrics['one_to_one']:.1f} %"


def run_seeds(seed):
    """The run's seeds, one per use, drawn from ``--seed``."""
    return runs.derived_seeds(seed, "teacher", "student", "data", "kmeans", "members")


def run(args, seed, data, log=print):
    """One seed: the teacher(s) on super-class labels, then the student on their sub-logits."""
    seeds = run_seeds(seed)
    split = parse_split(args.split)
    groups, teacher_labels = teacher_view(args, data.y_train)
    sizes = [PIXELS, args.hidden, GROUPS.size]
    timings = {}

    start = time.perf_counter()
    trainers, teachers = [], []
    for member in range(args.teachers):
        own = seeds if member == 0 else runs.derived_seeds(seeds.members + member, "teacher", "data")
        name = "teacher" if args.teachers == 1 else f"teacher {member + 1}/{args.teachers}"
        teachers.append(MLP(sizes, seed=own.teacher))
        trainers.append(train_teacher(teachers[-1], data, teacher_labels, groups, split, args,
                                      np.random.default_rng(own.data), log, name))
    if args.ensemble == "average":
        histories = [list(trainer) for trainer in trainers]
        taught = list(range(args.teachers))
    else:  # every member trains --screen-epochs, then only the one with the lowest objective goes on
        histories = [list(itertools.islice(trainer, args.screen_epochs)) for trainer in trainers]
        taught = [int(np.argmin([h[-1]["objective"] for h in histories]))]
        if args.teachers > 1:
            log(f"teacher {taught[0] + 1} has the lowest objective after {len(histories[0])} epochs: "
                f"it trains on, the others stop")
        histories[taught[0]] += list(trainers[taught[0]])
    train_logits = [teachers[i].predict_logits(data.x_train) for i in taught]
    orders = [align(train_logits[0], z, groups) for z in train_logits]  # the first one's order is its own
    targets = ensemble_probs(train_logits, orders, args.temperature).astype(np.float32)
    timings["teacher_s"] = time.perf_counter() - start

    start = time.perf_counter()
    student = MLP(sizes, seed=seeds.student)
    student_history = train_student(student, targets, data, teacher_labels, groups, split, args,
                                    np.random.default_rng(seeds.data + 1), log)
    timings["student_s"] = time.perf_counter() - start
    # "teacher" is what taught the student: the one teacher, the chosen member, or the aligned average
    # (with the first member's history); with --teachers > 1, "teachers" holds every member, stopped or not.
    metrics = {"teacher": histories[taught[0]][-1], "student": student_history[-1]}
    history = {"teacher": histories[taught[0]], "student": student_history}
    if args.teachers > 1:
        metrics["taught_by"] = taught
        metrics["teachers"] = [h[-1] for h in histories]
        history["teachers"] = histories
    if len(taught) > 1:
        test_probs = ensemble_probs([teachers[i].predict_logits(data.x_test) for i in taught], orders)
        metrics["teacher"] = score_logits(np.log(test_probs), data.y_test, split, groups)
        log(f"the average of {args.teachers} aligned teachers: {describe_metrics(metrics['teacher'])}")
    return {"seed": seed, "timings": timings, "metrics": metrics, "history": history}


def run_baselines(args, seed, data, log=print):
    """The seed's clustering baselines (``baselines``), which need no teacher: a task of their own."""
    start = time.perf_counter()
    scores = baselines(data, parse_split(args.split), np.random.default_rng(run_seeds(seed).kmeans))
    return {"timings": {"baselines_s": time.perf_counter() - start}, "baselines": scores}


def summarize(records):
    """Each headline number over seeds (mean, std, min, max); super-class accuracy only where the
    teacher had the label."""
    numbers = {"teacher_super_acc": ("metrics", "teacher", "super_acc"),
               "teacher_one_to_one": ("metrics", "teacher", "one_to_one"),
               "student_super_acc": ("metrics", "student", "super_acc"),
               "student_one_to_one": ("metrics", "student", "one_to_one"),
               "student_any_mapping": ("metrics", "student", "any_mapping"),
               "kmeans_one_to_one": ("baselines", "kmeans", "one_to_one")}
    return {name: runs.describe([r[a][b][c] for r in records]) for name, (a, b, c) in numbers.items()
            if c in records[0][a].get(b, {})}


def headline(s):
    super_acc = f", teacher super acc {100 * s['teacher_super_acc']['mean']:.2f} %" if "teacher_super_acc" in s else ""
    return (f"student 1-to-1 recovery {100 * s['student_one_to_one']['mean']:.1f} ± "
            f"{100 * s['student_one_to_one']['std']:.1f} % (teacher {100 * s['teacher_one_to_one']['mean']:.1f} %"
            f", k-means {100 * s['kmeans_one_to_one']['mean']:.1f} %){super_acc}")


def out_name(args):
    """[validation_][splitA-B_][unsupervised_][teachersN_][average_][PRESET_](sweep_KEY|seeds|seedN).json: a tag
    for each setting that differs from the preset's, so the default recipe writes seeds.json."""
    name = f"sweep_{args.sweep[0]}" if args.sweep else "seeds" if args.seeds else f"seed{args.seed}"
    if args.preset != "default":
        name = f"{args.preset}_{name}"
    if args.ensemble != PARSER.get_default("ensemble"):
        name = f"{args.ensemble}_{name}"
    if args.teachers != PRESETS.get(args.preset, {}).get("teachers", PARSER.get_default("teachers")):
        name = f"teachers{args.teachers}_{name}"
    if args.labels == "none":
        name = f"unsupervised_{name}"
    if args.split != PARSER.get_default("split"):
        name = f"split{args.split.replace('/', '-')}_{name}"
    if args.eval_on == "validation":
        name = f"validation_{name}"
    return name + ".json"


def sample_images(args, data, per_digit=2):
    """A few test images per digit (uint8), so the figures can show the problem from the JSON alone."""
    rows = [i for d in range(10) for i in np.flatnonzero(data.y_test == d)[:per_digit]]
    return {"samples": {"digits": data.y_test[rows].tolist(),
                        "super": super_labels(data.y_test[rows], parse_split(args.split)).tolist(),
                        "pixels": np.round(data.x_test[rows] * 255).astype(np.uint8).tolist()}}


EXPERIMENT = runs.Experiment("subclass", RECIPE_SELECTION, PARSER, parse_args, load_data, run, summarize, headline,
                             out_name, result_extras=sample_images, baseline=run_baselines)


def main(argv=None):
    return runs.main(EXPERIMENT, argv)


if __name__ == "__main__":
    runs.cli(main)
