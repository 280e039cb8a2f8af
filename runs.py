"""Between the libraries and the experiments: flags, presets, sweeps, the one
seeds x sweep driver, and the results file.

    mnist_data.py   the loader            \\  neither imports the other
    mlp_numpy.py    the model and losses  /
    runs.py         this file: CLI, driver, results JSON, environment record
    *_distill.py    one experiment each: config, data, model, losses, training,
                    evaluation, run(args, seed, data, log), baseline (a part of
                    a seed that needs nothing from run), summarize
    visualize.py, make_gifs.py   figures and README tables from the JSON alone

An experiment hands ``main`` an ``Experiment`` (its parser and five functions);
``main`` parses the flags, checks the output path *before* any training, runs
every (sweep value, seed) pair (and its baseline, merged into its record),
summarises each sweep value's runs and writes one results file.  Its JSON
schema is the contract with the plotting scripts:

    {"experiment": name,
     "recipe_selection": {"protocol": PROTOCOL, "choices": text},  # how the default recipe was chosen
     "config": {setting: value},      # every flag that defines a run, incl. "seed" and "preset"
     "seeds": [int, ...],             # the seeds run for every sweep value
     "sweep": setting or null,        # the --sweep key
     "groups": [{                     # one per sweep value (one group without --sweep)
         "config": {...},             # that value's settings
         "sweep_value": value or null,
         "runs": [{"seed": int, "metrics": {...}, "history": {network: [per-epoch record]},
                   "timings": {"<part>_s": seconds}, ...}],      # one per seed, in --seeds order
         "summary": {number: {"mean", "std", "min", "max", "n"}},  # std with ddof = 0
         ...}],                       # plus what the experiment adds (group_extras)
     ...,                             # plus what the experiment adds (result_extras)
     "wall_time_s": float,
     "environment": {"python", "numpy", "blas", "blas_core", "blas_threads", "cpu", ...}}

Strict JSON: a NaN or infinity anywhere is an error, never written.  A diagnostic
that is undefined for a run (ghost-logit's ``cka_to_teacher`` of a network whose
hidden units are all dead) is null, and the tables show it as "–".
"""

import argparse
import importlib
import importlib.util
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
from typing import Callable, NamedTuple, Optional

import numpy as np

from mnist_data import DATASETS, ENV_VAR, DataError, Parser, special_file, write_atomically

RESULTS_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "viz")
VALIDATION_FOLDER = "validation"  # viz/<experiment>/validation/: the runs that chose the recipes
OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # what a machine's environment may set for OpenBLAS
BACKEND_PACKAGES = {"dask": ("dask", "distributed"), "ray": ("ray",)}  # the optional --backend choices, what they import
NOT_CONFIG = {"seeds", "sweep", "out", "quiet", "data_dir", "jobs", "backend"}  # how a run is made, not what


class RunError(Exception):
    """A problem that stops a run (bad output path, divergence), explained in one line."""


# ----------------------------------------------------------------------------
# Flags
# ----------------------------------------------------------------------------


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where there is none (None, or a switch that is off)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class ExperimentParser(Parser):
    """An experiment's flags, with real defaults in --help.

    ``add_argument`` also takes bounds (``above``, ``at_least``, ``below``,
    ``at_most``), checked after parsing for the run and for every ``--sweep``
    value, and ``config=False`` for a flag that changes how a run is reported
    but not its results.  ``presets`` are small named overrides of the
    defaults, e.g. ``{"canonical": {"aux_weight": 1.0}}``; a flag given
    explicitly wins over the preset, and --help lists each preset's values.
    """

    def __init__(self, doc, presets=None, seed_help="seed of every random draw in a run"):
        super().__init__(description=doc.split("\n\n")[0], allow_abbrev=False, formatter_class=HelpFormatter)
        self.presets = {"default": {}, **(presets or {})}
        self.not_config = set(NOT_CONFIG)
        self.exclusive = []  # pairs of flags that cannot both be given
        group = self.add_argument_group("runs, sweeps and output")
        group.add_argument("--preset", choices=list(self.presets), default="default",
                           help="a named recipe: changes the defaults marked with its name")
        bounded(group.add_argument("--seed", type=int, default=0, help=seed_help), at_least=0)
        bounded(group.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                                   help="run these seeds and summarise them (instead of --seed)"), at_least=0)
        group.add_argument("--sweep", metavar="KEY=V1,V2,...",
                           help="rerun for each value of one setting (KEY is a flag's name with _ for -, "
                                "e.g. lr=1e-3,3e-3; a value with several items: items separated by spaces)")
        group.add_argument("--dataset", default="mnist", choices=sorted(DATASETS), help="which dataset")
        group.add_argument("--data-dir", metavar="DIR", help=f"folder with the four IDX files "
                           f"(default: ${ENV_VAR}, then the per-user cache, then a download)")
        group.add_argument("--out", metavar="JSON", help="results file (default: viz/<experiment>/<run name>.json, "
                                                         "or viz/<experiment>/validation/... with --eval-on validation)")
        group.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
        bounded(group.add_argument("--jobs", type=int, default=1, metavar="N",
                                   help="run the (sweep value, seed) runs in N worker processes, each with "
                                        "cores // N BLAS threads; results are the same as with --jobs 1 at that "
                                        "thread count"), at_least=1, at_most=256)
        group.add_argument("--backend", default="loky", metavar="NAME",
                           help="joblib backend for --jobs: loky (local processes), dask (connects to "
                                "$DASK_SCHEDULER_ADDRESS, else a local cluster), ray, or any registered one")

    def add_argument(self, *flags, above=None, at_least=None, below=None, at_most=None, config=True, **kwargs):
        if "metavar" not in kwargs and kwargs.get("type") in (int, float):
            kwargs["metavar"] = "N" if kwargs["type"] is int else "X"
        action = bounded(super().add_argument(*flags, **kwargs), above, at_least, below, at_most)
        if not config:
            self.not_config.add(action.dest)
        return action

    def add_eval_on(self):
        """--eval-on validation|test: the protocol for choosing a recipe without touching the test set."""
        self.add_argument("--eval-on", choices=["test", "validation"], default="test",
                          help="what is measured: the test set (the report), or the 10,001 training images no "
                               "network trains on (choosing a recipe; the test set is then not even loaded)")

    def format_help(self):
        self._label_presets()
        return super().format_help()

    def parse(self, argv=None, check=lambda args: []):
        """Parse, apply the preset, turn ``--sweep KEY=V1,V2`` into (KEY, [values]) and
        check the run and every swept variant; any problem is one line and exit 2.
        ``check(args) -> [messages]`` adds the experiment's own rules."""
        args = self.parse_args(argv)
        unset = object()
        given = self.parse_args(argv, argparse.Namespace(**{a.dest: unset for a in self._actions}))
        for key, value in self.presets[args.preset].items():
            if getattr(given, key) is unset:
                setattr(args, key, value)
        problems = [f"give --{a.replace('_', '-')} or --{b.replace('_', '-')}, not both"
                    for a, b in self.exclusive if getattr(given, a) is not unset and getattr(given, b) is not unset]
        problems += self.problems(args, check)
        if args.backend != "loky":
            from joblib.parallel import BACKENDS
            if args.backend not in {*BACKENDS, *BACKEND_PACKAGES}:
                problems.append(f"--backend {args.backend!r} is not a joblib backend "
                                f"(choose from {', '.join(sorted({*BACKENDS, *BACKEND_PACKAGES}))})")
            missing = [name for name in BACKEND_PACKAGES.get(args.backend, ())
                       if importlib.util.find_spec(name) is None]
            if missing:
                problems.append(f"--backend {args.backend} needs {' and '.join(missing)}, which "
                                f"{'is' if len(missing) == 1 else 'are'} not installed: pip install {' '.join(missing)}")
        if args.seeds and len(set(args.seeds)) < len(args.seeds):
            problems.append(f"--seeds lists a seed twice ({' '.join(map(str, args.seeds))})")
        if args.sweep:
            try:
                args.sweep = self._parse_sweep(args.sweep)
            except ValueError as err:
                problems.append(str(err))
            else:
                for value, variant in sweep_variants(args):
                    problems += [f"--sweep {args.sweep[0]}={value}: {p}" for p in self.problems(variant, check)
                                 if p not in problems]
        if problems:
            self.error("; ".join(problems))
        return args

    def problems(self, args, check):
        """Every bound the settings break, then the experiment's own rules."""
        found = []
        for action in self._actions:
            bounds = getattr(action, "bounds", None)
            value = getattr(args, action.dest, None)
            if bounds and value is not None:
                for item in value if isinstance(value, list) else [value]:
                    message = bound_problem(item, **bounds)
                    if message:
                        found.append(f"{action.option_strings[0]} {message}")
                        break
        return found + check(args)

    def _parse_sweep(self, text):
        """'KEY=V1,V2' -> (KEY, [values]), each value converted by KEY's own flag (type, choices)."""
        key, _, values = text.partition("=")
        # a sweepable key is a config key (a flag with a value in args: not --help) that a sweep may vary
        actions = {a.dest: a for a in self._actions if a.option_strings and a.default is not argparse.SUPPRESS
                   and a.dest not in self.not_config and a.dest not in ("seed", "preset", "dataset")}
        if key not in actions or not values:
            raise ValueError(f"--sweep needs KEY=V1,V2,... with KEY one of {', '.join(sorted(actions))}")
        action = actions[key]
        converted = []
        for value in values.split(","):
            try:
                converted.append(convert(action, value))
            except argparse.ArgumentTypeError as err:  # read, but not one of the flag's choices
                raise ValueError(f"--sweep {key}={value}: {err}") from None
            except ValueError as err:  # not even read
                raise ValueError(f"--sweep {key}: {err}") from None
        return key, converted

    def _label_presets(self):
        """'(default: 2.0; canonical: 1.0)' on every flag that a preset changes."""
        for action in self._actions:
            changed = [f"; {name}: {values[action.dest]}" for name, values in self.presets.items()
                       if action.dest in values]
            if changed and "%(default)" not in action.help:
                action.help += f" (default: %(default)s{''.join(changed)})"


def bounded(action, above=None, at_least=None, below=None, at_most=None):
    """Attach bounds to an argparse action (see ``bound_problem``)."""
    bounds = {k: v for k, v in dict(above=above, at_least=at_least, below=below, at_most=at_most).items()
              if v is not None}
    if bounds:
        action.bounds = bounds
    return action


def bound_problem(value, above=None, at_least=None, below=None, at_most=None):
    """What is wrong with a number under these bounds (e.g. 'must be positive'), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, not {value}"
    if at_least is not None and below is not None and not at_least <= value < below:
        return f"must be in [{at_least:g}, {below:g})"
    if above is not None and not value > above:
        return "must be positive" if above == 0 else f"must be > {above:g}"
    if at_least is not None and not value >= at_least:
        return f"must be >= {at_least:g}"
    if below is not None and not value < below:
        return f"must be < {below:g}"
    if at_most is not None and not value <= at_most:
        return f"must be <= {at_most:g}"
    return None


def convert(action, text):
    """A swept value as its flag would read it: the flag's type, its nargs, its choices."""
    if action.nargs == 0:  # a switch: --flag / --no-flag
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{text!r} is not true or false")
        return text.lower() == "true"
    kind = action.type or str
    value = [kind(item) for item in text.split()] if action.nargs in ("+", "*") else kind(text)
    if action.choices is not None and value not in action.choices:
        choices = [str(c) for c in action.choices]
        listed = " or ".join(choices) if len(choices) == 2 else "one of " + ", ".join(choices)
        raise argparse.ArgumentTypeError(f"{action.option_strings[0]} must be {listed}, not {value!r}")
    return value


def sweep_variants(args):
    """[(swept value, the run's settings)] for each ``--sweep`` value, or [(None, args)]."""
    if not args.sweep:
        return [(None, args)]
    key, values = args.sweep
    return [(value, argparse.Namespace(**{**vars(args), key: value})) for value in values]


def derived_seeds(seed, *uses):
    """One independent seed per named use, all drawn from ``--seed`` (so the order of
    ``uses`` fixes which seed is which): ``derived_seeds(0, "teacher", "data").teacher``."""
    return argparse.Namespace(**dict(zip(uses, np.random.default_rng(seed).integers(2 ** 31, size=len(uses)))))


# ----------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------


PROTOCOL = ("Every recipe choice is made on the validation split (10,001 training images that are never trained on; "
            "--eval-on validation, which does not load the test set) with seeds 100 and up; the test set is for one "
            "report, on seeds 0-4. See the README.")


class Experiment(NamedTuple):
    """What an experiment script hands to ``main``."""
    name: str                              # results go to viz/<name>/
    recipe_selection: str                  # which validation runs chose the default recipe (see PROTOCOL)
    parser: ExperimentParser               # its flags, defaults and presets
    parse_args: Callable                   # argv -> args (parser.parse with the experiment's own checks)
    load_data: Callable                    # args -> mnist_data.Dataset (called once per sweep value)
    run: Callable                          # (args, seed, data, log) -> one run's record
    summarize: Callable                    # [run records] -> {number: describe(values)}
    headline: Callable                     # summary -> one log line
    out_name: Callable                     # args -> default results file name
    group_extras: Optional[Callable] = None   # (args, runs, data) -> more keys for each group
    result_extras: Optional[Callable] = None  # (args, data) of the first group -> more keys for the file
    # A part of each run that needs nothing from ``run`` (a baseline): (args, seed, data, log) -> keys
    # for the run's record; --jobs makes it a task of its own, so that it fills a worker left idle.
    baseline: Optional[Callable] = None
    wants_baseline: Callable = lambda args: True  # args -> whether these settings ask for the baseline


def main(experiment, argv=None):
    """Parse, run every (sweep value, seed), summarise, write the results file; returns the results."""
    args = experiment.parse_args(argv)
    log = (lambda message: None) if args.quiet else (lambda message: print(message, flush=True))
    out = check_out(args.out if args.out is not None else default_out(experiment, args))
    started = time.perf_counter()
    seeds = args.seeds or [args.seed]
    variants = sweep_variants(args)
    threads = blas_threads(args.jobs)
    datasets = [experiment.load_data(variant) for _, variant in variants] if args.jobs == 1 else None
    if args.jobs == 1:
        records = []
        for (value, variant), data in zip(variants, datasets):
            if args.sweep:
                log(f"== {args.sweep[0]} = {value}")
            for seed in seeds:
                log(f"-- seed {seed}")
                record = run_task(experiment, "run", variant, seed, data, threads, log)
                if has_baseline(experiment, variant):
                    with_baseline(record, run_task(experiment, "baseline", variant, seed, data, threads, log))
                records.append(record)
    else:
        records = parallel_runs(experiment, args, variants, seeds, threads)
    groups, extras = [], {}
    for i, (value, variant) in enumerate(variants):
        group_records = records[i * len(seeds):(i + 1) * len(seeds)]
        group = {"config": run_config(variant, experiment.parser), "sweep_value": value, "runs": group_records,
                 "summary": experiment.summarize(group_records)}
        if experiment.group_extras or (experiment.result_extras and i == 0):  # images for the figures
            data = datasets[i] if datasets else experiment.load_data(variant)
            if experiment.result_extras and i == 0:
                extras = experiment.result_extras(variant, data)
            if experiment.group_extras:
                group.update(experiment.group_extras(variant, group_records, data))
        groups.append(group)
        log(f"{f'{args.sweep[0]} = {value}: ' if args.sweep else ''}{experiment.headline(group['summary'])} "
            f"over {len(seeds)} seed(s)")
    with blas_limit(threads):
        env = {**environment(), "jobs": args.jobs}
    result = {"experiment": experiment.name,
              "recipe_selection": {"protocol": PROTOCOL, "choices": experiment.recipe_selection},
              "config": run_config(args, experiment.parser), "seeds": seeds,
              "sweep": args.sweep[0] if args.sweep else None, "groups": groups, **extras,
              "wall_time_s": time.perf_counter() - started, "environment": env}
    save_json(result, out)
    log(f"wrote {out} ({result['wall_time_s']:.1f} s)")
    return result


def default_out(experiment, args):
    """viz/<experiment>/<run name>, or viz/<experiment>/validation/<run name> for a run that chooses a recipe
    (--eval-on validation): the top of a results folder holds the reports only."""
    split = [VALIDATION_FOLDER] if getattr(args, "eval_on", "test") == "validation" else []
    return os.path.join(RESULTS_ROOT, experiment.name, *split, experiment.out_name(args))


def run_task(experiment, part, variant, seed, data, threads, log):
    """One run (``part`` "run") or its baseline ("baseline"), here or in a worker, with the BLAS
    pinned to ``threads`` (None: as the environment says)."""
    with blas_limit(threads):
        # Overflow on the way to divergence is reported once, by check_finite, not by numpy per op.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            record = getattr(experiment, part)(variant, seed, data, log)
        record["blas_threads"] = blas_info().get("num_threads")
    return record


def has_baseline(experiment, args):
    return experiment.baseline is not None and experiment.wants_baseline(args)


def with_baseline(record, baseline):
    """``record`` with its baseline's keys added (a dict such as "timings" or "metrics": merged)."""
    for key, value in baseline.items():
        record[key] = {**record[key], **value} if isinstance(value, dict) and key in record else value
    return record


def worker_task(module, part, variant, seed, threads, tag, quiet):
    """A run or a baseline in a worker process: the experiment is imported by name and loads its
    own data (cheaper than shipping arrays); progress lines carry the task's tag."""
    experiment = importlib.import_module(module).EXPERIMENT
    log = (lambda message: None) if quiet else (lambda message: print(f"[{tag}] {message}", flush=True))
    return run_task(experiment, part, variant, seed, experiment.load_data(variant), threads, log)


def parallel_runs(experiment, args, variants, seeds, threads):
    """Every (sweep value, seed) run through joblib, in --jobs workers; results in task order.  The
    baselines queue after all the runs, so that they fill the last round's idle workers."""
    import joblib
    if args.backend == "dask":
        from dask.distributed import Client
        Client(os.environ.get("DASK_SCHEDULER_ADDRESS"))  # joblib's dask backend uses the current client
    elif args.backend == "ray":
        from ray.util.joblib import register_ray
        register_ray()
    module = experiment.run.__module__
    if module == "__main__":  # run as a script: workers import it by its file name
        module = os.path.splitext(os.path.basename(sys.modules["__main__"].__file__))[0]
    pairs = [(value, variant, seed) for value, variant in variants for seed in seeds]
    tags = [f"{args.sweep[0]}={value} seed {seed}" if args.sweep else f"seed {seed}" for value, _, seed in pairs]
    tasks = [joblib.delayed(worker_task)(module, "run", variant, seed, threads, tag, args.quiet)
             for (_, variant, seed), tag in zip(pairs, tags)]
    baselines = [i for i, (_, variant, _) in enumerate(pairs) if has_baseline(experiment, variant)]
    tasks += [joblib.delayed(worker_task)(module, "baseline", pairs[i][1], pairs[i][2], threads,
                                          f"{tags[i]} baseline", args.quiet) for i in baselines]
    # A SIGTERM (a scheduler's kill) becomes an exception, so that joblib stops the workers too.
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        with joblib.parallel_config(backend=args.backend, n_jobs=args.jobs):
            records = joblib.Parallel()(tasks)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.backend == "loky":  # stop the idle workers now rather than at exit
        from joblib.externals.loky import get_reusable_executor
        get_reusable_executor().shutdown(wait=True)
    for i, baseline in zip(baselines, records[len(pairs):]):
        with_baseline(records[i], baseline)
    return records[:len(pairs)]


def stop_on_sigterm(signum, frame):
    """SIGTERM's handler during --jobs runs: exit through an exception, which joblib answers by
    terminating its workers (the default action would leave them running)."""
    raise SystemExit(f"stopped by signal {signum}; the workers were stopped and nothing was written")


def blas_threads(jobs):
    """BLAS threads per run: what the user set (OPENBLAS/OMP/MKL_NUM_THREADS) always wins; else
    cores // jobs.  (A single run on all cores was measured faster than on one for every
    experiment's networks, the 784-256-10 subclass pair included: see the README.)"""
    if any(os.environ.get(var) for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        return None
    return max(1, (os.cpu_count() or 1) // jobs)


def blas_limit(threads):
    from threadpoolctl import threadpool_limits
    return threadpool_limits(threads, user_api="blas")


def run_config(args, parser):
    """The settings that define a run (everything but where and how it is reported)."""
    return {k: v for k, v in vars(args).items() if k not in parser.not_config}


def describe(values):
    """Mean, std (ddof=0), min, max and count of one number over seeds."""
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
            "max": float(values.max()), "n": len(values)}


def check_finite(network, epoch, loss, params):
    """Stop the run (RunError) the epoch a loss or a parameter stops being a finite number."""
    if not (math.isfinite(loss) and np.isfinite(params).all()):
        raise RunError(f"the {network} diverged in epoch {epoch} (loss {loss}, non-finite values); "
                       "nothing was written: try a lower --lr")


# ----------------------------------------------------------------------------
# Results files
# ----------------------------------------------------------------------------


def check_out(path):
    """The results path, checked before any training: it is a file name, nothing but a regular file
    stands there (a run never replaces a device such as /dev/null, a FIFO or a socket), and its folder
    is created and takes the temporary file the results are written to first."""
    if not path or path.endswith(os.sep) or os.path.isdir(path):
        raise RunError(f"--out {path!r} is not a file name: give a path ending in .json")
    kind = special_file(path)
    if kind:
        raise RunError(f"--out {path} is {kind}, not a regular file: a run never replaces one; choose another --out")
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise RunError(f"--out {path}: {existing} is a file, not a folder; choose another --out")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".partial"):
            pass  # the name write_atomically will use: a name too long fails here, not after training
    except OSError as err:
        raise RunError(f"--out {path}: cannot write in {folder} ({err.strerror}); choose another --out") from None
    return path


def save_json(result, path):
    """Write a results file atomically and as strict JSON (a NaN is an error, not a value)."""
    try:
        text = json.dumps(result, indent=1, allow_nan=False)
    except ValueError:
        raise RunError(f"not writing {path}: the results hold a NaN or an infinity") from None
    try:
        write_atomically(path, text.encode())
    except OSError as err:  # check_out found it writable, but the disk filled up or the path changed since
        raise RunError(f"cannot write {err.filename or path}: {err.strerror}; nothing was written") from None


def environment():
    """Python, numpy, the BLAS (library, kernel, threads: results change in the 8th digit
    between 1 and 2 threads) and the CPU: goes into every results file."""
    blas = blas_info()
    build = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"python": platform.python_version(), "numpy": np.__version__,
            "blas": f"{build.get('name', '?')} {build.get('version', '?')}",
            "blas_core": blas.get("architecture"), "blas_threads": blas.get("num_threads"),
            **{name: os.environ.get(name) for name in OPENBLAS_ENV}, "cpu": cpu, "n_cpus": os.cpu_count(),
            "platform": platform.platform()}


def blas_info():
    """threadpoolctl's record of the BLAS in use (kernel, threads), or {} if there is none."""
    from threadpoolctl import threadpool_info
    return next((lib for lib in threadpool_info() if lib["user_api"] == "blas"), {})


def cli(main_function, *errors):
    """Run a script's main: a known problem (DataError, RunError, ``errors``), Ctrl-C or a closed
    output pipe is one line on stderr and a non-zero exit, never a traceback."""
    try:
        main_function()
    except (DataError, RunError, *errors) as err:
        sys.exit(f"error: {err}")
    except KeyboardInterrupt:
        sys.exit("interrupted: nothing was written")
    except BrokenPipeError:  # its output piped into a program that has stopped reading (head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit's flush is silent
        sys.exit("stopped: the program reading the output has exited; nothing was written")
