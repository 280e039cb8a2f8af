"""Nothing bad gets through: divergence, unwritable outputs, runaway sizes, damaged caches, malformed results,
special files where a file goes, a closed pipe and Ctrl-C each stop with one line, a non-zero exit and nothing
half-written."""

import importlib.util
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest

import ghost_logit_distill as gl
import make_gifs
import omitted_class_distill as oc
import runs
import subclass_distill as sd
import visualize
from conftest import ROOT, bad_input_message, fake_mnist, real_data_dir
from mnist_data import special_file

TINY = {
    "subclass_distill.py": (sd, ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--hidden", "16",
                                 "--batch-size", "50"]),
    "ghost_logit_distill.py": (gl, ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--hidden", "16",
                                    "--n-noise", "256", "--batch-size", "50"]),
    "omitted_class_distill.py": (oc, ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--teacher-hidden", "16",
                                      "--student-hidden", "16", "--batch-size", "50", "--probe-size", "200"]),
}


def run_script(script, flags, **kwargs):
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *flags], capture_output=True, text=True,
                          timeout=120, **kwargs)


def one_line_error(result):
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- 1. divergence -----------------------------------------------------------------------------


@pytest.mark.parametrize("script", sorted(TINY))
def test_divergence_stops_the_run_and_writes_nothing(script, monkeypatch, tmp_path):
    module, flags = TINY[script]
    monkeypatch.setattr(module, "load_mnist", fake_mnist)
    out, cache = tmp_path / "r.json", tmp_path / "teachers"
    extra = ["--cache-dir", str(cache)] if module is oc else []
    with pytest.raises(runs.RunError, match=r"the teacher( 1/3)? diverged in epoch 1 .*try a lower --lr"):
        module.main(flags + extra + ["--lr", "1e30", "--quiet", "--out", str(out)])
    assert not out.exists() and not (cache.exists() and os.listdir(cache))  # no results, no poisoned teacher


def test_divergence_is_one_line_from_the_command_line(tmp_path):
    out = tmp_path / "r.json"
    result = run_script("ghost_logit_distill.py", TINY["ghost_logit_distill.py"][1] + [
        "--lr-student", "1e30", "--quiet", "--out", str(out)], env={**os.environ,
                                                                   "HINTON_DATA_DIR": real_data_dir("mnist")})
    assert "same-init student diverged in epoch 1" in one_line_error(result) and result.returncode == 1
    assert not out.exists()


def test_cached_teacher_with_non_finite_parameters_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(oc, "load_mnist", fake_mnist)
    flags = TINY["omitted_class_distill.py"][1] + ["--cache-dir", str(tmp_path / "teachers"), "--quiet"]
    args = oc.parse_args(flags)
    config = oc.teacher_config(args, 0)
    net = oc.MLP(config["sizes"], seed=0)
    net.params[5] = np.nan
    oc.save_cached_teacher(oc.cache_path(args, config), config, oc.Teacher(net, [], 1.0, cached=False))
    with pytest.raises(oc.DataError, match="non-finite parameters.*--no-cache"):
        oc.main(flags + ["--out", str(tmp_path / "r.json")])
    assert not (tmp_path / "r.json").exists()


# --- 2. outputs are checked before any training ------------------------------------------------


@pytest.mark.parametrize("out, message", [
    ("/etc/passwd/x.json", "/etc/passwd is a file, not a folder"),
    ("{tmp}", "is not a file name"),
    ("{tmp}/some/dir/", "is not a file name"),
    ("", "is not a file name"),
])
def test_unwritable_out_is_found_before_training(out, message, tmp_path):
    result = run_script("subclass_distill.py", ["--out", out.format(tmp=tmp_path)])  # no data needed to fail
    assert message in one_line_error(result) and result.returncode == 1
    assert not os.path.exists(tmp_path / "some")


def read_only(folder):
    """The command prefix under which ``folder`` is really read-only: as root, a folder's mode alone does not
    stop writes, so the command runs without the capability that overrides it (setpriv); skipped without it."""
    os.chmod(folder, 0o555)
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("root writes into a read-only folder, and setpriv is not here to drop that right")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_read_only_out_folder_is_found_before_training(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    prefix = read_only(folder)
    result = subprocess.run([*prefix, sys.executable, os.path.join(ROOT, "subclass_distill.py"), "--out",
                             str(folder / "r.json")], capture_output=True, text=True, timeout=120)
    assert "cannot write" in one_line_error(result) and result.returncode == 1
    assert not os.listdir(folder)


# --- 3. runaway sizes and shifts ---------------------------------------------------------------


@pytest.mark.parametrize("script, flags, message", [
    ("omitted_class_distill.py", ["--jitter", "1000"], "--jitter must be <= 8"),
    ("subclass_distill.py", ["--jitter", "28"], "--jitter must be <= 8"),
    ("subclass_distill.py", ["--hidden", "10000000"], "--hidden must be <= 8192"),
    ("ghost_logit_distill.py", ["--n-ghost", "10000000"], "--n-ghost must be <= 1000"),
    ("ghost_logit_distill.py", ["--n-noise", "1000000000"], "--n-noise must be <= 600000"),
    ("omitted_class_distill.py", ["--temperature", "inf"], "--temperature must be a finite number"),
    ("omitted_class_distill.py", ["--weight-decay", "1"], "unrecognized arguments"),
    ("subclass_distill.py", ["--weight-decay", "inf"], "--weight-decay must be a finite number"),
    ("omitted_class_distill.py", ["--hard-weight", "inf"], "--hard-weight must be a finite number"),
    ("subclass_distill.py", ["--aux-weight", "inf"], "--aux-weight must be a finite number"),
    ("ghost_logit_distill.py", ["--loss", "mse", "--sweep", "normalize_logits=True,maybe"],
     "'maybe' is not true or false"),
])
def test_runaway_settings_are_refused_at_parse_time(script, flags, message, tmp_path):
    assert message in bad_input_message(script, flags, tmp_path)


# --- 4. (the loader's cache and folder cases are in test_mnist_data.py) ------------------------
# --- 5. malformed results for visualize.py and make_gifs.py ------------------------------------


def tiny_results(monkeypatch, folder):
    monkeypatch.setattr(gl, "load_mnist", fake_mnist)
    gl.main(TINY["ghost_logit_distill.py"][1] + ["--seeds", "0", "--quiet", "--out", str(folder / "seeds.json")])
    gl.main(TINY["ghost_logit_distill.py"][1] + ["--sweep", "n_ghost=2,3", "--quiet",
                                                 "--out", str(folder / "validation" / "validation_sweep_n_ghost.json")])


@pytest.mark.parametrize("content, message", [
    ("", "not a readable results file"),
    ('{"experiment": "ghost_logit", "groups": [', "not a readable results file"),
    ("not json", "not a readable results file"),
    ("[]", "a JSON list, not an object"),
    ('{"experiment": "subclass"}', "holds 'subclass' results, not 'ghost_logit' ones"),
    ('{"experiment": "ghost_logit"}', "lack what the figures need (KeyError: 'groups')"),
    ('{"experiment": "ghost_logit", "groups": 3}', "groups is 3, not a list"),
])
def test_malformed_results_are_one_line_and_no_figure_is_rewritten(content, message, monkeypatch, tmp_path):
    folder = tmp_path / "ghost_logit"
    tiny_results(monkeypatch, folder)
    (folder / "validation" / "validation_sweep_loss.json").write_text(content)  # a bad sweep file beside good ones
    with pytest.raises(visualize.ResultsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        visualize.main(["ghost_logit", "--results", str(folder)])
    assert not list(folder.rglob("*.png"))  # all or nothing: not even the good figures
    (folder / "seeds.json").write_text(content)
    with pytest.raises(visualize.ResultsError):
        make_gifs.main(["ghost_logit", "--results", str(folder)])
    assert not list(folder.glob("*.gif"))


def test_with_no_experiment_named_every_experiment_is_drawn_and_each_file_said(monkeypatch, tmp_path, capsys):
    viz = tmp_path / "viz"
    for script, (module, flags) in TINY.items():
        monkeypatch.setattr(module, "load_mnist", fake_mnist)
        extra = ["--cache-dir", str(tmp_path / "teachers"), "--eval-every", "1"] if module is oc else []
        module.main(flags + extra + ["--seeds", "0", "1", "--quiet", "--out",
                                     str(viz / module.EXPERIMENT.name / "seeds.json")])
    monkeypatch.setattr(visualize, "VIZ", str(viz))
    capsys.readouterr()
    visualize.main([])
    make_gifs.main([])
    said = capsys.readouterr().out.splitlines()
    for name in ("subclass", "omitted_class", "ghost_logit"):
        drawn = sorted(f for f in os.listdir(viz / name) if not f.endswith(".json"))
        assert any(f.endswith(".png") for f in drawn) and sum(f.endswith(".gif") for f in drawn) == 1, (name, drawn)
        assert {f"wrote {viz / name / f}" for f in drawn} <= set(said)


@pytest.mark.parametrize("script", ["visualize.py", "make_gifs.py"])
def test_a_results_folder_needs_its_experiment_named(script, tmp_path):
    result = run_script(script, ["--results", str(tmp_path)])
    assert "--results is one experiment's folder: name the experiment too" in one_line_error(result)
    assert result.returncode == 2 and not os.listdir(tmp_path)


def test_results_folder_is_relative_to_the_working_directory(monkeypatch, tmp_path):
    tiny_results(monkeypatch, tmp_path / "runs" / "ghost_logit")
    monkeypatch.chdir(tmp_path)
    visualize.main(["ghost_logit", "--results", os.path.join("runs", "ghost_logit")])
    assert (tmp_path / "runs" / "ghost_logit" / "accuracy_per_epoch.png").exists()
    result = subprocess.run([sys.executable, os.path.join(ROOT, "make_gifs.py"), "ghost_logit", "--results",
                             "ghost_logit"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "no such results file" in one_line_error(result) and not (tmp_path / "ghost_logit").exists()


def draw(script, folder, prefix=()):
    """Run visualize.py or make_gifs.py on a ghost-logit results folder, in a process of its own."""
    return subprocess.run([*prefix, sys.executable, os.path.join(ROOT, script), "ghost_logit", "--results",
                           str(folder)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLBACKEND": "Agg"})


def drawn_files(folder):
    """Every file below ``folder`` that is not a results file, as paths from it."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                  if not path.is_dir() and path.suffix != ".json")


@pytest.mark.parametrize("change, message", [
    (("same_init", "test_acc", "NaN"), "groups[0].runs[0].metrics.same_init.test_acc is nan, not a finite number"),
    (("same_init", "test_acc", "-Infinity"), "groups[0].runs[0].metrics.same_init.test_acc is -inf, not a finite"),
    (("same_init", "test_acc", '"high"'), 'groups[0].runs[0].metrics.same_init.test_acc is "high", not a number'),
    (("untrained", "confusion", '[[1, 2], [3, "4"]]'), 'metrics.untrained.confusion[1][1] is "4", not a finite'),
    (("teacher", "cka_to_teacher", '"0.9"'), 'metrics.teacher.cka_to_teacher is "0.9", not a number or null'),
])
def test_a_bad_value_in_a_results_file_is_one_line_naming_file_and_field(change, message, monkeypatch, tmp_path):
    network, key, value = change
    folder = tmp_path / "ghost_logit"
    tiny_results(monkeypatch, folder)
    result = json.loads((folder / "seeds.json").read_text())
    result["groups"][0]["runs"][0]["metrics"][network][key] = "@"
    (folder / "seeds.json").write_text(json.dumps(result).replace('"@"', value))
    for script in ("visualize.py", "make_gifs.py"):
        line = one_line_error(draw(script, folder))
        assert line.startswith(f"error: {folder / 'seeds.json'}: ") and message in line, line
        assert not drawn_files(folder)  # nothing drawn, not even from the good files beside it


@pytest.mark.parametrize("script, figure", [("visualize.py", "accuracy_per_epoch.png"),
                                            ("make_gifs.py", "student_learns_from_noise.gif")])
@pytest.mark.parametrize("make, kind", [(os.mkdir, "a folder"), (os.mkfifo, "a FIFO")])
def test_a_special_file_where_a_figure_goes_is_one_line_before_any_drawing(script, figure, make, kind, monkeypatch,
                                                                           tmp_path):
    folder = tmp_path / "ghost_logit"
    tiny_results(monkeypatch, folder)
    make(folder / figure)
    assert f"{folder / figure} is {kind}, where a" in one_line_error(draw(script, folder))
    assert set(drawn_files(folder)) <= {figure} and special_file(str(folder / figure)) == kind  # nothing drawn


@pytest.mark.parametrize("script", ["visualize.py", "make_gifs.py"])
def test_a_results_folder_that_cannot_be_written_is_one_line_and_nothing_written(script, monkeypatch, tmp_path):
    folder = tmp_path / "ghost_logit"
    tiny_results(monkeypatch, folder)
    before = sorted(os.listdir(folder))
    result = draw(script, folder, read_only(folder))
    os.chmod(folder, 0o755)
    assert f"cannot write into {folder}" in one_line_error(result) and result.returncode == 1
    assert sorted(os.listdir(folder)) == before


@pytest.mark.parametrize("named", [True, False])  # the error names the folder (mkstemp) or nothing (a write)
def test_a_figure_set_is_written_all_or_nothing(monkeypatch, tmp_path, named):
    """A failure while writing the set (the disk fills up at its second file) leaves none of it, no temporary,
    and the figure that was there before untouched; the message names where it failed."""
    import mnist_data
    (tmp_path / "a.png").write_bytes(b"old")
    real_mkstemp, calls = mnist_data.tempfile.mkstemp, []

    def mkstemp_filling_up(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", *([kwargs["dir"]] if named else []))
        return real_mkstemp(**kwargs)
    monkeypatch.setattr(mnist_data.tempfile, "mkstemp", mkstemp_filling_up)
    with pytest.raises(visualize.ResultsError, match=re.escape(f"cannot write {tmp_path}: No space left on device; "
                                                               "nothing was written")):
        visualize.write_all({str(tmp_path / "a.png"): b"new", str(tmp_path / "b.png"): b"b"})
    assert os.listdir(tmp_path) == ["a.png"] and (tmp_path / "a.png").read_bytes() == b"old"


@pytest.mark.parametrize("backend, package", [("dask", "distributed"), ("ray", "ray")])
def test_an_optional_backend_that_is_not_installed_is_refused_with_the_flags(backend, package, tmp_path):
    if importlib.util.find_spec(package):
        pytest.skip(f"{package} is installed here")
    line = bad_input_message("ghost_logit_distill.py", ["--jobs", "2", "--backend", backend], tmp_path)
    assert f"--backend {backend} needs" in line and "pip install" in line and package in line


def test_one_hidden_unit_trains_and_records_the_undefined_diagnostic_as_null(tmp_path):
    """A dead hidden layer makes CKA 0/0: the run is written all the same, CKA null, the table shows '–'."""
    out = tmp_path / "seeds.json"
    result = run_script("ghost_logit_distill.py", ["--hidden", "1", "--n-epochs-teacher", "1", "--n-epochs-student",
                                                   "1", "--n-noise", "512", "--quiet", "--seeds", "0", "--out",
                                                   str(out)], env={**os.environ, "HINTON_DATA_DIR":
                                                                   real_data_dir("mnist")})
    assert result.returncode == 0 and not result.stderr, result.stderr
    metrics = json.loads(out.read_text())["groups"][0]["runs"][0]["metrics"]
    assert any(m["cka_to_teacher"] is None for m in metrics.values())
    assert visualize.diagnostic_mean([0.5, None]) == "–" and visualize.diagnostic_mean([0.5, 0.7]) == "0.60"


# --- 6. special files: a device, a FIFO or a socket is never replaced, read or waited on --------


def special_node(path, kind):
    """A FIFO, or a character device (1, 7: the kernel's /dev/full), at ``path``; skipped where the machine
    does not allow mknod."""
    if kind == "a FIFO":
        os.mkfifo(path)
        return
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    except PermissionError as err:
        pytest.skip(f"this machine does not allow mknod ({err.strerror})")


@pytest.mark.parametrize("script", [*sorted(TINY), "bench_mlp.py"])
@pytest.mark.parametrize("kind, through_symlink", [("a FIFO", False), ("a device", False), ("a device", True)])
def test_out_naming_a_fifo_or_a_device_is_refused_before_anything_runs(script, kind, through_symlink, tmp_path):
    node = tmp_path / "node"
    special_node(node, kind)
    out = node
    if through_symlink:
        out = tmp_path / "link.json"
        out.symlink_to(node)
    result = run_script(script, ["--out", str(out)])  # the default recipe: refused long before it would train
    said = f"{'a symlink to ' if through_symlink else ''}{kind}"
    assert f"--out {out} is {said}, not a regular file" in one_line_error(result) and result.returncode == 1
    assert result.stdout == "" and special_file(str(node)) == kind and special_file(str(out)) == said
    assert sorted(os.listdir(tmp_path)) == sorted({"node", out.name})  # no data cache: nothing was even loaded


def test_a_teacher_cache_file_that_is_a_fifo_is_refused_before_training(tmp_path):
    flags = TINY["omitted_class_distill.py"][1] + ["--cache-dir", str(tmp_path / "teachers"), "--seeds", "0", "1"]
    args = oc.parse_args(flags)
    (tmp_path / "teachers").mkdir()
    fifo = oc.cache_path(args, oc.teacher_config(args, 1))
    os.mkfifo(fifo)
    line = bad_input_message("omitted_class_distill.py", flags, tmp_path)
    assert f"teacher cache {fifo} is a FIFO, not a regular file" in line and special_file(fifo) == "a FIFO"


BAD_RESULTS = {  # what seeds.json becomes: what the one line says
    "deeper than the parser goes": ("[" * 100_000 + "]" * 100_000, "not a readable results file (RecursionError"),
    "parsed, but deeper than the check's walk": ('{"experiment": "ghost_logit", "groups": [{"runs": ' + "[" * 950
                                                 + "]" * 950 + "}]}", "nested deeper than any results file"),
    "not UTF-8": (b'{"experiment": "\xff"}', "not a readable results file (UnicodeDecodeError"),
    "oversized": (None, "larger than any results file (at most 100 MB); not read"),
    "a FIFO": ("fifo", "a FIFO, not a results file"),
}


@pytest.mark.parametrize("content, message", BAD_RESULTS.values(), ids=BAD_RESULTS)
@pytest.mark.parametrize("script", ["visualize.py", "make_gifs.py"])
def test_a_results_file_too_deep_too_large_not_utf8_or_a_fifo_is_one_line_and_nothing_drawn(
        content, message, script, monkeypatch, tmp_path):
    folder = tmp_path / "ghost_logit"
    tiny_results(monkeypatch, folder)
    results = folder / "seeds.json"
    if content is None:
        os.truncate(results, 101 * 10 ** 6)  # sparse: no disk used
    elif content == "fifo":
        results.unlink()
        os.mkfifo(results)
    elif isinstance(content, bytes):
        results.write_bytes(content)
    else:
        results.write_text(content)
    line = one_line_error(draw(script, folder))
    assert line.startswith(f"error: {results}: ") and message in line and len(line) < 400, line
    assert not drawn_files(folder)


def test_output_piped_into_a_program_that_exits_is_one_line(tmp_path):
    out = tmp_path / "r.json"
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "ghost_logit_distill.py"),
                                *TINY["ghost_logit_distill.py"][1], "--out", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ,
                                                                       "HINTON_DATA_DIR": real_data_dir("mnist")})
    assert process.stdout.readline() == "-- seed 0\n"
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read()
    process.wait(timeout=60)
    assert process.returncode == 1 and stderr.strip() == ("stopped: the program reading the output has exited; "
                                                         "nothing was written")
    assert not out.exists()


# --- 7. Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_is_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "r.json"
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "ghost_logit_distill.py"), "--n-noise", "20000",
                                "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "HINTON_DATA_DIR": real_data_dir("mnist")},
                               # A runner started in the background passes SIGINT on as ignored; a user's shell does not.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout.readline() == "-- seed 0\n" and "teacher epoch 1/" in process.stdout.readline()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1 and stderr.strip() == "interrupted: nothing was written"
    assert not out.exists() and set(os.listdir(tmp_path)) <= {"cache"}  # the data cache only


# --- 8. determinism ----------------------------------------------------------------------------


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items()
                if k not in ("timings", "wall_time_s", "environment", "teacher_cached")}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


@pytest.mark.parametrize("script", sorted(TINY))
def test_same_seed_and_threads_give_the_same_results_file(script, monkeypatch, tmp_path):
    module, flags = TINY[script]
    monkeypatch.setattr(module, "load_mnist", fake_mnist)
    extra = ["--cache-dir", str(tmp_path / "teachers"), "--no-cache"] if module is oc else []
    first, second = (module.main(flags + extra + ["--seeds", "3", "4", "--quiet", "--out", str(tmp_path / name)])
                     for name in ("a.json", "b.json"))
    assert json.loads((tmp_path / "a.json").read_text())["environment"]["blas_threads"] >= 1
    assert without_timings(first) == without_timings(second)
