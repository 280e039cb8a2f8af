"""The shared run layer: flags and presets, sweeps, bounds, output checks, strict JSON, environment."""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import ghost_logit_distill as gl
import omitted_class_distill as oc
import runs
import subclass_distill as sd
from conftest import ROOT

EXPERIMENTS = {"subclass_distill.py": sd, "ghost_logit_distill.py": gl, "omitted_class_distill.py": oc}


def test_save_json_is_all_or_nothing(tmp_path):
    path = tmp_path / "out" / "results.json"
    runs.save_json({"accuracy": 0.9}, str(path))
    assert json.loads(path.read_text()) == {"accuracy": 0.9}
    with pytest.raises(TypeError):
        runs.save_json({"accuracy": object()}, str(path))  # not serialisable
    with pytest.raises(runs.RunError, match="NaN or an infinity"):
        runs.save_json({"accuracy": float("nan")}, str(path))  # strict JSON only
    assert json.loads(path.read_text()) == {"accuracy": 0.9}   # the old file is untouched
    assert os.listdir(path.parent) == ["results.json"]          # and no temporary is left behind


def test_environment_record_is_this_interpreter_and_its_blas():
    env = runs.environment()
    blas = next(lib for lib in threadpool_info() if lib["user_api"] == "blas")
    assert env["python"] == platform.python_version() and env["numpy"] == np.__version__
    assert env["blas_threads"] == blas["num_threads"] and env["blas_core"] == blas["architecture"]
    assert env["n_cpus"] == os.cpu_count() and env["blas"].split()[0] in ("scipy-openblas", "openblas", "mkl",
                                                                        "accelerate", "blis", "?")


@pytest.mark.parametrize("script", sorted(EXPERIMENTS))
def test_help_shows_a_real_default_for_every_setting(script, monkeypatch):
    """Every flag that defines a run shows its default; a preset's value sits beside it."""
    module = EXPERIMENTS[script]
    monkeypatch.setenv("COLUMNS", "10000")  # no line wrap, which may break a preset's name at its hyphen
    text = module.PARSER.format_help()
    for action in module.PARSER._actions:
        if action.dest not in module.PARSER.not_config and action.option_strings and action.dest != "help" \
                and action.dest != "keep":
            assert action.default is not None, action.dest
    for name, overrides in module.PRESETS.items():
        for key, value in overrides.items():
            assert f"{name}: {value}" in " ".join(text.split()), (name, key)


def test_preset_fills_only_what_was_not_given():
    assert sd.parse_args([]).aux_weight == 2.0
    assert sd.parse_args(["--preset", "canonical"]).aux_weight == 1.0
    assert sd.parse_args(["--preset", "canonical", "--aux-weight", "3"]).aux_weight == 3.0
    assert gl.parse_args(["--preset", "reference"]).lr_student == 3e-4
    args = oc.parse_args(["--preset", "public", "--n-epochs-teacher", "5"])
    assert (args.n_epochs_teacher, args.n_epochs_student, args.lr_schedule) == (5, 20, "constant")


def test_sweep_values_are_read_by_the_flags_own_type_and_choices(capsys):
    assert gl.parse_args(["--loss", "mse", "--sweep", "normalize_logits=True,false"]).sweep == \
        ("normalize_logits", [True, False])
    assert sd.parse_args(["--sweep", "hidden=64,128"]).sweep == ("hidden", [64, 128])
    assert oc.parse_args(["--sweep", "omit=3,7 8,none"]).sweep == ("omit", [[3], [7, 8], ["none"]])
    for argv, message in ((["--loss", "mse", "--sweep", "normalize_logits=maybe"], "'maybe' is not true or false"),
                          (["--sweep", "noise=pink"],
                           "--noise must be one of uniform, gaussian, gaussian-wide, perlin, images, not 'pink'"),
                          (["--sweep", "out=a.json"], "--sweep needs KEY=V1,V2,..."),
                          (["--sweep", "help=1"], "--sweep needs KEY=V1,V2,...")):
        with pytest.raises(SystemExit):
            gl.parse_args(argv)
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gl.parse_args(["--sweep", "bogus=1"])
    keys = capsys.readouterr().err.split("KEY one of ")[1].split(" (see")[0].split(", ")
    assert "lr" in keys and not {"help", "out", "seed", "seeds", "jobs", "preset", "dataset"} & set(keys)


def test_bounds():
    assert runs.bound_problem(0, above=0) == "must be positive"
    assert runs.bound_problem(float("inf"), above=0) == "must be a finite number, not inf"
    assert runs.bound_problem(float("nan"), at_least=0) == "must be a finite number, not nan"
    assert runs.bound_problem(1.0, at_least=0, below=1) == "must be in [0, 1)"
    assert runs.bound_problem(9, at_least=0, at_most=8) == "must be <= 8"
    assert runs.bound_problem(8, at_least=0, at_most=8) is None


def test_derived_seeds_are_a_fixed_prefix():
    """Adding a use at the end never changes the seeds of the others (results stay reproducible)."""
    three = runs.derived_seeds(5, "a", "b", "c")
    four = runs.derived_seeds(5, "a", "b", "c", "d")
    assert (three.a, three.b, three.c) == (four.a, four.b, four.c) and len({four.a, four.b, four.c, four.d}) == 4


def test_output_path_is_checked_before_anything_runs(tmp_path):
    assert runs.check_out(str(tmp_path / "new" / "r.json")) == str(tmp_path / "new" / "r.json")
    assert (tmp_path / "new").is_dir() and not os.listdir(tmp_path / "new")
    for bad in ("", str(tmp_path) + os.sep, str(tmp_path)):
        with pytest.raises(runs.RunError, match="is not a file name"):
            runs.check_out(bad)
    (tmp_path / "file").write_text("x")
    for under_a_file in (tmp_path / "file" / "r.json", tmp_path / "file" / "sub" / "r.json"):
        with pytest.raises(runs.RunError, match=f"{tmp_path / 'file'} is a file, not a folder"):
            runs.check_out(str(under_a_file))


def test_output_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):  # tests may run as root, where a chmod would not stop the write
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(runs.tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(runs.RunError, match=r"cannot write in .* \(Permission denied\); choose another --out"):
        runs.check_out(str(tmp_path / "r.json"))


def test_divergence_stops_the_run():
    runs.check_finite("teacher", 1, 0.5, np.ones(3, np.float32))
    with pytest.raises(runs.RunError, match="the teacher diverged in epoch 4.*lower --lr"):
        runs.check_finite("teacher", 4, float("nan"), np.ones(3, np.float32))
    with pytest.raises(runs.RunError, match="student diverged in epoch 2"):
        runs.check_finite("student", 2, 0.5, np.array([1.0, np.inf], np.float32))


@pytest.mark.parametrize("script", sorted(EXPERIMENTS))
@pytest.mark.parametrize("flags, message", [
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--seeds", "0", "0"], "--seeds lists a seed twice"),
    (["--lr", "inf"], "--lr must be a finite number"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--jobs", "2", "--backend", "fooo"], "is not a joblib backend"),
])
def test_shared_bad_flags_are_one_line(script, flags, message, tmp_path):
    out = tmp_path / "r.json"
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), *flags, "--out", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr and not out.exists()
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_sweep_variants_copy_the_settings():
    args = argparse.Namespace(lr=1.0, sweep=("lr", [2.0, 3.0]))
    variants = runs.sweep_variants(args)
    assert [(v, a.lr) for v, a in variants] == [(2.0, 2.0), (3.0, 3.0)] and args.lr == 1.0


PARALLEL_TINY = {
    "subclass_distill.py": ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--hidden", "16"],
    "ghost_logit_distill.py": ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--hidden", "16",
                               "--n-noise", "1000"],
    "omitted_class_distill.py": ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--teacher-hidden", "16",
                                 "--student-hidden", "16", "--probe-size", "1000", "--no-cache", "--baseline"],
}


@pytest.mark.parametrize("script", sorted(PARALLEL_TINY))
def test_jobs_2_gives_the_results_of_jobs_1_at_the_workers_thread_count(script, tmp_path):
    from conftest import real_data_dir
    per_worker = max(1, (os.cpu_count() or 1) // 2)
    env = {**os.environ, "HINTON_DATA_DIR": real_data_dir("mnist")}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)
    flags = PARALLEL_TINY[script] + ["--seeds", "0", "1", "--quiet"]
    if script.startswith("omitted"):
        flags += ["--cache-dir", str(tmp_path / "teachers")]
    results = {}
    for jobs, extra_env in ((1, {"OPENBLAS_NUM_THREADS": str(per_worker)}), (2, {})):
        out = tmp_path / f"jobs{jobs}.json"
        done = subprocess.run([sys.executable, os.path.join(ROOT, script), *flags, "--jobs", str(jobs),
                               "--out", str(out)], capture_output=True, text=True, timeout=300,
                              env={**env, **extra_env})
        assert done.returncode == 0, done.stderr
        results[jobs] = json.loads(out.read_text())
    assert results[2]["environment"]["jobs"] == 2
    assert [r["blas_threads"] for r in results[2]["groups"][0]["runs"]] == [per_worker, per_worker]  # in force

    def comparable(value):
        if isinstance(value, dict):
            return {k: comparable(v) for k, v in value.items() if k not in ("timings", "wall_time_s", "environment")}
        return [comparable(v) for v in value] if isinstance(value, list) else value
    assert comparable(results[1]) == comparable(results[2])


@pytest.mark.parametrize("value, message", [("0", "--jobs must be >= 1"), ("-2", "--jobs must be >= 1"),
                                            ("1.5", "invalid int value: '1.5'")])
def test_bad_jobs_is_one_line_exit_2(value, message, tmp_path):
    out = tmp_path / "r.json"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "ghost_logit_distill.py"), "--jobs", value,
                             "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert not out.exists()


def test_one_blas_thread_per_worker_unless_the_user_says_otherwise(monkeypatch):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert [runs.blas_threads(jobs) for jobs in (1, 2, 8, 16)] == [8, 4, 1, 1]
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert runs.blas_threads(2) is None  # the user's setting wins


class Untouchable:
    """Stands in for the test split: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the test set was read ({name}) while choosing a recipe")

    def __len__(self):
        raise AssertionError("the test set was read (len) while choosing a recipe")

    def __array__(self, *args, **kwargs):
        raise AssertionError("the test set was read (as an array) while choosing a recipe")


@pytest.mark.parametrize("module, flags", [
    (sd, ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--hidden", "16", "--batch-size", "50"]),
    (gl, ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--hidden", "16", "--n-noise", "256"]),
])
def test_choosing_a_recipe_on_validation_never_reads_the_test_set(module, flags, monkeypatch, tmp_path):
    from conftest import fake_mnist
    from mnist_data import Dataset, with_validation

    def without_test_set(*args, evaluate_on=None, **kwargs):  # load_mnist splits as with_validation does
        data = fake_mnist()
        return with_validation(Dataset(data.x_train, data.y_train, Untouchable(), Untouchable()), evaluate_on)
    monkeypatch.setattr(module, "load_mnist", without_test_set)
    result = module.main(flags + ["--eval-on", "validation", "--seeds", "100", "--quiet",
                                  "--out", str(tmp_path / "r.json")])
    assert result["config"]["eval_on"] == "validation"
    with pytest.raises(AssertionError, match="the test set was read"):  # and the guard itself works
        module.main(flags + ["--quiet", "--out", str(tmp_path / "t.json")])


def living_parents():
    """{pid: parent pid} of every process that is running (not a zombie), read from /proc."""
    parents = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                state, parent = f.read().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if state != "Z":
            parents[int(entry)] = int(parent)
    return parents


def descendants(pid):
    """PIDs of every running process below ``pid``."""
    parents = living_parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_sigterm_stops_the_workers_too_and_writes_nothing(tmp_path):
    from conftest import real_data_dir
    env = {**os.environ, "HINTON_DATA_DIR": real_data_dir("mnist")}
    out = tmp_path / "r.json"
    run = subprocess.Popen([sys.executable, os.path.join(ROOT, "ghost_logit_distill.py"), "--seeds", "0", "1",
                            "--jobs", "2", "--n-epochs-teacher", "500", "--hidden", "16", "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert run.stdout.readline().startswith("[seed")  # the workers are running
    workers = descendants(run.pid)
    assert workers
    run.terminate()
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 1 and "Traceback" not in stderr and "stopped by signal 15" in stderr
    deadline = time.time() + 20
    while workers & set(living_parents()):
        assert time.time() < deadline, "workers still running after the parent was terminated"
        time.sleep(0.2)
    assert not out.exists()
