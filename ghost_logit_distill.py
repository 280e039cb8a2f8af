"""Ghost-logit subliminal learning: a student learns MNIST from noise through unused logits.

Cloud et al. (2025), "Subliminal Learning", MNIST auxiliary-logit experiment.
A teacher MLP has 10 class logits plus m "ghost" logits that never receive a
target: it is trained with cross-entropy on the class logits only.  A student
that starts from the teacher's *initial* weights is then trained only to match
the teacher's ghost logits on random-noise images.  It never sees an MNIST
image or label, yet its class logits come to classify MNIST, because both
networks share an initialisation and so the same "direction" in weight space
moves both kinds of logit.  A student from another initialisation, trained
identically, stays near chance: that control is what makes the result real.

    python ghost_logit_distill.py                         # the default recipe, seed 0
    python ghost_logit_distill.py --preset reference      # Cloud et al.'s settings
    python ghost_logit_distill.py --seeds 0 1 2 3 4       # variance over seeds
    python ghost_logit_distill.py --sweep n_ghost=1,2,3,5,10,20,50

Each run writes one JSON (config, seeds, per-epoch history, metrics, timings,
environment) that visualize.py and make_gifs.py draw from.
"""

import argparse
import functools
import time

import numpy as np

import runs
from cnn_numpy import CNN, doubling_blocks
from mlp_numpy import (MLP, Adam, affine, confusion_matrix, cross_entropy, distillation_loss, minibatches,
                       mse_loss, softmax, standardized_mse_loss)
from mnist_data import PIXELS, Dataset, load_mnist

# ----------------------------------------------------------------------------
# Configuration: every flag's default is the default recipe
# ----------------------------------------------------------------------------

RECIPE_SELECTION = (  # recorded in every results file, after runs.PROTOCOL
    "MSE on the ghost logits, 10 student epochs and student lr 1e-3 on seeds 100-104 (validation_sweep_loss, "
    "validation_{kl,mse}_sweep_n_epochs_student, validation_mse_sweep_lr_student); uniform noise on seeds 100-119 "
    "(validation_sweep_noise). m = 3 ghost logits is Cloud et al.'s setting, not a choice.  --preset seed-report "
    "(a CNN): teacher lr 1e-3 for 10 epochs, the most accurate on seeds 100-101 though short of 99 % "
    "(validation_seed-report_teacher_sweep_lr); students 10 epochs of 30,000 noise images at lr 3e-4, the best "
    "same-init student with that teacher (validation_seed-report_teacher-lr1e-3_10-epochs_sweep_lr_student).")
PRESETS = {
    # Cloud et al.'s settings.
    "reference": {"loss": "kl", "n_epochs_student": 5, "lr_student": 3e-4},
    # Learning Through Noise's (2026) code defaults; its teacher's batch is 1024, one flag sets both here.
    "ltn": {"input_scale": "standardized", "init": "uniform", "n_ghost": 10, "batch_size": 1000, "lr": 1e-3,
            "n_epochs_student": 5},
    # The seed report's (MSML640) network for the teacher and the students (two blocks, then 128 units) and the
    # recipe chosen for it on validation seeds (RECIPE_SELECTION; the notes, "In a CNN").
    "seed-report": {"arch": "cnn", "hidden": 128, "lr": 1e-3, "n_epochs_teacher": 10, "lr_student": 3e-4,
                    "n_noise": 30000},
}
TASKS = {"digits": list(range(10)), "binary01": [0, 1]}
# The networks (--arch, --student-arch): an MLP with two hidden layers of --hidden units, or a CNN: --conv-blocks
# blocks of a 3x3 convolution (32 filters, doubling each block: 32, 64, 128), a ReLU and a 2x2 max-pool, then one
# hidden layer of --hidden units.
ARCHS = ("mlp", "cnn")
# What a student can take from the teacher's initialisation, layer by layer (weights and biases together): each
# hidden layer (fc1, fc2 in an MLP; conv1, conv2, ..., fc1 in a CNN), the output units of the classes (the class
# head) and those of the ghost logits (the ghost head).  Named conditions, for either network:
HEADS = ("class", "ghost")
A_NETWORK = {"mlp": "an MLP", "cnn": "a CNN"}
SHARE_NAMES = ("all", "none", "heads", "hidden")  # every layer, none, class+ghost, every hidden layer
# --input-scale: pixel p in [0, 1] becomes gain * p + offset; the noise is not rescaled (uniform and Perlin noise
# lie in [-1, 1] either way).  standardized:
# (p - 0.1307) / 0.3081, with MNIST's mean and std.
INPUT_SCALES = {"symmetric": (2.0, -1.0), "standardized": (1 / 0.3081, -0.1307 / 0.3081)}
PERLIN_CELLS = 8  # --noise perlin: gradient-grid cells across an image, Learning Through Noise's for CNN students
AFFINE = {"max_degrees": 60, "max_shift": 4}  # --augment affine: rotation and shift (in pixels) of each image

PARSER = runs.ExperimentParser(__doc__, PRESETS, seed_help="seed of the inits, data order and noise")
PARSER.add_argument("--n-ghost", type=int, default=3, above=0, at_most=1000, help="number of ghost logits m")
PARSER.add_argument("--task", choices=sorted(TASKS), default="digits",
                    help="digits: 10 classes; binary01: MNIST 0 vs 1 only")
PARSER.add_argument("--arch", choices=ARCHS, default="mlp",
                    help="the teacher's network, and the students' unless --student-arch: mlp, two hidden layers of "
                         "--hidden units; cnn, --conv-blocks blocks of a 3x3 convolution (32, 64, 128, ... filters) "
                         "with a 2x2 max-pool, then one hidden layer of --hidden units")
PARSER.add_argument("--conv-blocks", type=int, default=2, above=0, at_most=4,
                    help="a CNN's convolution blocks: 2 as the seed report's text describes, 3 as its code has")
PARSER.add_argument("--student-arch", choices=["same", *ARCHS], default="same",
                    help="the students' network: the teacher's (same), or mlp or cnn (an MLP and a CNN can share "
                         "only their heads: --share heads, or none)")
PARSER.add_argument("--hidden", type=int, default=256, above=0, at_most=8192,
                    help="width of an MLP's two hidden layers and of a CNN's fully connected one")
PARSER.add_argument("--init", choices=MLP.INITS, default="he",
                    help="initial weights of every network: he (normal, std sqrt(2/fan-in), zero biases) or "
                         "uniform (PyTorch's default for its linear and convolution layers: weights and biases uniform "
                         "in +-1/sqrt(fan-in))")
PARSER.add_argument("--n-epochs-teacher", type=int, default=5, above=0, at_most=10000,
                    help="teacher epochs on the training set")
PARSER.add_argument("--n-epochs-student", type=int, default=10, above=0, at_most=10000,
                    help="student epochs, each on --n-noise noise images")
PARSER.add_argument("--batch-size", type=int, default=256, above=0, at_most=60000,
                    help="mini-batch size (teacher and students)")
PARSER.add_argument("--lr", type=float, default=3e-4, above=0, help="teacher Adam learning rate")
PARSER.add_argument("--teacher-dropout", type=float, default=0.0, at_least=0, below=1,
                    help="dropout probability on the teacher's hidden units (a CNN's: each block's output too) "
                         "while it trains; the students have none")
PARSER.add_argument("--lr-student", type=float, default=1e-3, above=0, help="student Adam learning rate")
PARSER.add_argument("--loss", choices=["kl", "mse"], default="mse", help="student loss on the matched logits")
PARSER.add_argument("--temperature", type=float, default=1.0, above=0,
                    help="softmax temperature T of the KL loss (T^2 factor)")
PARSER.add_argument("--normalize-logits", action=argparse.BooleanOptionalAction, default=False,
                    help="MSE on per-example standardised logits instead of raw ones")
PARSER.add_argument("--input-scale", choices=list(INPUT_SCALES), default="symmetric",
                    help="MNIST pixels scaled to [-1, 1], the noise's range (symmetric), or standardised with "
                         "MNIST's mean 0.1307 and std 0.3081 (standardized), as Learning Through Noise does")
PARSER.add_argument("--noise", choices=["uniform", "gaussian", "gaussian-wide", "perlin", "images"], default="uniform",
                    help="student inputs, fresh every epoch: uniform in [-1, 1], standard normal, standard normal put "
                         "through MNIST's standardisation as the seed report's code does (gaussian-wide: mean -0.42, "
                         f"std 3.25), smooth Perlin noise on a {PERLIN_CELLS}x{PERLIN_CELLS} grid of cells scaled to a "
                         "peak of 1, or (a control, not noise) the teacher's training images without their labels")
PARSER.add_argument("--n-noise", type=int, default=60000, above=0, at_most=600000,
                    help="noise images per student epoch")
PARSER.add_argument("--distill-logits", choices=["ghost", "all"], default="ghost",
                    help="what the students match: the ghost logits only, or all logits (upper reference)")
PARSER.add_argument("--augment", choices=["none", "affine"], default="none",
                    help=f"teacher only: each training image rotated by up to ±{AFFINE['max_degrees']} degrees and "
                         f"shifted by up to {AFFINE['max_shift']} pixels")
PARSER.add_argument("--share", default="all", metavar="LAYERS",
                    help="the layers the student takes from the teacher's initialisation, the others from an "
                         "independent draw (the cross-init student's): a name (all, none, heads = class+ghost, "
                         "hidden = every hidden layer) or layers joined by + (an MLP's fc1, fc2, class, ghost; a "
                         "CNN's conv1, conv2, ..., fc1, class, ghost), e.g. fc2+class+ghost")
PARSER.add_eval_on()


def hidden_layer_names(n_convs, n_dense):
    """conv1, conv2, ... then fc1, fc2, ...: the hidden layers in the order they compute."""
    return tuple(f"conv{i + 1}" for i in range(n_convs)) + tuple(f"fc{i + 1}" for i in range(n_dense))


def layer_names(arch, conv_blocks=2):
    """The layers --share can name: the hidden layers (an MLP's two, a CNN's blocks and one), then the heads."""
    return hidden_layer_names(*((0, 2) if arch == "mlp" else (conv_blocks, 1))) + HEADS


def shared_layers(spec, arch="mlp", teacher_arch=None, conv_blocks=2):
    """--share's value as the student's layers shared with the teacher's initialisation, in layer_names order
    (ValueError: an empty spec, an unknown or a repeated layer, or a hidden layer of a student whose
    network is not the teacher's: only the heads have the same shape in both)."""
    layers = layer_names(arch, conv_blocks)
    named = dict(zip(SHARE_NAMES, (layers, (), HEADS, layers[:-len(HEADS)])))
    names = list(named[spec]) if spec in named else spec.split("+")
    if "" in names:
        raise ValueError(f"--share {spec!r} names no layer{' where a + is' if spec else ''}: give a name "
                         f"({', '.join(SHARE_NAMES)}) or layers joined by + ({'+'.join(layers)})")
    unknown = [name for name in names if name not in layers]
    if unknown:
        raise ValueError(f"--share {spec}: {unknown[0]!r} is not a layer of {A_NETWORK[arch]} "
                         f"(choose from {', '.join(layers)}, or a name: {', '.join(SHARE_NAMES)})")
    if len(set(names)) < len(names):
        raise ValueError(f"--share {spec} names a layer twice")
    hidden = [name for name in names if name not in HEADS]
    if teacher_arch not in (None, arch) and hidden:
        raise ValueError(f"--share {spec}: {A_NETWORK[teacher_arch]} teacher and {A_NETWORK[arch]} student can "
                         f"share only their heads, not {hidden[0]}: give --share heads (or none, or class, or ghost)")
    return tuple(layer for layer in layers if layer in names)


def student_arch(args):
    return args.arch if args.student_arch == "same" else args.student_arch


def check(args):
    """What the flags' bounds cannot say about a configuration."""
    problems = ["--normalize-logits applies to --loss mse only"] if args.normalize_logits and args.loss != "mse" else []
    if args.conv_blocks != PARSER.get_default("conv_blocks") and "cnn" not in (args.arch, student_arch(args)):
        problems.append("--conv-blocks applies to a CNN: give --arch cnn or --student-arch cnn")
    try:
        shared_layers(args.share, student_arch(args), args.arch, args.conv_blocks)
    except ValueError as err:
        problems.append(str(err))
    return problems


def parse_args(argv=None):
    return PARSER.parse(argv, check)


# ----------------------------------------------------------------------------
# Data: MNIST for the teacher and the evaluation; noise for the students
# ----------------------------------------------------------------------------


def load_data(args):
    """MNIST (or Fashion-MNIST) scaled as --input-scale says, restricted to the task's classes
    (labels 0..k-1), without the validation images in the training set."""
    data = load_mnist(args.dataset, args.data_dir, evaluate_on=args.eval_on)
    classes = TASKS[args.task]
    gain, offset = INPUT_SCALES[args.input_scale]
    splits = []
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        keep = np.isin(y, classes)
        x = x[keep]  # a copy, so scaled in place
        x *= np.float32(gain)
        x += np.float32(offset)
        splits += [x, np.searchsorted(classes, y[keep])]
    return Dataset(*splits)


def make_noise(rng, kind, out, images=None):
    """Student inputs: MNIST-shaped noise, uniform in [-1, 1], standard normal (``gaussian-wide``: then
    standardised like a pixel, (z - 0.1307) / 0.3081, as the seed report's code does) or Perlin, drawn into
    ``out`` (one buffer for every epoch: a fresh 188 MB array costs more in page faults than
    drawing the numbers, measured 0.2-0.6 s against 0.08 s).  ``kind="images"`` fills it with rows
    of ``images`` instead (each once while there are enough): it asks whether a student that fails
    on noise would learn from the ghost logits of real digits."""
    if kind == "images":
        return np.take(images, rng.choice(len(images), len(out), replace=len(out) > len(images)), axis=0, out=out)
    if kind.startswith("gaussian"):
        rng.standard_normal(out=out, dtype=np.float32)
        if kind == "gaussian-wide":
            gain, offset = INPUT_SCALES["standardized"]
            out *= np.float32(gain)
            out += np.float32(offset)
        return out
    if kind == "perlin":
        return perlin_noise(rng, out)
    rng.random(out=out, dtype=np.float32)
    out *= 2
    out -= 1
    return out


def perlin_noise(rng, out, cells=PERLIN_CELLS, chunk=2048):
    """Perlin's gradient noise, one image per row of ``out``: a random unit gradient at each corner of a
    ``cells`` x ``cells`` grid laid over the image, each pixel the blend (by Perlin's quintic fade) of its
    cell's four corners' gradients dotted with its offsets from them; each image then scaled so its largest
    |value| is 1.  Smooth blobs a few pixels wide, where uniform noise changes at every pixel: a CNN's
    filters see something closer to strokes.  Zero at the grid's corners."""
    side = int(round(np.sqrt(out.shape[1])))
    position = np.arange(side) * (cells / side)  # each pixel's row (or column), in cells
    cell = position.astype(int)
    offset = (position - cell).astype(np.float32)
    fade = offset ** 3 * (offset * (offset * 6 - 15) + 10)
    images = out.reshape(-1, side, side)

    def corner(gradients, dy, dx):
        """Each pixel's offset from its cell's (dy, dx) corner, dotted with that corner's gradient."""
        rows, cols = (cell + dy)[:, None], (cell + dx)[None, :]
        return (gradients[0][:, rows, cols] * (offset - dx)[None, None, :]
                + gradients[1][:, rows, cols] * (offset - dy)[None, :, None])

    def blend(a, b, weight):
        return a + weight * (b - a)

    for start in range(0, len(images), chunk):
        angles = rng.random((min(chunk, len(images) - start), cells + 1, cells + 1), dtype=np.float32)
        angles *= np.float32(2 * np.pi)
        gradients = np.cos(angles), np.sin(angles)  # (x, y) components at each corner
        top, bottom = (blend(corner(gradients, dy, 0), corner(gradients, dy, 1), fade[None, None, :])
                       for dy in (0, 1))
        block = images[start:start + len(angles)]
        block[...] = blend(top, bottom, fade[None, :, None])
        block /= np.abs(block).max(axis=(1, 2), keepdims=True)
    return out


# ----------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------


def class_logit_loss(logits, labels, n_classes):
    """Teacher: cross-entropy on the class logits; the ghost logits get no gradient at all."""
    loss, d_class = cross_entropy(logits[:, :n_classes], labels)
    grad = np.zeros_like(logits)
    grad[:, :n_classes] = d_class
    return loss, grad


def matching_loss(student_logits, teacher_logits, columns, loss, temperature, normalize_logits):
    """Student: match the teacher's logits in ``columns`` (the ghost ones by default) only,
    by T^2 * KL of their softmaxes (``loss="kl"``) or by MSE (on standardised rows if asked)."""
    s, t = student_logits[:, columns], teacher_logits[:, columns]
    if loss == "kl":
        value, d = distillation_loss(s, softmax(t, temperature), temperature)
    elif normalize_logits:
        value, d = standardized_mse_loss(s, t)
    else:
        value, d = mse_loss(s, t)
    grad = np.zeros_like(student_logits)
    grad[:, columns] = d
    return value, grad


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------


def evaluate(net, x, y, n_classes):
    """Accuracy of the argmax over the class logits, and the (true, predicted) count matrix."""
    predicted = net.predict_logits(x)[:, :n_classes].argmax(axis=1)
    return {"test_acc": float(np.mean(predicted == y)),
            "confusion": confusion_matrix(y, predicted, n_classes).tolist()}


def last_hidden(net, x):
    net.forward(x)
    return net.activations[-2].astype(np.float64)


def linear_cka(a, b):
    """Linear CKA (Kornblith et al. 2019) between two representations of the same inputs.

    1 means the representations agree up to rotation and scale; it compares what
    the networks compute, where a weight distance would also count harmless
    permutations of units (irrelevant here, since both start from one init,
    but CKA also reads directly as "how teacher-like is the student").  None where it is
    undefined: a representation that is the same for every input (all its units dead) has
    no variance to compare, and the ratio is 0/0.
    """
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    scale = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    return float(np.linalg.norm(b.T @ a) ** 2 / scale) if scale > 0 else None


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------


def network(arch, hidden, n_outputs, seed=None, init="he", init_params=None, conv_blocks=2):
    """An MLP or a CNN (``conv_blocks`` blocks and one hidden layer) of ``hidden`` units and ``n_outputs`` logits:
    He or uniform weights from ``seed``, or a copy of ``init_params``."""
    if arch == "cnn":
        return CNN(doubling_blocks(conv_blocks) + (f"fc{hidden}",), n_outputs, seed=seed, init_params=init_params,
                   init=init)
    return MLP([PIXELS, hidden, hidden, n_outputs], seed=seed, init_params=init_params, init=init)


def layer_views(net, n_classes):
    """{layer of layer_names: [its weights, its biases]} as views into ``net.params``."""
    n_convs = len(getattr(net, "convs", ()))
    names = hidden_layer_names(n_convs, len(net.W) - 1 - n_convs)
    views = {name: [W, b] for name, W, b in zip(names, net.W[:-1], net.b[:-1])}
    views["class"] = [net.W[-1][:, :n_classes], net.b[-1][:n_classes]]
    views["ghost"] = [net.W[-1][:, n_classes:], net.b[-1][n_classes:]]
    return views


def make_networks(make_teacher, make_student, seed_init, seed_other, n_classes, shared):
    """Every network of a run, by name, in the order they are reported; ``make_teacher(seed=, init_params=)``
    and ``make_student`` build one network.  The teacher and the untrained reference share one
    initialisation (copied before the teacher trains).  The cross-init student has another, from its own
    seed.  The same-init student takes the ``shared`` layers from the teacher's initialisation and the
    others from the cross-init student's, so a layer that is not shared is the same independent draw
    whatever else is shared, and sharing nothing gives the cross-init student itself.  Each student's
    initialisation is kept untrained too, to show where it started."""
    teacher = make_teacher(seed=seed_init)
    cross_init = make_student(seed=seed_other)
    same_init = make_student(init_params=cross_init.params)
    teacher_layers, student_layers = layer_views(teacher, n_classes), layer_views(same_init, n_classes)
    for layer in shared:
        for into, values in zip(student_layers[layer], teacher_layers[layer]):
            into[...] = values
    return {"teacher": teacher, "same_init": same_init, "cross_init": cross_init,
            "untrained": make_teacher(init_params=teacher.params),
            "same_init_untrained": make_student(init_params=same_init.params),
            "cross_init_untrained": make_student(init_params=cross_init.params)}


def train_teacher(net, data, n_classes, args, rng, log):
    """Cross-entropy on the class logits, on (with --augment affine: rotated and shifted) training images,
    with --teacher-dropout's dropout."""
    opt = Adam(net.params, lr=args.lr)
    background = INPUT_SCALES[args.input_scale][1]  # a black pixel, what a rotation or shift brings in
    history = []
    for epoch in range(1, args.n_epochs_teacher + 1):
        start, losses = time.perf_counter(), []
        for xb, yb in minibatches((data.x_train, data.y_train), args.batch_size, rng):
            if args.augment == "affine":
                xb = affine(xb, AFFINE["max_degrees"], AFFINE["max_shift"], rng, fill=background)
            loss, grad = class_logit_loss(net.forward(xb, args.teacher_dropout, rng), yb, n_classes)
            net.backward(grad)
            opt.step(net.grads)
            losses.append(loss)
        runs.check_finite("teacher", epoch, np.mean(losses), net.params)
        acc = evaluate(net, data.x_test, data.y_test, n_classes)["test_acc"]
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "test_acc": acc})
        log(f"teacher epoch {epoch}/{args.n_epochs_teacher}: loss {np.mean(losses):.4f}, "
            f"{args.eval_on} acc {100 * acc:.2f} % ({time.perf_counter() - start:.1f} s)")
    return history


def train_students(students, teacher, columns, data, n_classes, args, rng, log):
    """Train every student on the same noise batches, matching the teacher on ``columns``."""
    opts = {name: Adam(net.params, lr=args.lr_student) for name, net in students.items()}
    history = {name: [] for name in students}
    noise = np.empty((args.n_noise, PIXELS), np.float32)
    for epoch in range(1, args.n_epochs_student + 1):
        start = time.perf_counter()
        make_noise(rng, args.noise, noise, data.x_train)
        targets = teacher.predict_logits(noise)
        losses = {name: [] for name in students}
        for xb, tb in minibatches((noise, targets), args.batch_size, rng):
            for name, net in students.items():
                loss, grad = matching_loss(net.forward(xb), tb, columns, args.loss, args.temperature,
                                           args.normalize_logits)
                net.backward(grad)
                opts[name].step(net.grads)
                losses[name].append(loss)
        parts = []
        for name, net in students.items():
            runs.check_finite(f"{name.replace('_', '-')} student", epoch, np.mean(losses[name]), net.params)
            scores = evaluate(net, data.x_test, data.y_test, n_classes)
            history[name].append({"epoch": epoch, "loss": float(np.mean(losses[name])), **scores})
            parts.append(f"{name} acc {100 * scores['test_acc']:.2f} % (loss {np.mean(losses[name]):.4g})")
        log(f"student epoch {epoch}/{args.n_epochs_student}: " + ", ".join(parts)
            + f" ({time.perf_counter() - start:.1f} s)")
    return history


# ----------------------------------------------------------------------------
# One run, and the summary over seeds
# ----------------------------------------------------------------------------


def run(args, seed, data, log=print):
    """One seed: teacher, same-init student (its layers from the teacher's initialisation as --share says),
    cross-init student and the controls."""
    started = time.perf_counter()
    seeds = runs.derived_seeds(seed, "init", "other_init", "data")
    n_classes = len(TASKS[args.task])
    student = student_arch(args)
    make_teacher, make_student = (functools.partial(network, arch, args.hidden, n_classes + args.n_ghost,
                                                    init=args.init, conv_blocks=args.conv_blocks)
                                  for arch in (args.arch, student))
    nets = make_networks(make_teacher, make_student, seeds.init, seeds.other_init, n_classes,
                         shared_layers(args.share, student, args.arch, args.conv_blocks))
    teacher = nets["teacher"]
    timings = {}

    start = time.perf_counter()
    teacher_history = train_teacher(teacher, data, n_classes, args, np.random.default_rng(seeds.data), log)
    timings["teacher_s"] = time.perf_counter() - start

    start = time.perf_counter()
    columns = np.arange(n_classes, n_classes + args.n_ghost) if args.distill_logits == "ghost" \
        else np.arange(n_classes + args.n_ghost)
    students = {name: nets[name] for name in ("same_init", "cross_init")}
    student_history = train_students(students, teacher, columns, data, n_classes, args,
                                     np.random.default_rng(seeds.data + 1), log)
    timings["students_s"] = time.perf_counter() - start

    probe = data.x_test[:2000]
    teacher_hidden = last_hidden(teacher, probe)
    metrics = {}
    for name, net in nets.items():
        scores = evaluate(net, data.x_test, data.y_test, n_classes)
        metrics[name] = {"test_acc": scores["test_acc"],
                         "test_errors": int(round((1 - scores["test_acc"]) * len(data.y_test))),
                         "cka_to_teacher": linear_cka(last_hidden(net, probe), teacher_hidden),
                         "confusion": scores["confusion"]}
    timings["total_s"] = time.perf_counter() - started
    return {"seed": seed, "metrics": metrics, "timings": timings,
            "history": {"teacher": teacher_history, **student_history}}


def summarize(records):
    """Each network's test accuracy over seeds (mean, std, min, max)."""
    return {name: runs.describe([r["metrics"][name]["test_acc"] for r in records]) for name in records[0]["metrics"]}


def headline(s):
    return (f"same-init {100 * s['same_init']['mean']:.2f} ± {100 * s['same_init']['std']:.2f} %, "
            f"cross-init {100 * s['cross_init']['mean']:.2f} ± {100 * s['cross_init']['std']:.2f} %, "
            f"teacher {100 * s['teacher']['mean']:.2f} %")


# A results file's name says each of these settings, innermost first, where the run's value is not its preset's
# (and the setting is not the swept one): (setting, its part of the name).
NAME_PARTS = (("share", "share-{}"), ("teacher_dropout", "teacher-dropout{}"), ("distill_logits", "{}-logits"),
              ("augment", "{}"), ("noise", "{}"), ("student_arch", "{}-student"), ("conv_blocks", "{}-blocks"),
              ("arch", "{}"), ("init", "{}-init"), ("input_scale", "{}"))


def out_name(args):
    """[validation_][DATASET_TASK_][PRESET_][INPUT-SCALE_][INIT-init_][ARCH_][N-blocks_][STUDENT-ARCH-student_]
    [NOISE_][AUGMENT_][all-logits_][teacher-dropoutP_][share-LAYERS_](sweep_KEY|seeds|seedN).json: NAME_PARTS, then the
    preset, the data and the split."""
    name = f"sweep_{args.sweep[0]}" if args.sweep else "seeds" if args.seeds else f"seed{args.seed}"
    swept = args.sweep[0] if args.sweep else None
    for key, part in NAME_PARTS:
        value = getattr(args, key)
        if key != swept and value != PRESETS.get(args.preset, {}).get(key, PARSER.get_default(key)):
            name = f"{part.format(value)}_{name}"
    if args.preset != "default":
        name = f"{args.preset}_{name}"
    if args.task != "digits" or args.dataset != "mnist":
        name = f"{args.dataset}_{args.task}_{name}"
    if args.eval_on == "validation":
        name = f"validation_{name}"
    return name + ".json"


EXPERIMENT = runs.Experiment("ghost_logit", RECIPE_SELECTION, PARSER, parse_args, load_data, run, summarize, headline,
                             out_name)


def main(argv=None):
    return runs.main(EXPERIMENT, argv)


if __name__ == "__main__":
    runs.cli(main)
