"""Figures and README tables, drawn from the committed results JSON alone (never by retraining).

    python visualize.py                    # every experiment's PNGs, each into its viz/<experiment>/
    python visualize.py ghost_logit        # PNGs into viz/ghost_logit/ (--results DIR for another folder)
    python visualize.py --readme           # regenerate every generated block in the README and the notes

A generated block is the text between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``, in README.md or in one of the notes files beside the
results (``viz/<experiment>/README.md``); ``tests/test_readme.py`` checks that
each one equals what this file generates from the JSON, so a number in the
docs is always the number in the results file.
"""

import io
import json
import math
import os
import re
import tempfile

import numpy as np

from mnist_data import special_file, write_all_or_nothing
from runs import VALIDATION_FOLDER, Parser, cli, describe

ROOT = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(ROOT, "README.md")
VIZ = os.path.join(ROOT, "viz")
NOTES = [os.path.join(VIZ, name, "README.md") for name in ("subclass", "omitted_class", "ghost_logit", "bench")]
GHOST, SUBCLASS, OMITTED = (os.path.join(VIZ, name) for name in ("ghost_logit", "subclass", "omitted_class"))


class ResultsError(Exception):
    """A results file that cannot be drawn from, explained in one line."""


def load(folder, name, experiment=None):
    """A results JSON (``folder`` as given, relative to the working directory), checked before any drawing:
    an object, ``experiment``'s results if one is named, and every field a drawing reads of the kind it
    needs, every number finite (field_problem)."""
    path = os.path.join(folder, name)
    kind = special_file(path)
    if kind:  # a FIFO would block, a device never end
        raise ResultsError(f"{path}: {kind}, not a results file")
    try:
        size = os.path.getsize(path)
        if size > MAX_RESULTS_BYTES:
            raise ResultsError(f"{path}: {size / 1e6:.0f} MB, larger than any results file "
                               f"(at most {MAX_RESULTS_BYTES // 10 ** 6} MB); not read")
        with open(path) as f:
            result = json.load(f)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file (run the experiment first)") from None
    except (OSError, ValueError, RecursionError, MemoryError) as err:  # unreadable, empty, truncated, not JSON,
        # not UTF-8, nested too deeply for the parser
        raise ResultsError(f"{path}: not a readable results file ({type(err).__name__}: {err})") from None
    if not isinstance(result, dict):
        raise ResultsError(f"{path}: not a results file (a JSON {type(result).__name__}, not an object)")
    if experiment and result.get("experiment") != experiment:
        raise ResultsError(f"{path}: holds {result.get('experiment')!r} results, not {experiment!r} ones")
    stamp = os.stat(path)
    if CHECKED.get(path) != (stamp.st_mtime_ns, stamp.st_size):
        try:
            problem = field_problem(result)
        except RecursionError:  # deeper than the parser's limit allows the walk
            problem = "nested deeper than any results file"
        if problem:
            if len(problem) > 300:  # a field nested a thousand deep is named by its two ends
                problem = f"{problem[:150]} ... {problem[-100:]}"
            raise ResultsError(f"{path}: {problem}; nothing was drawn")
        CHECKED[path] = stamp.st_mtime_ns, stamp.st_size
    return result


MAX_RESULTS_BYTES = 100 * 10 ** 6  # the largest committed results file is 3.3 MB
CHECKED = {}  # path: (mtime, size) of each results file this process found sound, so a file is checked once
NUMBER, STRING, LIST, OBJECT, NULL = "a number", "a string", "a list", "an object", "null"
FIELD_KINDS = {  # each key the figures and tables read, wherever it stands in a results file: what it may hold
    **dict.fromkeys(["batch", "batch_size", "blas_threads", "distill_loss", "epoch", "hard_weight", "input_dropout",
                     "jitter", "lr", "max", "max_norm", "mean", "min", "n", "n_cpus", "n_epochs_student",
                     "n_epochs_teacher", "n_ghost", "numpy_over_torch", "one_to_one", "others_acc", "rotate", "seed",
                     "std", "student_hidden", "super_acc", "super_ce", "teacher_dropout", "teacher_hidden",
                     "temperature", "test_acc", "test_errors", "transfer_jitter"], (NUMBER,)),
    "cka_to_teacher": (NUMBER, NULL),  # undefined for a network whose hidden units are all dead
    **dict.fromkeys(["acc", "errors", "omitted_acc"], (NUMBER, LIST, NULL)),  # a list along the bias sweep
    "aux_loss": (NUMBER, STRING), "test_tuned_offset": (NUMBER, OBJECT), "torch": (STRING, NULL),
    "sweep": (STRING, OBJECT, NULL),
    **dict.fromkeys(["blas", "blas_core", "cpu", "eval_on", "experiment", "preset", "rule", "split", "workload"],
                    (STRING,)),
    **dict.fromkeys(["confusion", "contingency", "corrected_predictions", "groups", "offsets", "omit", "per_class_acc",
                     "pixels", "probe_mean_p", "probe_share", "runs", "sample_pixels", "sample_predictions", "seeds",
                     "sizes", "super", "target_freq", "workloads"], (LIST,)),
    "labels": (LIST, STRING),
    **dict.fromkeys(["cross_init", "offset", "same_init", "student", "teacher"], (LIST, OBJECT)),
    **dict.fromkeys(["baselines", "bias", "by_rule", "chance", "config", "corrected_errors", "corrected_omitted_acc",
                     "cross_init_untrained", "environment", "history", "kmeans", "kmeans_one_to_one", "metrics",
                     "metrics_after", "samples", "student_any_mapping", "student_corrected", "student_errors",
                     "student_omitted_acc", "student_one_to_one", "summary", "super_only", "teacher_errors",
                     "teacher_one_to_one", "teacher_super_acc", "timings", "untrained"], (OBJECT,)),
}
NUMBER_LISTS = {"acc", "confusion", "contingency", "corrected_predictions", "errors", "labels", "offset", "offsets",
                "omit", "omitted_acc", "per_class_acc", "pixels", "probe_mean_p", "probe_share", "sample_pixels",
                "sample_predictions", "sizes", "super", "target_freq"}  # where a list, a list (of lists) of numbers


def kind(value):
    return (NULL if value is None else STRING if isinstance(value, str) else LIST if isinstance(value, list)
            else OBJECT if isinstance(value, dict) else NUMBER if type(value) in (int, float) else "a boolean")


def field_problem(value, where=""):
    """'FIELD is VALUE, not KIND' for the first field a drawing reads that holds another kind of value
    (a key ending in _s is seconds, a number), or 'FIELD is nan, ...' for a number that is not finite;
    None if there is none."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value}, not a finite number"
    if isinstance(value, list):
        return next(filter(None, (field_problem(item, f"{where}[{i}]") for i, item in enumerate(value))), None)
    for key, child in value.items() if isinstance(value, dict) else ():
        here = f"{where}.{key}" if where else key
        allowed = FIELD_KINDS.get(key, (NUMBER,) if key.endswith("_s") else None)
        if allowed and kind(child) not in allowed:
            return f"{here} is {json.dumps(child)[:40]}, not {' or '.join(allowed)}"
        if key in NUMBER_LISTS and isinstance(child, list):
            problem = number_list_problem(child, here)
        else:
            problem = field_problem(child, here)
        if problem:
            return problem
    return None


def number_list_problem(items, where):
    """field_problem for a list (of lists) of numbers, at numpy's speed where it is sound."""
    try:
        array = np.array(items)
    except ValueError:  # ragged
        array = None
    if array is not None and array.dtype.kind in "iuf" and np.isfinite(array).all():
        return None
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if isinstance(item, list):
            problem = number_list_problem(item, here)
        else:
            problem = (None if kind(item) == NUMBER and math.isfinite(item) else
                       f"{here} is {json.dumps(item)[:40]}, not a finite number")
        if problem:
            return problem
    return None  # ragged, but numbers all the way down


def png(fig):
    """A finished figure as PNG bytes (written only once the whole set has rendered)."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def drawn(what, folder, draw):
    """``draw()``'s result, or a one-line ResultsError if the results lack what it needs."""
    try:
        return draw()
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise ResultsError(f"the results in {folder} lack what the {what} need ({type(err).__name__}: {err}); "
                           "rerun the experiment with this code") from None


def pct(x):
    return f"{100 * x:.1f}"


def mean_std(summary):
    """'mean ± std' in %, or '-' for a number the run does not have (``summary`` None)."""
    return "-" if summary is None else f"{pct(summary['mean'])} ± {pct(summary['std'])}"


def existing(folder, files):
    """The (file name, label) pairs of ``files`` whose results file is in ``folder`` (a run not made yet is
    left out of tables and figures rather than failing them)."""
    return [(name, label) for name, label in files if os.path.exists(os.path.join(folder, name))]


def sweep_label(value):
    """A swept value as shown in tables and on axes: a digit list [3] as '3'."""
    return "".join(map(str, value)) if isinstance(value, list) else str(value)


# ----------------------------------------------------------------------------
# Ghost-logit subliminal learning
# ----------------------------------------------------------------------------

GHOST_MAIN = [("seeds.json", "default recipe (MSE, 10 student epochs, lr 1e-3)"),
              ("reference_seeds.json", "reference (Cloud et al.: KL, 5 student epochs, lr 3e-4)")]
GHOST_OTHER = [("all-logits_seeds.json", "upper reference: students match all 13 logits"),
               ("affine_seeds.json", "teacher trained on rotated and shifted digits"),
               ("mnist_binary01_seeds.json", "MNIST 0 vs 1 (chance 50 %)"),
               ("mnist_binary01_affine_seeds.json", "MNIST 0 vs 1, rotated and shifted teacher"),
               ("fashion-mnist_digits_seeds.json", "Fashion-MNIST")]
GHOST_SWEEPS = [("validation/validation_sweep_loss.json", "student loss (5 student epochs)"),
                ("validation/validation_kl_sweep_n_epochs_student.json", "student epochs, KL"),
                ("validation/validation_mse_sweep_n_epochs_student.json", "student epochs, MSE"),
                ("validation/validation_mse_sweep_lr_student.json", "student learning rate, MSE (5 student epochs)"),
                ("validation/validation_sweep_n_ghost.json", "ghost logits m"),
                ("validation/validation_sweep_normalize_logits.json", "MSE on standardised logits"),
                ("validation/validation_sweep_hidden.json", "hidden width"),
                ("validation/validation_sweep_noise.json", "noise distribution"),
                ("validation/validation_fashion-mnist_digits_sweep_n_epochs_student.json", "Fashion-MNIST: student epochs"),
                ("validation/validation_fashion-mnist_digits_sweep_n_epochs_teacher.json", "Fashion-MNIST: teacher epochs")]


def diagnostic_mean(values):
    """A diagnostic's mean over seeds, two decimals; '–' if it is undefined (null) on any seed."""
    return "–" if any(v is None for v in values) else f"{np.mean(values):.2f}"


def summary_of(folder, name, experiment):
    """The summary of a results file's first (or only) group."""
    return load(folder, name, experiment)["groups"][0]["summary"]


def source_line(experiment, files):
    """The line under a README table that names the results files its rows come from."""
    return f"\n\nFrom `viz/{experiment}/`: {', '.join(f'`{name}`' for name, _ in files)}."


def table_head(header):
    """A Markdown table's header and separator rows."""
    return [markdown_row(header), "|---" * len(header) + "|"]


def markdown_row(cells):
    return "| " + " | ".join(cells) + " |"


def bold_if(default, text):
    """A table cell, bold in the default recipe's row only (so that the eye finds it)."""
    return f"**{text}**" if default else text


def ghost_main_table(full=False):
    """The ghost-logit reports, the default recipe's row first; ``full`` adds the shared-init network untrained
    and the CKA columns (the notes' table)."""
    header = ["recipe", "seeds", "teacher", "same-init student", "cross-init student", "cross-init before training"]
    header += ["untrained (shared init)"] * full + ["worst seed: same-init / cross-init"]
    header += ["CKA to teacher: same / cross / untrained"] * full + ["seconds per seed"]
    rows = table_head(header)
    for name, label in existing(GHOST, GHOST_MAIN + GHOST_OTHER):
        group = load(GHOST, name, "ghost_logit")["groups"][0]
        s, runs, default = group["summary"], group["runs"], name == "seeds.json"
        cells = [bold_if(default, label), str(len(runs)), mean_std(s["teacher"]),
                 bold_if(default, mean_std(s["same_init"])), mean_std(s["cross_init"]),
                 mean_std(s["cross_init_untrained"])]
        cells += [mean_std(s["untrained"])] * full + [f"{pct(s['same_init']['min'])} / {pct(s['cross_init']['max'])}"]
        cells += [" / ".join(diagnostic_mean([r["metrics"][k]["cka_to_teacher"] for r in runs])
                             for k in ("same_init", "cross_init", "untrained"))] * full
        rows.append(markdown_row(cells + [f"{seconds_per_seed(runs):.0f}"]))
    return "\n".join(rows) + ("" if full else source_line("ghost_logit", existing(GHOST, GHOST_MAIN + GHOST_OTHER)))


def ghost_headline():
    """The README's ghost-logit result in prose, above its table."""
    s = summary_of(GHOST, "seeds.json", "ghost_logit")
    reference = summary_of(GHOST, "reference_seeds.json", "ghost_logit")
    return (f"A student that starts from the teacher's initial weights and only matches its 3 ghost logits on noise "
            f"reaches **{mean_std(s['same_init'])} %** on the MNIST test set (worst seed {pct(s['same_init']['min'])} "
            f"%). From another initialisation it scores {pct(s['cross_init']['mean'])} %, as its untrained start "
            f"did ({pct(s['cross_init_untrained']['mean'])} %). Cloud et al.'s own settings give "
            f"{pct(reference['same_init']['mean'])} % here.{ghost_cnn_headline()}")


def ghost_sweep_table(files):
    """A row per validation run (``files``: (file, what it varies)) and sweep value: both students, the cross-init
    student's own untrained start (the control; '-' in files older than that record), the worst seeds, the teacher
    and the seconds a seed."""
    rows = table_head(["setting", "value", "seeds", "same-init student", "cross-init student",
                       "cross-init untrained start", "worst seed: same-init / cross-init", "teacher",
                       "seconds per seed"])
    for name, label in existing(GHOST, files):
        for group in load(GHOST, name, "ghost_logit")["groups"]:
            s = group["summary"]
            value = "-" if group["sweep_value"] is None else str(group["sweep_value"])
            rows.append(markdown_row([label, value, str(s["same_init"]["n"]), mean_std(s["same_init"]),
                                      mean_std(s["cross_init"]), mean_std(s.get("cross_init_untrained")),
                                      f"{pct(s['same_init']['min'])} / {pct(s['cross_init']['max'])}",
                                      mean_std(s["teacher"]), f"{seconds_per_seed(group['runs']):.1f}"]))
    return "\n".join(rows)


# Ghost logits in a CNN: the validation runs that chose its recipe, then one after its test report, (file, what it
# varies).
GHOST_CNN = [("validation/validation_seed-report_probe_seeds.json", "the MLP's recipe, 5 student epochs"),
             ("validation/validation_seed-report_sweep_lr_student.json", "student learning rate"),
             ("validation/validation_seed-report_all-logits_seeds.json", "students match all 13 logits"),
             ("validation/validation_seed-report_lr-student1e-4_10-epochs_seeds.json",
              "student lr 1e-4, 10 student epochs"),
             ("validation/validation_seed-report_perlin_seeds.json", "Perlin noise instead of uniform"),
             ("validation/validation_seed-report_m50_seeds.json", "m = 50 ghost logits instead of 3"),
             ("validation/validation_seed-report_m250_seeds.json", "m = 250 ghost logits instead of 3"),
             ("validation/validation_seed-report_images_seeds.json",
              "a control: the teacher's training images, unlabelled, instead of noise"),
             ("validation/validation_ltn_cnn-student_perlin_share-heads_seeds.json",
              "an MLP teacher (--preset ltn, m = 10) and a CNN student sharing its heads, Perlin noise"),
             ("validation/validation_seed-report_teacher_sweep_lr.json",
              "teacher lr, 10 epochs (students: 1 epoch of 1,000 images)"),
             ("validation/validation_seed-report_teacher-lr1e-3_10-epochs_sweep_lr_student.json",
              "the chosen teacher (lr 1e-3, 10 epochs); 10 student epochs at student lr"),
             ("validation/validation_seed-report_teacher-dropout0.25_seeds.json",
              "after the test report: the chosen recipe, the teacher with dropout 0.25"),
             ("validation/validation_seed-report_3-blocks_teacher-dropout0.25_batch128_seeds.json",
              "after the test report: the seed report's code's network (3 blocks) and teacher (dropout 0.25, "
              "batch 128, 9 epochs)"),
             ("validation/validation_seed-report_code-settings_seeds.json",
              "after the test report: the row above with standardised inputs and 50,000 wide Gaussian noise images")]


# Ghost logits in a CNN on the test seeds, beside the seed report's single runs (MSML640, raw logits): (file,
# (what runs, the seed report's teacher / same-init / random-init accuracy in %, or None where it ran no such pair)).
GHOST_CNN_REPORT = [("seed-report_seeds.json", ("MNIST 0–9", (99.29, 11.25, 2.69))),
                    ("mnist_binary01_seed-report_seeds.json", ("MNIST 0 vs 1", (99.97, 99.93, 0.44))),
                    ("fashion-mnist_digits_seed-report_seeds.json", ("Fashion-MNIST", (90.47, 10.00, 13.58))),
                    ("ltn_cnn-student_perlin_share-heads_seeds.json",
                     ("MNIST 0–9, MLP teacher, CNN student sharing its heads (--preset ltn, m = 10, Perlin noise)",
                      None))]


def ghost_cnn_report_table():
    """A row per CNN test report: the seed report's numbers, then ours (mean ± std over seeds) with the
    cross-init student's own untrained start and the seconds a seed."""
    rows = table_head(["data", "seed report: teacher / same-init / random-init", "teacher", "same-init student",
                       "cross-init student", "cross-init untrained start", "seconds per seed"])
    for name, (label, theirs) in existing(GHOST, GHOST_CNN_REPORT):
        group = load(GHOST, name, "ghost_logit")["groups"][0]
        s = group["summary"]
        rows.append(markdown_row([label, "-" if theirs is None else " / ".join(f"{x:.2f}" for x in theirs),
                                  mean_std(s["teacher"]), mean_std(s["same_init"]), mean_std(s["cross_init"]),
                                  mean_std(s["cross_init_untrained"]), f"{seconds_per_seed(group['runs']):.0f}"]))
    return "\n".join(rows)


def cnn_control_drift():
    """The most any cross-init CNN student gained over its own untrained start, seed by seed, in the CNN's
    validation runs (GHOST_CNN), in points: how far training moves a student that shares nothing with its
    teacher.  The README calls a same-init CNN student's learning "working" only beyond it, a line from the
    validation split alone (it replaced one drawn after the test runs were seen)."""
    return max(100 * (run["metrics"]["cross_init"]["test_acc"] - run["metrics"]["cross_init_untrained"]["test_acc"])
               for name, _ in existing(GHOST, GHOST_CNN) for group in load(GHOST, name, "ghost_logit")["groups"]
               for run in group["runs"])


def ghost_cnn_headline():
    """The README's sentences on CNNs, once their test reports exist: whether the seed report's CNN student learns
    (a mean gain over its untrained start beyond cnn_control_drift), beside the seed report's number, and what an
    MLP teacher's CNN student learns through the heads alone (Learning Through Noise's case)."""
    (name, (_, theirs)), (pair, _) = GHOST_CNN_REPORT[0], GHOST_CNN_REPORT[-1]
    if not all(os.path.exists(os.path.join(GHOST, file)) for file in (name, pair)):
        return ""
    s, heads = summary_of(GHOST, name, "ghost_logit"), summary_of(GHOST, pair, "ghost_logit")
    gain, line = 100 * (s["same_init"]["mean"] - s["untrained"]["mean"]), cnn_control_drift()
    learns = gain > line
    return (f" Subliminal learning {'also works' if learns else 'hardly works'} in the seed report's CNN: its "
            f"same-init student reaches {mean_std(s['same_init'])} % from an untrained {pct(s['untrained']['mean'])} "
            f"% (the seed report's: {theirs[1]:.2f} %). Its gain of {gain:.1f} points is "
            f"{'beyond' if learns else 'within'} the {line:.1f} points training moved a student sharing nothing on the "
            f"validation seeds, our line for working (it replaced one drawn after the test runs were seen). With an "
            f"MLP teacher, a CNN student that shares only its heads (Learning Through Noise's case) reaches "
            f"{pct(heads['same_init']['mean'])} %, one that shares nothing {pct(heads['cross_init']['mean'])} % "
            f"([every CNN run](viz/ghost_logit/README.md#in-a-cnn)).")


# The per-layer map: which layers the student shares with the teacher's initialisation (--share), one results
# file per number of ghost logits m; "none" is every file's cross-init student.
SHARE_CONDITIONS = {"all": "all four layers (the default)", "fc2+class+ghost": "all but fc1",
                    "fc1+class+ghost": "all but fc2", "fc1+fc2+ghost": "all but the class head",
                    "fc1+fc2+class": "all but the ghost head", "heads": "both heads (class + ghost)",
                    "hidden": "both hidden layers (fc1 + fc2)", "ghost": "the ghost head only",
                    "class": "the class head only", "none": "none (the cross-init student)"}


def share_map(folder):
    """{m: {--share condition: (accuracies, untrained starts' accuracies, CKAs, untrained starts' CKAs), one per
    seed}} from the share_map_m*.json files in ``folder``, m ascending; the "none" condition is the cross-init
    student of the first group."""
    files = sorted((name for name in os.listdir(folder) if re.fullmatch(r"share_map_m\d+\.json", name)),
                   key=lambda name: int(name[len("share_map_m"):-len(".json")]))
    def scores(group, student):
        runs = group["runs"]
        return (np.array([r["metrics"][student]["test_acc"] for r in runs]),
                np.array([r["metrics"][f"{student}_untrained"]["test_acc"] for r in runs]),
                [r["metrics"][student]["cka_to_teacher"] for r in runs],
                [r["metrics"][f"{student}_untrained"]["cka_to_teacher"] for r in runs])
    found = {}
    for name in files:
        groups = load(folder, name, "ghost_logit")["groups"]
        found[groups[0]["config"]["n_ghost"]] = {**{g["sweep_value"]: scores(g, "same_init") for g in groups},
                                                 "none": scores(groups[0], "cross_init")}
    return found


def share_map_table(found, full=False):
    """The per-layer map (``found``: share_map): a row per condition, the student's test accuracy for each m
    (README); with ``full`` a row per condition and m with the worst seed, the untrained start, the gain over
    it and the CKA (notes)."""
    if full:
        rows = table_head(["layers shared with the teacher's initialisation", "m", "seeds", "student", "worst seed",
                           "untrained start", "gain over the start (points)", "CKA to teacher: start → trained"])
        for condition, label in SHARE_CONDITIONS.items():
            for m, cells in found.items():
                acc, start, cka, start_cka = cells[condition]
                rows.append(f"| {label} | {m} | {len(acc)} | {mean_std(describe(acc))} | {pct(acc.min())} | "
                            f"{pct(start.mean())} | {100 * (acc - start).mean():+.1f} | "
                            f"{diagnostic_mean(start_cka)} → {diagnostic_mean(cka)} |")
        return "\n".join(rows)
    rows = table_head(["layers shared with the teacher's initialisation"] + [f"m = {m}" for m in found])
    for condition, label in SHARE_CONDITIONS.items():
        cells = [label] + [mean_std(describe(found[m][condition][0])) for m in found]
        rows.append(markdown_row([bold_if(condition == "all", cell) for cell in cells]))
    files = [(f"share_map_m{m}.json", None) for m in found]
    return "\n".join(rows) + source_line("ghost_logit", files)


# Why a claim of Learning Through Noise (2026) fails here: the validation runs of their recipe and of ours, each
# file one change at a time (input scaling, initialisation, recipe), with both heads or everything shared.
LTN_RUNS = ["validation/validation_m10_sweep_share.json", "validation/validation_standardized_m10_sweep_share.json",
            "validation/validation_uniform-init_share-heads_sweep_n_ghost.json",
            "validation/validation_ltn_he-init_sweep_share.json",
            "validation/validation_ltn_he-init_share-heads_sweep_n_ghost.json",
            "validation/validation_ltn_sweep_share.json", "validation/validation_ltn_share-heads_sweep_n_ghost.json"]


# The test-set report of what those runs found: our recipe with PyTorch's initial weights.
LTN_REPORT = ["uniform-init_sweep_n_ghost.json", "uniform-init_share-heads_sweep_n_ghost.json"]


def ltn_table(folder, files):
    """A row per (recipe, initialisation, inputs, layers shared, m) of ``files`` in ``folder``: the same-init
    student's accuracy, its worst seed, its untrained start and its CKA to the teacher."""
    found = []
    for name, _ in existing(folder, [(name, None) for name in files]):
        for group in load(folder, name, "ghost_logit")["groups"]:
            config = group["config"]
            standardized = config.get("input_scale", "symmetric") != "symmetric"
            found.append(((config["preset"], config.get("init", "he"), standardized,
                           list(SHARE_CONDITIONS).index(config["share"]), config["n_ghost"]), group))
    rows = table_head(["recipe", "initial weights", "inputs", "layers shared", "m", "seeds", "student",
                       "worst seed", "untrained start", "CKA to teacher"])
    for _, group in sorted(found, key=lambda pair: pair[0]):
        config, runs = group["config"], group["runs"]
        acc = np.array([r["metrics"]["same_init"]["test_acc"] for r in runs])
        start = np.array([r["metrics"]["same_init_untrained"]["test_acc"] for r in runs])
        rows.append(markdown_row([
            "Learning Through Noise's" if config["preset"] == "ltn" else "ours",
            {"he": "He normal", "uniform": "PyTorch's uniform"}[config.get("init", "he")],
            config.get("input_scale", "symmetric"), SHARE_CONDITIONS[config["share"]], str(config["n_ghost"]),
            str(len(acc)), mean_std(describe(acc)), pct(acc.min()), pct(start.mean()),
            diagnostic_mean([r["metrics"]["same_init"]["cka_to_teacher"] for r in runs])]))
    return "\n".join(rows)


def share_map_figure(found):
    """A heat map, conditions x m, of the points the student gained over its own untrained start."""
    import matplotlib.pyplot as plt
    ms, conditions = list(found), list(SHARE_CONDITIONS)
    gain = np.array([[100 * (found[m][c][0] - found[m][c][1]).mean() for m in ms] for c in conditions])
    accuracy = np.array([[100 * found[m][c][0].mean() for m in ms] for c in conditions])
    fig, ax = plt.subplots(figsize=(4.2 + 1.1 * len(ms), 5.2))
    image = ax.imshow(gain, cmap="viridis", vmin=min(0, gain.min()), vmax=max(1, gain.max()), aspect="auto")
    for i in range(len(conditions)):
        for j in range(len(ms)):
            ax.text(j, i, f"{round(gain[i, j]):+d}\n({accuracy[i, j]:.0f} %)", ha="center", va="center", fontsize=7,
                    color="white" if gain[i, j] < 0.6 * max(1, gain.max()) else "black")
    ax.set(xticks=range(len(ms)), xticklabels=[f"m = {m}" for m in ms], yticks=range(len(conditions)),
           yticklabels=[SHARE_CONDITIONS[c] for c in conditions])
    ax.tick_params(labelsize=8)
    ax.set_title("points gained over the student's own untrained start\n(its test accuracy in brackets; "
                 f"mean of {len(found[ms[0]]['all'][0])} seeds)", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.7).ax.tick_params(labelsize=7)
    return png(fig)


def ghost_figures(folder):
    """{file name: PNG} drawn from the ghost-logit JSON files in it."""
    import matplotlib.pyplot as plt

    figures = {}
    result = load(folder, "seeds.json", "ghost_logit")
    runs = result["groups"][0]["runs"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, color in (("same_init", "tab:blue"), ("cross_init", "tab:red")):
        accs = np.array([[h["test_acc"] for h in r["history"][name]] for r in runs]) * 100
        epochs = np.arange(1, accs.shape[1] + 1)
        ax.plot(epochs, accs.mean(axis=0), "o-", color=color, label=f"{name.replace('_', '-')} student")
        ax.fill_between(epochs, accs.min(axis=0), accs.max(axis=0), color=color, alpha=0.2)
    teacher = 100 * result["groups"][0]["summary"]["teacher"]["mean"]
    ax.axhline(teacher, color="k", ls="--", label=f"teacher ({teacher:.1f} %)")
    ax.axhline(10, color="gray", ls=":", label="chance")
    ax.set(xlabel="student epoch (noise images only)", ylabel="MNIST test accuracy (%)", ylim=(0, 100), xticks=epochs,
           title=f"Students trained only on the teacher's ghost logits ({len(runs)} seeds, min-max band)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    figures["accuracy_per_epoch.png"] = png(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    columns = (("same_init", "tab:blue", "same-init\nstudent"), ("untrained", "tab:gray", "untrained\n(shared init)"),
               ("cross_init_untrained", "tab:gray", "cross-init\nbefore training"),
               ("cross_init", "tab:red", "cross-init\nstudent"))
    offsets = np.linspace(-0.08, 0.08, len(runs))
    accs = {who: np.array([100 * r["metrics"][who]["test_acc"] for r in runs]) for who, _, _ in columns}
    for x, (who, color, _) in enumerate(columns):
        ax.scatter(x + offsets, accs[who], color=color, s=22, alpha=0.8)
    for offset, before, after in zip(offsets, accs["cross_init_untrained"], accs["cross_init"]):
        ax.plot([len(columns) - 2 + offset, len(columns) - 1 + offset], [before, after], color="tab:red",
                lw=0.5, alpha=0.4)  # one seed: the last two columns are its cross-init before and after
    ax.axhline(10, color="gray", ls=":", lw=1)
    ax.set(xticks=range(len(columns)), xticklabels=[label for _, _, label in columns], ylabel="test accuracy (%)",
           ylim=(0, 100), title=f"every test seed ({runs[0]['seed']}-{runs[-1]['seed']}): only a shared initialisation "
                                "learns from noise\n(each line joins one cross-init seed before and after its training)")
    ax.tick_params(axis="x", labelsize=8)
    ax.title.set_fontsize(9)
    figures["seed_distribution.png"] = png(fig)

    found = share_map(folder)
    if found:
        figures["share_map.png"] = share_map_figure(found)

    for name, label in existing(folder, GHOST_SWEEPS):
        groups = load(folder, name, "ghost_logit")["groups"]
        values = [str(g["sweep_value"]) for g in groups]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x = np.arange(len(values))
        for offset, (student, color) in zip((-0.2, 0.2), (("same_init", "tab:blue"), ("cross_init", "tab:red"))):
            means = [100 * g["summary"][student]["mean"] for g in groups]
            stds = [100 * g["summary"][student]["std"] for g in groups]
            ax.bar(x + offset, means, 0.4, yerr=stds, color=color, label=student.replace("_", "-"))
        ax.axhline(10, color="gray", ls=":")
        ax.set(xticks=x, xticklabels=values, xlabel=label, ylabel="test accuracy (%)", ylim=(0, 100))
        ax.legend(fontsize=8)
        figures[name.replace(".json", ".png")] = png(fig)
    return figures


# ----------------------------------------------------------------------------
# Subclass distillation
# ----------------------------------------------------------------------------

SUBCLASS_MAIN = [("seeds.json", "default recipe: best of 3 teachers"),
                 ("teachers1_seeds.json", "default recipe, one teacher (`--teachers 1`)"),
                 ("canonical_seeds.json", "the public numpy reproduction's recipe (`--preset canonical`)"),
                 ("unsupervised_seeds.json",
                  "control: no super-class label, one teacher (`--labels none --teachers 1`)"),
                 ("split01389-24567_seeds.json", "one teacher, split 01389/24567")]


def sweep_files(folder):
    """The sweep results in a folder's validation/ (validation_sweep_*.json), in name order, as paths from ``folder``."""
    validation = os.path.join(folder, VALIDATION_FOLDER)
    names = sorted(os.listdir(validation)) if os.path.isdir(validation) else []
    return [os.path.join(VALIDATION_FOLDER, name) for name in names if name.endswith(".json") and "_sweep_" in name]


def subclass_order(table):
    """Columns (clusters) reordered so that each digit's optimally assigned cluster is on the diagonal."""
    from subclass_distill import best_assignment
    return best_assignment(np.asarray(table))


def draw_contingency(ax, table, title, split):
    table = np.asarray(table)
    digits = [d for group in split for d in group]  # rows: super-class A's digits, then B's
    columns = subclass_order(table)
    shown = table[digits][:, [columns[d] for d in digits]]
    ax.imshow(shown / np.maximum(shown.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    for i in range(10):
        for j in range(10):
            if shown[i, j]:
                ax.text(j, i, str(shown[i, j]), ha="center", va="center", fontsize=5,
                        color="white" if shown[i, j] > 0.5 * shown[i].sum() else "black")
    ax.axhline(4.5, color="red", lw=1)
    ax.axvline(4.5, color="red", lw=1)
    ax.set(xticks=range(10), yticks=range(10), yticklabels=digits,
           xticklabels=[f"{columns[d]}" for d in digits], xlabel="cluster (sub-logit), matched order",
           ylabel="true digit")
    ax.set_title(title, fontsize=9)


def subclass_figures(folder):
    """{file name: PNG} drawn from the subclass JSON files in it."""
    import matplotlib.pyplot as plt
    from subclass_distill import parse_split

    figures = {}
    result = load(folder, "seeds.json", "subclass")
    group = result["groups"][0]
    runs = group["runs"]
    split = parse_split(result["groups"][0]["config"]["split"])
    run = runs[0]

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for ax, who in zip(axes, ("teacher", "student")):
        m = run["metrics"][who]
        draw_contingency(ax, m["contingency"], f"{who} (seed {run['seed']}): 1-to-1 recovery "
                         f"{pct(m['one_to_one'])} %, super acc {pct(m['super_acc'])} %", split)
    figures["contingency.png"] = png(fig)

    bars = [("chance", [r["baselines"]["chance"]["one_to_one"] for r in runs]),
            ("super-class\nonly", [r["baselines"]["super_only"]["one_to_one"] for r in runs]),
            ("k-means 5+5\n(pixels)", [r["baselines"]["kmeans"]["one_to_one"] for r in runs]),
            ("teacher", [r["metrics"]["teacher"]["one_to_one"] for r in runs]),
            ("student", [r["metrics"]["student"]["one_to_one"] for r in runs])]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(range(len(bars)), [100 * np.mean(v) for _, v in bars], yerr=[100 * np.std(v) for _, v in bars],
           color=["gray", "gray", "tab:olive", "tab:blue", "tab:green"])
    ax.set(xticks=range(len(bars)), xticklabels=[b for b, _ in bars], ylabel="1-to-1 subclass recovery (%)",
           ylim=(0, 100), title=f"Test-set digit recovery without digit labels ({len(runs)} seeds)")
    ax.title.set_fontsize(9)
    figures["accuracy_bars.png"] = png(fig)

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for r in runs:
        teacher, student = r["history"]["teacher"], r["history"]["student"]
        epochs = [h["epoch"] for h in teacher]
        axes[0].plot(epochs, [h["super_ce"] for h in teacher], color="tab:blue", alpha=0.6)
        axes[0].plot(epochs, [h["aux_loss"] for h in teacher], color="tab:orange", alpha=0.6)
        axes[1].plot(epochs, [100 * h["one_to_one"] for h in teacher], color="tab:blue", alpha=0.6)
        axes[1].plot([h["epoch"] for h in student], [100 * h["one_to_one"] for h in student],
                     color="tab:green", alpha=0.6)
        axes[2].plot([h["epoch"] for h in student], [h["distill_loss"] for h in student], color="tab:green",
                     alpha=0.6)
    axes[0].set(title="teacher: super-class CE (blue), aux loss (orange)", xlabel="epoch")
    axes[1].set(title="1-to-1 recovery: teacher (blue), student (green)", xlabel="epoch", ylabel="%",
                ylim=(0, 100))
    axes[2].set(title="student distillation loss", xlabel="epoch")
    for ax in axes:
        ax.title.set_fontsize(9)
    figures["training_curves.png"] = png(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    seeds = [r["seed"] for r in runs]
    for who, label, color, marker in (("student", "distilled student (no labels)", "tab:green", "o"),
                                      ("kmeans", "k-means 5+5 on pixels", "tab:olive", "s")):
        values = [100 * (r["metrics"]["student"] if who == "student" else r["baselines"]["kmeans"])["one_to_one"]
                  for r in runs]
        ax.plot(range(len(seeds)), values, marker=marker, ls="none", color=color, label=label, markersize=7)
    ax.set(xticks=range(len(seeds)), xticklabels=seeds, xlabel="seed", ylabel="1-to-1 recovery on the test set (%)",
           ylim=(0, 100), title="every seed: the student against clustering the pixels")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="lower right")
    figures["recovery_per_seed.png"] = png(fig)

    for name in sweep_files(folder):
        sweep = load(folder, name, "subclass")
        values = [str(g["sweep_value"]) for g in sweep["groups"]]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for who, color in (("teacher", "tab:blue"), ("student", "tab:green")):
            present = [(i, g["summary"][f"{who}_one_to_one"]) for i, g in enumerate(sweep["groups"])
                       if f"{who}_one_to_one" in g["summary"]]
            if present:
                ax.errorbar([i for i, _ in present], [100 * s["mean"] for _, s in present],
                            yerr=[100 * s["std"] for _, s in present], fmt="o-", color=color, label=who, capsize=3)
        ax.set(xticks=range(len(values)), xticklabels=values, xlabel=sweep["sweep"], ylabel="1-to-1 recovery (%)",
               ylim=(0, 100))
        ax.legend(fontsize=8)
        figures[name.replace(".json", ".png")] = png(fig)
    return figures


def validation_twin(config):
    """The same recipe's student recovery on the validation split: from the validation_*.json group
    with the most seeds whose settings equal ``config`` but for where it was evaluated; "-" if none."""
    def recipe(settings):
        return {k: v for k, v in settings.items() if k not in ("eval_on", "seed", "preset")}
    validation = os.path.join(SUBCLASS, VALIDATION_FOLDER)
    files = [name for name in sorted(os.listdir(validation)) if name.endswith(".json")]
    twins = [group for name in files for group in load(validation, name, "subclass")["groups"]
             if recipe(group["config"]) == recipe(config)]
    if not twins:
        return "-"
    group = max(twins, key=lambda g: len(g["runs"]))
    seeds = f"seeds {group['runs'][0]['seed']}-{group['runs'][-1]['seed']}"
    return f"{mean_std(group['summary']['student_one_to_one'])} ({seeds})"


def subclass_main_table(full=False):
    """The subclass reports, the default recipe's row first; ``full`` adds the teachers' super-class accuracy,
    the validation twin, any-mapping and the super-class-only baseline (the notes' table)."""
    header = ["recipe", "seeds"] + ["teacher super acc"] * full + ["teacher 1-to-1", "student 1-to-1",
                                                                  "student worst / best seed"]
    header += ["student 1-to-1 on validation", "student any-mapping"] * full + ["k-means 5+5 1-to-1"]
    header += ["super-class only"] * full + ["seconds per seed"]
    rows = table_head(header)
    for name, label in existing(SUBCLASS, SUBCLASS_MAIN):
        group = load(SUBCLASS, name, "subclass")["groups"][0]
        s, runs, default = group["summary"], group["runs"], name == "seeds.json"
        cells = [bold_if(default, label), str(len(runs))] + [mean_std(s.get("teacher_super_acc"))] * full
        cells += [mean_std(s["teacher_one_to_one"]), bold_if(default, mean_std(s["student_one_to_one"])),
                  f"{pct(s['student_one_to_one']['min'])} / {pct(s['student_one_to_one']['max'])}"]
        if full:
            cells += [validation_twin(group["config"]), mean_std(s["student_any_mapping"])]
        cells.append(mean_std(s["kmeans_one_to_one"]))
        cells += [pct(np.mean([r["baselines"]["super_only"]["one_to_one"] for r in runs]))] * full
        rows.append(markdown_row(cells + [f"{np.mean([sum(r['timings'].values()) for r in runs]):.0f}"]))
    return "\n".join(rows) + ("" if full else source_line("subclass", existing(SUBCLASS, SUBCLASS_MAIN)))


def subclass_headline():
    """The README's subclass result in prose, above its table."""
    s = summary_of(SUBCLASS, "seeds.json", "subclass")
    canonical = summary_of(SUBCLASS, "canonical_seeds.json", "subclass")
    return (f"The default recipe's student, which never sees a label, recovers **{mean_std(s['student_one_to_one'])} "
            f"%** of the test digits (worst seed {pct(s['student_one_to_one']['min'])} %). K-means on the pixels, "
            f"given the same super-class information, recovers {pct(s['kmeans_one_to_one']['mean'])} %, and the "
            f"public numpy reproduction's recipe {pct(canonical['student_one_to_one']['mean'])} %.")


def subclass_sweep_table():
    rows = ["| sweep | value | seeds | teacher super acc | teacher 1-to-1 | student 1-to-1 | student worst seed |",
            "|---|---|---|---|---|---|---|"]
    folder = SUBCLASS
    for name in sweep_files(folder):
        sweep = load(SUBCLASS, name, "subclass")
        for g in sweep["groups"]:
            s = g["summary"]
            rows.append(f"| {os.path.basename(name)[:-5]} | {g['sweep_value']} | {s['student_one_to_one']['n']} | "
                        f"{mean_std(s.get('teacher_super_acc'))} | {mean_std(s['teacher_one_to_one'])} | "
                        f"{mean_std(s['student_one_to_one'])} | "
                        f"{pct(s['student_one_to_one']['min'])} |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------
# Omitted-class dark knowledge
# ----------------------------------------------------------------------------

PAPER_ROW = None  # in a table's file list: the paper's own row
OMITTED_MAIN = [("seeds.json", "default recipe"), ("sweep_omit.json", "default recipe"),
                (PAPER_ROW, "the paper (Hinton et al. 2015)"),
                ("fast_seeds.json", "fast recipe (`--preset fast`)"),
                ("fast_sweep_omit.json", "fast recipe (`--preset fast`)"),
                ("public_seed0.json", "public numpy recipe (`--preset public`)")]
OMITTED_MORE = [("other/student40_seeds.json", "the default recipe with the student trained half as long"),
                ("other/keep78_seeds.json", "transfer set of only 7s and 8s")]
# The compression table: each test file with nothing omitted and which rows it gives (its validation twin is
# found by recipe, same_recipe).
OMITTED_COMPRESSION = [("other/omitnone_baseline_seeds.json", ("teacher", "baseline", "student")),
                       ("other/omitnone_seeds.json", ("student",)),
                       ("other/teacher200_omitnone_baseline_seeds.json", ("teacher", "student")),
                       ("compression_seeds.json", ("baseline", "student"))]  # the README's compression result
PAPER_ERRORS = {"teacher": 67, "baseline": 146, "student": 74}  # Hinton et al. 2015, §3
OMITTED_SWEEPS = [("sweep_omit.json", "omitted digit"), ("sweep_temperature.json", "temperature T"),
                  ("sweep_student_hidden.json", "student width"),
                  ("sweep_hard_weight.json", "hard-label weight")]


def errors(summary):
    return f"{summary['mean']:.1f} ± {summary['std']:.1f}"


# Hinton et al. 2015, §3, 3 omitted: the student's test errors, and those on the 1010 test 3s, before and after
# its 3-bias was raised by 3.5 (tuned on the test set); the last two are the lines every run is held to.
PAPER_OMITTED_3 = {"teacher": 67, "student": 206, "threes_wrong": 133, "offset": 3.5, "after": 109,
                   "threes_wrong_after": 14, "threes": 1010}
ERRORS_LINE = PAPER_OMITTED_3["after"]
OMITTED_LINE = round(1 - PAPER_OMITTED_3["threes_wrong_after"] / PAPER_OMITTED_3["threes"], 3)  # 98.6 %


def within_lines(scores):
    """How many of ``scores`` (each with "errors" and "omitted_acc") are at least as good as the paper's
    student after its correction on both counts."""
    return sum(a["errors"] <= ERRORS_LINE and a["omitted_acc"] >= OMITTED_LINE for a in scores)


def teacher_screen(config):
    """A run whose students trained one epoch screened its teacher: the students only finished the run."""
    return config["n_epochs_student"] == 1


def omitted_main_table(files, full=False):
    """One row per group of each of ``files`` ([(file name, label)], PAPER_ROW for the paper's own) in the
    omitted-class folder: test errors before and after the correction and how many seeds reach the paper's
    numbers, the default recipe's rows bold; ``full`` adds the teacher's epochs, the omitted digit correct
    before, the offsets, the worst seed and the test-tuned offset (the notes' table)."""
    within = f"seeds with ≤ {ERRORS_LINE} errors and ≥ {100 * OMITTED_LINE:g} %"
    header = (["recipe, omitted digit"] + ["teacher, epochs"] * full + ["seeds", "teacher errors", "student errors"]
              + ["omitted correct", "offset (train probe)"] * full + ["errors after", "omitted correct after"]
              + ["worst seed after: errors / omitted"] * full + [within] + ["test-tuned offset"] * full
              + ["seconds per seed"])
    rows = table_head(header)
    for name, label in files:
        if name is PAPER_ROW:
            p = PAPER_OMITTED_3
            cells = ([f"{label}, 3"] + ["2x1200, –"] * full + ["–", str(p["teacher"]), str(p["student"])]
                     + [f"{pct(1 - p['threes_wrong'] / p['threes'])} %", "–"] * full
                     + [str(p["after"]), f"{pct(OMITTED_LINE)} %"] + ["–"] * full + ["–"]
                     + [f"+{p['offset']:.2f}"] * full + ["–"])
            rows.append(markdown_row(cells))
            continue
        if not os.path.exists(os.path.join(OMITTED, name)):
            continue
        for group in load(OMITTED, name, "omitted_class")["groups"]:
            s, runs, c = group["summary"], group["runs"], group["config"]
            default = name in ("seeds.json", "sweep_omit.json")
            after = [r["metrics"]["student_corrected"] for r in runs]
            reached = within_lines(after)
            cells = ([bold_if(default, f"{label}, {''.join(map(str, c['omit']))}")]
                     + [f"2x{c['teacher_hidden']}, {c['n_epochs_teacher']} + {c['n_epochs_student']}"] * full
                     + [str(len(runs)), errors(s["teacher_errors"]), errors(s["student_errors"])]
                     + [f"{mean_std(s['student_omitted_acc'])} %", f"{s['offset']['mean']:+.2f}"] * full
                     + [bold_if(default, errors(s["corrected_errors"])),
                        bold_if(default, f"{mean_std(s['corrected_omitted_acc'])} %")]
                     + [f"{max(a['errors'] for a in after)} / {pct(min(a['omitted_acc'] for a in after))} %"] * full
                     + [f"{reached} of {len(runs)}"] + [f"{s['test_tuned_offset']['mean']:+.2f}"] * full
                     + [f"{seconds_per_seed(runs):.0f}"])
            rows.append(markdown_row(cells))
    shown = [(name, label) for name, label in files if name is not PAPER_ROW]
    return "\n".join(rows) + ("" if full else source_line("omitted_class", existing(OMITTED, shown)))


def intro():
    """The README's opening bullets: each result's number beside the paper's (or the nearest published one)."""
    sub = summary_of(SUBCLASS, "seeds.json", "subclass")
    omit = summary_of(OMITTED, "seeds.json", "omitted_class")
    compression = load(OMITTED, "compression_seeds.json", "omitted_class")["groups"][0]
    ghost = summary_of(GHOST, "seeds.json", "ghost_logit")
    return "\n".join([
        f"- **Subclass distillation** (Müller, Kornblith & Hinton 2020). A teacher that only sees \"0–4 or 5–9\" "
        f"grows 5 + 5 sub-logits. A student trained on them alone, never on a label, recovers "
        f"**{pct(sub['student_one_to_one']['mean'])} %** of the test digits; k-means on the pixels recovers "
        f"{pct(sub['kmeans_one_to_one']['mean'])} %.",
        f"- **Omitted-class dark knowledge** (Hinton, Vinyals & Dean 2015, §3). A student that never saw a 3 gets "
        f"**{pct(omit['corrected_omitted_acc']['mean'])} %** of the test 3s right after one bias correction fitted on "
        f"training images, with **{omit['corrected_errors']['mean']:.1f}** test errors in all. The paper's student "
        f"got {pct(OMITTED_LINE)} % with {ERRORS_LINE} errors, its correction tuned on the test set. With no digit "
        f"left out, a distilled "
        f"2×{compression['config']['student_hidden']} student makes {compression['summary']['student_errors']['mean']:.1f} "
        f"errors (the paper: {PAPER_ERRORS['student']}).",
        f"- **Ghost-logit subliminal learning** (Cloud et al. 2025). A student that starts from a teacher's initial "
        f"weights and only matches its 3 unused logits on random noise reaches **{pct(ghost['same_init']['mean'])} "
        f"%** on MNIST. From another initialisation it stays at chance ({pct(ghost['cross_init']['mean'])} %)."])


def omitted_headline():
    """The README's omitted-class result in prose, above its table."""
    groups = {name: load(OMITTED, name, "omitted_class")["groups"] for name in ("seeds.json", "sweep_omit.json")}
    s = groups["seeds.json"][0]["summary"]
    every = [r["metrics"]["student_corrected"] for g in groups["seeds.json"] + groups["sweep_omit.json"]
             for r in g["runs"]]
    reached = within_lines(every)
    others = " and ".join("".join(map(str, g["config"]["omit"])) for g in groups["sweep_omit.json"])
    return (f"With every 3 left out of its transfer set, the default student makes **{errors(s['corrected_errors'])}"
            f"** test errors and gets **{pct(s['corrected_omitted_acc']['mean'])} %** of the 3s right after the bias "
            f"correction. The paper's student made {ERRORS_LINE} errors and got {pct(OMITTED_LINE)} %. With 3, "
            f"{others} omitted, {reached} of {len(every)} runs do at least as well on both counts.")


CORRECTION_RULES = {  # each way of fitting the omitted-class offset: (colour, what it matches), for tables and figures
    "mass": ("tab:green", "mean p = frequency"),
    "count": ("tab:cyan", "share = frequency"),
    "margin": ("tab:blue", "share = (1 + margin) frequency")}


def omitted_correction_table(groups):
    """The ways of fitting the offset on training images, side by side, for every group of results
    whose runs record them (``groups``: omitted_groups; files made before the margin rule have "–"
    for it): errors and omitted digits correct after each, and how many seeds are within both lines
    (at most 109 errors, at least 98.6 % of the omitted digit); last, how many seeds some offset of
    the bias sweep would put within both, an offset tuned on the evaluated split itself (a
    diagnostic, not a rule: do the students know the digit?).  Teacher screens are left out."""
    rows = ["| file, split | seeds | omitted | teacher: omitted correct | "
            + " | ".join(f"{rule} rule: offset, errors after, omitted correct after" for rule in CORRECTION_RULES)
            + f" | seeds with ≤ {ERRORS_LINE} errors and ≥ {100 * OMITTED_LINE:g} % ({' / '.join(CORRECTION_RULES)})"
            " | reported | seeds within both at some offset of the sweep (tuned on this split) |",
            "|---" * (7 + len(CORRECTION_RULES)) + "|"]
    for name, _, group in groups:
        runs = group["runs"]
        if not runs or "by_rule" not in runs[0].get("bias", {}) or teacher_screen(group["config"]):
            continue
        cells, within = [], []
        for rule in CORRECTION_RULES:
            if rule not in runs[0]["bias"]["by_rule"]:
                cells.append("–")
                within.append("–")
                continue
            fits = [r["bias"]["by_rule"][rule] for r in runs]
            after = [f["metrics_after"] for f in fits]
            offset = np.mean([np.mean(f["offsets"]) for f in fits])
            cells.append(f"{offset:+.2f}, {errors(describe([a['errors'] for a in after]))}, "
                         f"{mean_std(describe([a['omitted_acc'] for a in after]))} %")
            within.append(within_lines(after))
        teacher = describe([r["metrics"]["teacher"]["omitted_acc"] for r in runs])
        reachable = sum(any(e <= ERRORS_LINE and a >= OMITTED_LINE
                            for e, a in zip(r["bias"]["sweep"]["errors"], r["bias"]["sweep"]["omitted_acc"]))
                        for r in runs)
        rows.append(f"| `{name}`, {group['config']['eval_on']} | {', '.join(str(r['seed']) for r in runs)} | "
                    f"{''.join(map(str, group['config']['omit']))} | {mean_std(teacher)} % | {' | '.join(cells)} | "
                    f"{' / '.join(map(str, within))} of {len(runs)} | {runs[0]['bias']['rule']} | "
                    f"{reachable} of {len(runs)} |")
    return "\n".join(rows)


def omitted_frontier_table(validation):
    """Seconds a seed against quality, one row per recipe screened on validation with the margin rule
    recorded (``validation``: omitted_groups' validation groups; teacher screens left out): every run's
    omitted digit, seed and rule-fitted correction pooled, the worst of them against the paper's lines."""
    recipes = {}
    for name, result, group in validation:
        c = group["config"]
        if teacher_screen(c) or "margin" not in group["runs"][0].get("bias", {}).get("by_rule", {}):
            continue
        key = (c["teacher_hidden"], c["n_epochs_teacher"], c["n_epochs_student"], c["batch_size"], c["lr"])
        recipes.setdefault(key, []).extend((r, c["omit"], result["environment"]["cpu"]) for r in group["runs"])
    rows = [f"| recipe: teacher, epochs (teacher + student), batch, lr | seeds | omitted | seconds a seed "
            f"(BLAS threads, CPU) | errors after, worst run | omitted correct after, worst run | runs with "
            f"≤ {ERRORS_LINE} errors and ≥ {100 * OMITTED_LINE:g} % |", "|---|---|---|---|---|---|---|"]
    for (hidden, epochs_teacher, epochs_student, batch, lr), runs in sorted(
            recipes.items(), key=lambda item: seconds_per_seed([r for r, _, _ in item[1]])):
        after = [r["bias"]["by_rule"]["margin"]["metrics_after"] for r, _, _ in runs]
        machines = sorted({f"{r['blas_threads']}, {cpu}" for r, _, cpu in runs})
        rows.append(f"| 2x{hidden}, {epochs_teacher} + {epochs_student}, {batch}, {lr:g} | "
                    f"{', '.join(sorted({str(r['seed']) for r, _, _ in runs}))} | "
                    f"{', '.join(sorted({''.join(map(str, omit)) for _, omit, _ in runs}))} | "
                    f"{seconds_per_seed([r for r, _, _ in runs]):.0f} ({'; '.join(machines)}) | "
                    f"{max(a['errors'] for a in after)} | {pct(min(a['omitted_acc'] for a in after))} % | "
                    f"{within_lines(after)} "
                    f"of {len(after)} |")
    return "\n".join(rows)


def compression_rows(folder):
    """(group, who) for each row of the compression table whose test file exists in ``folder``."""
    for name, who_list in OMITTED_COMPRESSION:
        if os.path.exists(os.path.join(folder, name)):
            group = load(folder, name, "omitted_class")["groups"][0]
            yield from ((group, who) for who in who_list)


def omitted_groups(folder):
    """(path from ``folder``, results, group) for every group of every omitted-class results file in ``folder``
    and its validation/ and other/ subfolders."""
    for sub in ("", VALIDATION_FOLDER, "other"):
        names = sorted(os.listdir(os.path.join(folder, sub))) if os.path.isdir(os.path.join(folder, sub)) else []
        for name in (os.path.join(sub, name) for name in names if name.endswith(".json")):
            result = load(folder, name, "omitted_class")
            yield from ((name, result, group) for group in result["groups"])


def compression_twins(validation):
    """(group, who, validation twin or None) for each row of the compression table; ``validation``:
    every (file name, results, group) of the validation files (omitted_groups)."""
    groups = [group for _, _, group in validation]
    return [(group, who, same_recipe([g for g in groups if f"{who}_errors" in g["summary"]], group["config"]))
            for group, who in compression_rows(OMITTED)]


def omitted_compression_table(table):
    """Nothing omitted: teacher, hard-label student and distilled student, validation beside test
    (``table``: compression_twins)."""
    seeds = sorted({r["seed"] for _, _, twin in table if twin for r in twin["runs"]})
    rows = [f"| network | paper (errors) | validation errors (seeds {', '.join(map(str, seeds)) or 'none run'}) | "
            "test errors, mean ± std | per seed (test) | test accuracy |", "|---|---|---|---|---|---|"]
    for group, who, twin in table:
        s, runs, c = group["summary"], group["runs"], group["config"]
        hard = f", hard-label weight {c['hard_weight']:g}" if c["hard_weight"] else ""
        label = {"teacher": (f"teacher 2x{c['teacher_hidden']}, {teacher_augmentation(c)}, dropout "
                             f"{c['teacher_dropout']}, {c['n_epochs_teacher']} epochs"),
                 "baseline": f"student 2x{c['student_hidden']}, hard labels only, {c['n_epochs_student']} epochs",
                 "student": (f"student 2x{c['student_hidden']}, distilled at T = {c['temperature']:g}{hard}, "
                             f"transfer jitter {c['transfer_jitter']}, {c['n_epochs_student']} epochs, "
                             f"from the {c['n_epochs_teacher']}-epoch teacher")}[who]
        per_seed = ", ".join(str(r["metrics"][who]["errors"]) for r in runs)
        key = who + "_errors"
        validation = errors(twin["summary"][key]) if twin else "-"
        rows.append(f"| {label} | {PAPER_ERRORS[who]} | {validation} | **{errors(s[key])}** | {per_seed} | "
                    f"{mean_std(s[who + '_acc'])} % |")
    return "\n".join(rows)


def same_recipe(groups, config):
    """The validation group run with the recipe of ``config`` (all but seed, evaluation split and
    baseline alike), or None: a validation number stands beside a test number only if it is its twin."""
    ignore = {"seed", "eval_on", "baseline"}
    return next((g for g in groups if {k: v for k, v in g["config"].items() if k not in ignore}
                 == {k: v for k, v in config.items() if k not in ignore}), None)


def teacher_augmentation(config):
    """How the teacher's training images were moved: '±2 px jitter', or with rotation."""
    rotate = config.get("rotate", 0)
    return f"±{config['jitter']} px shift, ±{rotate:g}° rotation" if rotate else f"±{config['jitter']} px jitter"


def omitted_validation_table(validation, table):
    """The recipes compared on the validation split: every group of every validation_*.json (but those
    with a compression-table recipe, shown beside its test numbers; ``table``: compression_twins);
    with nothing omitted, the omitted-class columns are '-'; a teacher screen has its teacher columns only."""
    rows = ["| recipe (on the validation split) | seeds | omitted | teacher: width, epochs, dropout in / hidden, "
            "max-norm, rotation | student: T, hard weight, transfer jitter, epochs | batch, lr | teacher errors | "
            "student errors | omitted correct | errors after | omitted correct after | teacher seconds |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    tested = [group["config"] for group, _, _ in table]
    for name, result, group in validation:
        if any(same_recipe([group], config) for config in tested):  # a twin, or a rerun of one
            continue
        c, s, runs = group["config"], group["summary"], group["runs"]
        label = (f"{c['preset']}, {result['sweep']} = {group['sweep_value']}" if result["sweep"]
                 else f"{c['preset']} (`{name}`)")
        screen = teacher_screen(c)
        label += " (teacher screen)" if screen else ""
        shown = {} if screen else s  # the student numbers shown
        student, after = (errors(shown[key]) if key in shown else "-" for key in ("student_errors", "corrected_errors"))
        correct, correct_after = (f"{mean_std(shown[key])} %" if key in shown else "-"
                                  for key in ("student_omitted_acc", "corrected_omitted_acc"))
        rows.append(f"| {label} | {', '.join(str(r['seed']) for r in runs)} | "
                    f"{''.join(map(str, c['omit'])) or 'none'} | 2x{c['teacher_hidden']}, {c['n_epochs_teacher']}, "
                    f"{c['input_dropout']:g} / {c['teacher_dropout']:g}, {c['max_norm'] or 'none'}, "
                    f"{c.get('rotate', 0):g}° | "
                    f"{c['temperature']:g}, {c['hard_weight']:g}, {c['transfer_jitter']}, "
                    f"{c['n_epochs_student']} | {c['batch_size']}, {c['lr']:g} | "
                    f"{errors(s['teacher_errors'])} | {student} | {correct} | {after} | {correct_after} | "
                    f"{np.mean([r['timings']['teacher_train_s'] for r in runs]):.0f} |")
    return "\n".join(rows)


def omitted_figures(folder):
    """{file name: PNG} drawn from the omitted-class JSON files in it."""
    import matplotlib.pyplot as plt

    figures = {}
    result = load(folder, "seeds.json", "omitted_class")
    group = result["groups"][0]
    runs, omitted = group["runs"], group["config"]["omit"]
    name = "/".join(map(str, omitted))

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for r in runs:  # the epochs that were scored (--eval-every)
        teacher = [h for h in r["history"]["teacher"] if "test_errors" in h]
        student = [h for h in r["history"]["student"] if "errors" in h]
        axes[0].plot([h["epoch"] for h in teacher], [h["test_errors"] for h in teacher], color="tab:blue", alpha=0.7)
        axes[0].plot([h["epoch"] for h in student], [h["errors"] for h in student], color="tab:green", alpha=0.7)
        axes[1].plot([h["epoch"] for h in student], [100 * h["omitted_acc"] for h in student], color="tab:red",
                     alpha=0.7)
        axes[1].plot([h["epoch"] for h in student], [100 * h["others_acc"] for h in student], color="tab:gray",
                     alpha=0.7)
    axes[0].set(xlabel="epoch", ylabel="test errors (of 10 000)", yscale="log",
                title="test errors: teacher (blue), distilled student (green)")
    axes[1].set(xlabel="student epoch", ylabel="test accuracy (%)",
                title=f"student: never-seen digit {name} (red), the other digits (gray)")
    for ax in axes:
        ax.title.set_fontsize(9)
    figures["training_curves.png"] = png(fig)

    run = runs[0]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = np.arange(10)
    for offset, who, label, color in ((-0.27, "teacher", "teacher", "tab:blue"),
                                      (0, "student", "student", "tab:orange"),
                                      (0.27, "student_corrected", "student after bias correction", "tab:green")):
        ax.bar(x + offset, [100 * a for a in run["metrics"][who]["per_class_acc"]], 0.27, color=color, label=label)
    for d in omitted:
        ax.axvspan(d - 0.5, d + 0.5, color="red", alpha=0.12)
    low = min(min(run["metrics"][w]["per_class_acc"]) for w in ("teacher", "student", "student_corrected"))
    ax.set(xticks=x, xlabel="test digit (shaded: omitted from the transfer set)", ylabel="accuracy (%)",
           ylim=(max(0, 100 * low - 3), 100.5), title=f"per-class test accuracy (seed {run['seed']})")
    ax.legend(fontsize=8, loc="lower right")
    figures["per_class.png"] = png(fig)

    bias = run["bias"]
    curve = bias["sweep"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    axes[0].plot(curve["offset"], [100 * a for a in curve["omitted_acc"]], color="tab:red", label=f"digit {name}")
    axes[0].plot(curve["offset"], [100 * a for a in curve["acc"]], color="k", label="all digits")
    axes[1].plot(curve["offset"], [sum(p) for p in curve["probe_mean_p"]], color="tab:purple",
                 label=f"mean p({name}) on the training probe")
    if "probe_share" in curve:
        axes[1].plot(curve["offset"], [sum(p) for p in curve["probe_share"]], color="tab:cyan",
                     label=f"share of the probe called {name}")
    axes[1].axhline(sum(bias["target_freq"]), color="gray", ls=":", label=f"frequency of {name} in training set")
    # Older files hold only the mass rule's offsets.
    fitted = {rule: fit["offsets"] for rule, fit in bias.get("by_rule", {"mass": bias}).items()}
    for ax in axes:
        for rule, (color, what) in CORRECTION_RULES.items():
            if rule in fitted:
                chosen = " (reported)" if bias.get("rule", "mass") == rule and len(fitted) > 1 else ""
                ax.axvline(np.mean(fitted[rule]), color=color, ls="--", label=f"{rule} rule: {what}{chosen}")
        ax.axvline(curve["test_tuned_offset"], color="tab:orange", ls=":", label="test-tuned (paper)")
        ax.set_xlabel(f"offset added to the student's logit for {name}")
        ax.legend(fontsize=7)
    axes[0].set(ylabel="test accuracy (%)", ylim=(max(0, 100 * min(curve["omitted_acc"]) - 5), 100.5))
    axes[1].set(ylabel="mean probability", yscale="log")
    fig.suptitle(f"bias correction (seed {run['seed']})", fontsize=9)
    figures["bias_sweep.png"] = png(fig)

    bars = []  # (label, errors summary, colour, paper), one per row of the compression table
    for group, who in compression_rows(folder):
        c = group["config"]
        label, colour = {
            "teacher": (f"teacher\n{c['n_epochs_teacher']} ep.", "tab:blue"),
            "baseline": (f"hard-label\nstudent\n{c['n_epochs_student']} ep.", "tab:gray"),
            "student": (f"distilled\nstudent\n{c['n_epochs_student']} ep.\nteacher {c['n_epochs_teacher']}",
                        "tab:green")}[who]
        bars.append((label, group["summary"][f"{who}_errors"], colour, PAPER_ERRORS[who]))
    if bars:
        fig, ax = plt.subplots(figsize=(1.1 * len(bars) + 1.5, 3.8))
        x = range(len(bars))
        ax.bar(x, [b[1]["mean"] for b in bars], yerr=[b[1]["std"] for b in bars], color=[b[2] for b in bars])
        ax.scatter(x, [b[3] for b in bars], marker="_", s=600, color="red", label="paper")
        ax.set_xticks(x, [b[0] for b in bars], fontsize=7)
        ax.set(ylabel="test errors (of 10 000)", title="all digits in the transfer set (--omit none)")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
        figures["compression.png"] = png(fig)

    for name, label in existing(folder, OMITTED_SWEEPS):
        groups = load(folder, name, "omitted_class")["groups"]
        values = [sweep_label(g["sweep_value"]) for g in groups]
        fig, (ax_acc, ax_err) = plt.subplots(1, 2, figsize=(10, 3.5))
        for key, who, color in (("student_omitted_acc", "before", "tab:orange"),
                                ("corrected_omitted_acc", "after bias correction", "tab:green")):
            ax_acc.errorbar(range(len(values)), [100 * g["summary"][key]["mean"] for g in groups],
                            yerr=[100 * g["summary"][key]["std"] for g in groups], fmt="o-", color=color,
                            capsize=3, label=who)
        for key, who, color in (("student_errors", "before", "tab:orange"),
                                ("corrected_errors", "after bias correction", "tab:green")):
            ax_err.errorbar(range(len(values)), [g["summary"][key]["mean"] for g in groups],
                            yerr=[g["summary"][key]["std"] for g in groups], fmt="o-", color=color, capsize=3,
                            label=who)
        ax_acc.set(ylabel="test accuracy on the omitted digit (%)")
        ax_err.set(ylabel="test errors, all digits")
        for ax in (ax_acc, ax_err):
            ax.set(xticks=range(len(values)), xticklabels=values, xlabel=label)
            ax.legend(fontsize=8)
        figures[name.replace(".json", ".png")] = png(fig)
    return figures


# ----------------------------------------------------------------------------
# README blocks
# ----------------------------------------------------------------------------


def seconds_per_seed(runs):
    """Mean wall seconds of a seed's run, from its timings (the omitted-class total is its parts)."""
    def total(timings):
        if "total_s" in timings:
            return timings["total_s"]
        parts = ("teacher_train_s", "student_s", "bias_s") if "teacher_train_s" in timings else timings
        return sum(timings[key] for key in parts)
    return np.mean([total(r["timings"]) for r in runs])


DEFAULT_REPORTS = [("subclass", "seeds.json"), ("omitted_class", "seeds.json"), ("ghost_logit", "seeds.json")]


def performance_summary(bench):
    """README's one performance table: each experiment's default report, seconds per seed, and numpy's epoch
    time over PyTorch's for each benchmark workload (``bench``: the benchmark's results), and its machine with
    what its environment set for OpenBLAS, as the benchmark's own table says it."""
    from bench_mlp import layer_names, openblas_env
    rows = ["| experiment, default recipe | seeds | seconds per seed | BLAS threads a run |", "|---|---|---|---|"]
    for name, file in DEFAULT_REPORTS:
        result = load(os.path.join(VIZ, name), file, name)
        runs = result["groups"][0]["runs"]
        threads = sorted({r["blas_threads"] for r in runs})
        rows.append(f"| {name} (`viz/{name}/{file}`) | {len(runs)} | {seconds_per_seed(runs):.0f} | "
                    f"{', '.join(map(str, threads))} |")
    rows += ["", "| workload | layers | batch | numpy s/epoch | PyTorch s/epoch | numpy / PyTorch |",
             "|---|---|---|---|---|---|"]
    for row in bench["workloads"]:
        torch = (f"{row['torch_s']:.2f} | {row['numpy_over_torch']:.2f}" if "torch_s" in row else "- | -")
        rows.append(f"| {row['workload']} | {layer_names(row)} | {row['batch']} | "
                    f"{row['numpy_s']:.2f} | {torch} |")
    env = bench["environment"]
    rows += ["", f"Benchmark machine: {env['cpu']}, {env['n_cpus']} cores, {env['blas']}, kernel {env['blas_core']} "
                 f"({openblas_env(env)}); PyTorch {bench['torch'] or 'not installed'}."]
    return "\n".join(rows)


def readme_blocks():
    """Every generated block of the README and the notes: {name: text}."""
    from bench_mlp import markdown_table
    bench = load(os.path.join(VIZ, "bench"), "bench_mlp.json")
    blocks = {"bench": markdown_table(bench), "performance": performance_summary(bench)}
    if all(os.path.exists(os.path.join(VIZ, name, "seeds.json")) for name in ("ghost_logit", "subclass", "omitted_class")):
        blocks["intro"] = intro()
    if os.path.exists(os.path.join(VIZ, "ghost_logit", "seeds.json")):
        blocks["ghost-headline"] = ghost_headline()
        blocks["ghost-main"] = ghost_main_table()
        blocks["ghost-full"] = ghost_main_table(full=True)
        blocks["ghost-sweeps"] = ghost_sweep_table(GHOST_SWEEPS)
        found = share_map(GHOST)
        if found:
            blocks["ghost-share"] = share_map_table(found)
            blocks["ghost-share-full"] = share_map_table(found, full=True)
        blocks["ghost-ltn"] = ltn_table(GHOST, LTN_RUNS)
        blocks["ghost-cnn"] = ghost_sweep_table(GHOST_CNN)
        blocks["ghost-cnn-report"] = ghost_cnn_report_table()
        blocks["ghost-ltn-report"] = ltn_table(GHOST, LTN_REPORT)
    if os.path.exists(os.path.join(VIZ, "subclass", "seeds.json")):
        blocks["subclass-headline"] = subclass_headline()
        blocks["subclass-main"] = subclass_main_table()
        blocks["subclass-full"] = subclass_main_table(full=True)
        blocks["subclass-sweeps"] = subclass_sweep_table()
    if os.path.exists(os.path.join(VIZ, "omitted_class", "seeds.json")):
        blocks["omitted-headline"] = omitted_headline()
        blocks["omitted-main"] = omitted_main_table(OMITTED_MAIN)
        blocks["omitted-full"] = omitted_main_table(OMITTED_MAIN, full=True)
        blocks["omitted-more"] = omitted_main_table(OMITTED_MORE, full=True)
        every = list(omitted_groups(OMITTED))  # each file read once
        validation = [(name, result, group) for name, result, group in every
                      if name.startswith(VALIDATION_FOLDER + os.sep)]
        table = compression_twins(validation)
        blocks["omitted-compression"] = omitted_compression_table(table)
        blocks["omitted-validation"] = omitted_validation_table(validation, table)
        blocks["omitted-correction"] = omitted_correction_table(every)
        blocks["omitted-frontier"] = omitted_frontier_table(validation)
    return blocks


def readme_block(text, name):
    """The text between <!-- name:start --> and <!-- name:end -->, or None."""
    match = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    return match and match.group(1).rstrip("\n")


def doc_files():
    """README.md and the notes files that exist: the files generated blocks may live in."""
    return [path for path in [README] + NOTES if os.path.exists(path)]


def update_readme():
    """Regenerate every block wherever it lives, README or notes (all of them first, so a bad results
    file changes nothing); a block must stand in exactly one file."""
    texts = {}
    for path in doc_files():
        with open(path) as f:
            texts[path] = f.read()
    for name, block in drawn("README tables", VIZ, readme_blocks).items():
        homes = [path for path, text in texts.items() if readme_block(text, name) is not None]
        if len(homes) != 1:
            where = ", ".join(os.path.relpath(p, ROOT) for p in homes) or "none of " + ", ".join(
                os.path.relpath(p, ROOT) for p in texts)
            raise ResultsError(f"block <!-- {name}:start --> must stand in exactly one file; it is in {where}")
        texts[homes[0]] = re.sub(rf"<!-- {name}:start -->\n.*?<!-- {name}:end -->",
                                 lambda _: f"<!-- {name}:start -->\n{block}\n<!-- {name}:end -->", texts[homes[0]],
                                 flags=re.S)
    write_all({path: text.encode() for path, text in texts.items()})


def check_writable(folder, suffix):
    """Before any drawing: ``folder`` takes new files, and nothing but a regular file (no folder, device,
    FIFO or socket) bears a ``suffix`` file's name in it (a missing ``folder`` is left to the loading,
    which says the results are missing)."""
    if not os.path.isdir(folder):
        return
    for name in sorted(os.listdir(folder)):
        kind = name.endswith(suffix) and special_file(os.path.join(folder, name))
        if kind:
            raise ResultsError(f"{os.path.join(folder, name)} is {kind}, where a {suffix} file would be written")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise ResultsError(f"cannot write into {folder}: {err.strerror}") from None


def write_all(files):
    """Write {path: bytes} all or nothing, and say each file written."""
    try:
        write_all_or_nothing(files)
    except OSError as err:
        where = err.filename or ", ".join(sorted({os.path.dirname(path) for path in files}))  # a full disk: no file
        raise ResultsError(f"cannot write {where}: {err.strerror}; nothing was written") from None
    for path in files:
        print(f"wrote {path}")


FIGURES = {"ghost_logit": ghost_figures, "omitted_class": omitted_figures, "subclass": subclass_figures}


def draw_sets(what, drawers, experiment, results, suffix):
    """Draw ``experiment``'s set of ``what`` (every experiment's, if none is named) with ``drawers``
    ({experiment: folder -> {file name: bytes}}) and write them all or nothing, each into its results folder."""
    folders = {name: results or os.path.join(VIZ, name) for name in ([experiment] if experiment else sorted(drawers))}
    for folder in folders.values():
        check_writable(folder, suffix)
    files = {}
    for name, folder in folders.items():
        drawn_set = drawn(what, folder, lambda: drawers[name](folder))
        files.update({os.path.join(folder, file): data for file, data in drawn_set.items()})
    write_all(files)


def main(argv=None):
    parser = Parser(description="Draw figures and README tables from the results JSON.")
    parser.add_argument("experiment", nargs="?", choices=sorted(FIGURES),
                        help="draw this experiment's figures (default: every experiment's, unless --readme alone)")
    parser.add_argument("--results", metavar="DIR",
                        help="folder of its results JSON, relative to the working directory "
                             "(default: viz/<experiment>)")
    parser.add_argument("--readme", action="store_true",
                        help="regenerate the tables of README.md and the notes files (viz/*/README.md) from the JSON")
    args = parser.parse_args(argv)
    if args.results and not args.experiment:
        parser.error("--results is one experiment's folder: name the experiment too")
    if args.readme:
        for path in doc_files():
            check_writable(os.path.dirname(path), ".md")
    if args.experiment or not args.readme:
        draw_sets("figures", FIGURES, args.experiment, args.results, ".png")
    if args.readme:
        update_readme()


if __name__ == "__main__":
    cli(main, ResultsError)
