"""Omitted-class distillation: bias-offset search, transfer set, teacher cache, CLI errors, end to end, real data."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import make_gifs
import mlp_numpy as mn
import omitted_class_distill as oc
import runs
import visualize
from conftest import ROOT, bad_input_message, fake_mnist, real_data_dir
from mnist_data import DataError, Dataset

RNG = np.random.default_rng(9)


def test_offset_search_hits_the_target_frequency_and_undoes_a_lowered_bias():
    logits = RNG.standard_normal((2000, 10)) * 3
    frequency = mn.softmax(logits).mean(axis=0)[4]
    lowered = logits.copy()
    lowered[:, 4] -= 3.0  # a model whose bias for class 4 is 3 too low
    offsets = oc.fit_offsets(lowered, [4], [frequency])
    assert offsets == pytest.approx([3.0], abs=1e-6)
    assert oc.mean_probs(lowered, [4], offsets) == pytest.approx([frequency], abs=1e-8)
    # Any reachable target, not only the original one.
    assert oc.mean_probs(lowered, [4], oc.fit_offsets(lowered, [4], [0.5])) == pytest.approx([0.5], abs=1e-6)


def test_vector_offset_search_solves_two_classes_jointly():
    logits = RNG.standard_normal((2000, 10)) * 3
    classes = [2, 7]
    targets = mn.softmax(logits).mean(axis=0)[classes]
    lowered = logits.copy()
    lowered[:, classes] -= [2.0, 5.0]
    offsets = oc.fit_offsets(lowered, classes, targets)
    assert offsets == pytest.approx([2.0, 5.0], abs=1e-4)
    # Solving each class alone (the other left uncorrected) would not match both at once.
    alone = [oc.fit_offsets(lowered, [c], [t])[0] for c, t in zip(classes, targets)]
    assert np.abs(oc.mean_probs(lowered, classes, np.array(alone)) - targets).max() > 1e-3


def test_count_rule_gives_each_class_exactly_its_number_of_predictions():
    labels = RNG.integers(0, 10, 3000)
    logits = np.eye(10)[labels] * 4 + RNG.standard_normal((3000, 10)) * 1.5
    for classes, lowered_by in (([4], [3.0]), ([2, 7], [2.0, 5.0])):
        counts = np.bincount(labels, minlength=10)[classes]
        lowered = logits.copy()
        lowered[:, classes] -= lowered_by
        offsets = oc.fit_counts(lowered, classes, counts)
        assert list(oc.predicted_share(lowered, classes, offsets) * len(labels)) == list(counts)
        # The un-lowered model predicts each class about as often as it occurs: the offsets undo the lowering.
        assert offsets == pytest.approx(lowered_by, abs=0.3)
    none = oc.fit_counts(logits, [5], [0])
    assert oc.predicted_share(logits, [5], none)[0] == 0
    every = oc.fit_counts(logits, [5], [len(labels)])
    assert oc.predicted_share(logits, [5], every)[0] == 1


def test_margin_rule_calls_the_omitted_class_for_a_set_fraction_more_probe_images():
    labels = RNG.integers(0, 10, 3000)
    logits = (np.eye(10)[labels] * 4 + RNG.standard_normal((3000, 10)) * 1.5).astype(np.float32)
    logits[:, 3] -= 3.0  # a student that under-calls 3s
    student = mn.MLP([10, 10])  # any network: its predictions are replaced by the logits themselves
    student.predict_logits = lambda x: x
    bias = oc.correct_bias(student, Dataset(logits, labels, logits[:500], labels[:500]), [3], np.arange(3000),
                           "margin", 0.1)
    called = {rule: round(fit["probe_share_after"][0] * 3000) for rule, fit in bias["by_rule"].items()}
    threes = int((labels == 3).sum())
    assert called["count"] == threes and called["margin"] == round(1.1 * threes)
    assert bias["rule"] == "margin" and bias["offsets"] == bias["by_rule"]["margin"]["offsets"]
    assert bias["by_rule"]["margin"]["offsets"][0] > bias["by_rule"]["count"]["offsets"][0]


def test_bias_sweep_records_the_test_tuned_offset():
    labels = np.arange(100) % 10
    logits = np.eye(10)[labels] * 5
    logits[labels == 3, 3] = 0.0  # every 3 is a tie at 0; an offset of +0.25 recovers them all
    curve = oc.bias_sweep(logits, labels, logits, [3], np.arange(-1, 6.001, 0.25))
    assert curve["test_tuned_offset"] == 0.25
    best = curve["offset"].index(0.25)
    assert curve["omitted_acc"][best] == 1.0 and curve["errors"][best] == 0
    assert curve["errors"][curve["offset"].index(5.25)] > 0  # too large: other digits become 3s


def test_transfer_set_removes_exactly_the_omitted_digits():
    labels = RNG.integers(0, 10, 500)
    for omitted in ([3], [7, 8], []):
        keep = oc.transfer_mask(labels, omitted)
        assert not np.isin(labels[keep], omitted).any()
        assert np.isin(labels[~keep], omitted).all()
        assert np.bincount(labels[keep], minlength=10)[[d for d in range(10) if d not in omitted]].tolist() == \
            np.bincount(labels, minlength=10)[[d for d in range(10) if d not in omitted]].tolist()


@pytest.mark.parametrize("flags, omitted", [([], [3]), (["--omit", "7", "8"], [7, 8]), (["--omit", "none"], []),
                                            (["--keep", "7", "8"], [0, 1, 2, 3, 4, 5, 6, 9])])
def test_omit_and_keep_flags(flags, omitted):
    assert oc.parse_args(flags).omit == omitted


def test_repeated_digits_count_once():
    assert oc.parse_args(["--omit", "3", "3"]).omit == [3]
    twice = oc.parse_args(["--keep", "8", "7", "7"])
    assert twice.keep == [7, 8] and oc.out_name(twice) == "keep78_seed0.json"


@pytest.mark.parametrize("flags, name", [
    ([], "seed0.json"), (["--seeds", "0", "1"], "seeds.json"), (["--sweep", "omit=1,2"], "sweep_omit.json"),
    (["--keep", "7", "8", "--baseline", "--seeds", "0"], "keep78_baseline_seeds.json"),
    (["--eval-on", "validation", "--preset", "paper", "--seeds", "100"], "validation_paper_seeds.json")])
def test_results_file_names(flags, name):
    assert oc.out_name(oc.parse_args(flags)) == name


@pytest.mark.parametrize("flags, message", [
    (["--omit", "10"], "--omit digits must be 0-9"),
    (["--omit", *"0123456789"], "cannot remove all ten digits"),
    (["--omit", "three"], "--omit takes digits 0-9 or 'none'"),
    (["--omit", "3", "--keep", "7"], "give --omit or --keep, not both"),
    (["--temperature", "0"], "--temperature must be positive"),
    (["--n-epochs-teacher", "0"], "--n-epochs-teacher must be positive"),
    (["--n-epochs-student", "-2"], "--n-epochs-student must be positive"),
    (["--student-hidden", "0"], "--student-hidden must be positive"),
    (["--teacher-dropout", "1"], "--teacher-dropout must be in [0, 1)"),
    (["--input-dropout", "-0.1"], "--input-dropout must be in [0, 1)"),
    (["--max-norm", "-1"], "--max-norm must be >= 0"),
    (["--sweep", "omit=3,12"], "--omit digits must be 0-9"),
])
def test_bad_input_is_one_clear_line_and_writes_nothing(flags, message, tmp_path):
    assert message in bad_input_message("omitted_class_distill.py", flags, tmp_path)


TINY = ["--n-epochs-teacher", "2", "--n-epochs-student", "3", "--teacher-hidden", "32", "--student-hidden", "16",
        "--batch-size", "50", "--probe-size", "300", "--quiet"]


def test_teacher_cache_is_keyed_by_config_and_a_damaged_file_is_rejected(monkeypatch, tmp_path):
    monkeypatch.setattr(oc, "load_mnist", fake_mnist)
    flags = TINY + ["--cache-dir", str(tmp_path / "teachers")]
    first = oc.main(flags + ["--out", str(tmp_path / "a.json")])["groups"][0]["runs"][0]
    second = oc.main(flags + ["--omit", "5", "--out", str(tmp_path / "b.json")])["groups"][0]["runs"][0]
    assert not first["teacher_cached"] and second["teacher_cached"]  # a student-side flag reuses the teacher
    assert second["history"]["teacher"] == first["history"]["teacher"]
    changed = oc.main(flags + ["--teacher-dropout", "0.2", "--out", str(tmp_path / "c.json")])["groups"][0]["runs"][0]
    assert not changed["teacher_cached"]
    assert len(list((tmp_path / "teachers").iterdir())) == 2
    # Every teacher setting is in the cache key, the validation protocol included.
    args = oc.parse_args(flags)
    keys = {oc.cache_path(args, oc.teacher_config(oc.parse_args(flags + extra), 0)) for extra in
            ([], ["--input-dropout", "0.2"], ["--max-norm", "3"], ["--eval-on", "validation"], ["--jitter", "1"],
             ["--n-epochs-teacher", "3"], ["--teacher-hidden", "24"], ["--lr-schedule", "constant"],
             ["--rotate", "0"])}
    assert len(keys) == 9
    # --no-cache retrains, and gets the same teacher (the run is deterministic).
    fresh = oc.main(flags + ["--no-cache", "--out", str(tmp_path / "d.json")])["groups"][0]["runs"][0]
    assert not fresh["teacher_cached"] and fresh["metrics"] == first["metrics"]

    args = oc.parse_args(flags)
    path = oc.cache_path(args, oc.teacher_config(args, 0))
    with open(path, "r+b") as f:  # damage the file in the middle
        f.seek(200)
        f.write(b"\0" * 64)
    with pytest.raises(DataError, match="teacher cache .* is unreadable"):
        oc.main(flags + ["--out", str(tmp_path / "e.json")])
    assert not (tmp_path / "e.json").exists()
    # A valid file that holds another config's teacher (e.g. renamed) is not used either.
    other = oc.cache_path(args, oc.teacher_config(oc.parse_args(flags + ["--teacher-dropout", "0.2"]), 0))
    with open(other, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    with pytest.raises(DataError, match="another teacher config"):
        oc.main(flags + ["--out", str(tmp_path / "e.json")])


def test_tiny_end_to_end_run_writes_json_and_figures_render(monkeypatch, tmp_path):
    monkeypatch.setattr(oc, "load_mnist", fake_mnist)
    folder = tmp_path / "omitted_class"
    flags = TINY + ["--cache-dir", str(tmp_path / "teachers")]
    result = oc.main(flags + ["--seeds", "0", "1", "--out", str(folder / "seeds.json")])
    oc.main(flags + ["--omit", "none", "--baseline", "--out", str(folder / "other" / "omitnone_baseline_seeds.json")])
    oc.main(flags + ["--keep", "7", "8", "--out", str(folder / "other" / "keep78_seeds.json")])
    oc.main(flags + ["--sweep", "omit=1,3", "--out", str(folder / "sweep_omit.json")])
    oc.main(flags + ["--sweep", "temperature=2,20", "--hard-weight", "0.5", "--out", str(folder / "sweep_temperature.json")])
    saved = json.loads((folder / "seeds.json").read_text())
    run = saved["groups"][0]["runs"][0]
    assert [h["epoch"] for h in run["history"]["student"]] == [1, 2, 3]
    assert run["transfer_size"] == 450  # 600 fake training images less a sixth held out; 50 of them 3s
    assert run["metrics"]["student"]["per_class_acc"][3] == run["history"]["student"][-1]["omitted_acc"]
    mass = run["bias"]["by_rule"]["mass"]
    assert mass["probe_mean_p_after"] == pytest.approx(run["bias"]["target_freq"], abs=1e-5)
    assert run["bias"]["rule"] == "margin" and run["bias"]["by_rule"]["margin"]["offsets"] == run["bias"]["offsets"]
    assert len(run["bias"]["by_rule"]["count"]["offsets"]) == 1  # (this tiny student gives every image one logit)
    assert len(run["bias"]["sweep"]["probe_share"]) == len(run["bias"]["sweep"]["offset"])
    assert saved["config"]["omit"] == [3] and saved["environment"]["numpy"] == np.__version__
    assert saved["recipe_selection"] == {"protocol": runs.PROTOCOL, "choices": oc.RECIPE_SELECTION}
    assert saved["groups"][0]["summary"]["student_errors"]["n"] == 2
    assert len(run["samples"]["corrected_predictions"]) == len(run["samples"]["rows"]) == 20  # all fake 3s (max 24)
    again = oc.main(flags + ["--seeds", "0", "--out", str(tmp_path / "again.json")])
    assert again["groups"][0]["runs"][0]["metrics"] == result["groups"][0]["runs"][0]["metrics"]
    compression = json.loads((folder / "other" / "omitnone_baseline_seeds.json").read_text())["groups"][0]["runs"][0]
    assert "bias" not in compression and compression["metrics"]["baseline"]["errors"] >= 0
    keep = json.loads((folder / "other" / "keep78_seeds.json").read_text())["groups"][0]["runs"][0]
    assert len(keep["bias"]["offsets"]) == 8 and keep["transfer_size"] == 100

    rules = visualize.omitted_correction_table(visualize.omitted_groups(str(folder))).splitlines()
    assert [row.split(" | ")[:3] for row in rules[2:]] == [  # every file with a digit omitted; not omitnone
        ["| `seeds.json`, test", "0, 1", "3"], ["| `sweep_omit.json`, test", "0", "1"],
        ["| `sweep_omit.json`, test", "0", "3"], ["| `sweep_temperature.json`, test", "0", "3"],
        ["| `sweep_temperature.json`, test", "0", "3"], ["| `other/keep78_seeds.json`, test", "0", "01234569"]]
    assert all(re.search(r"\| margin \| \d of [12] \|$", row) for row in rules[2:])
    visualize.main(["omitted_class", "--results", str(folder)])
    make_gifs.main(["omitted_class", "--results", str(folder)])
    for name in ("training_curves.png", "per_class.png", "bias_sweep.png", "sweep_omit.png",
                 "sweep_temperature.png", "compression.png", "student_learns_threes.gif"):
        assert (folder / name).stat().st_size > 1000, name
    assert (folder / "student_learns_threes.gif").stat().st_size <= make_gifs.MAX_BYTES


def test_jittered_transfer_set_takes_the_teachers_targets_on_the_shifted_images(monkeypatch, tmp_path):
    """With --transfer-jitter, every batch is shifted and the teacher labels the shifted images, not
    the originals: here "shifting" blanks the images, so every target must be the teacher's on a
    blank image, the same for all rows."""
    monkeypatch.setattr(oc, "load_mnist", fake_mnist)
    flags = TINY + ["--cache-dir", str(tmp_path / "teachers"), "--out", str(tmp_path / "r.json")]
    plain = oc.main(flags + ["--transfer-jitter", "0"])["groups"][0]["runs"][0]
    targets = []
    student_loss = oc.student_loss
    monkeypatch.setattr(oc, "jitter", lambda x, shift, rng: np.zeros_like(x))
    monkeypatch.setattr(oc, "student_loss", lambda logits, soft, *rest: targets.append(soft) or student_loss(
        logits, soft, *rest))
    jittered = oc.main(flags + ["--transfer-jitter", "2"])["groups"][0]["runs"][0]
    assert targets and all(np.allclose(t, t[0]) for t in targets)
    assert jittered["history"]["teacher"] == plain["history"]["teacher"]  # the same cached teacher
    assert jittered["metrics"]["student"] != plain["metrics"]["student"]


def test_rotate_trains_the_teacher_on_rotated_and_shifted_batches(monkeypatch, tmp_path):
    """--rotate sends every teacher batch (and nothing of the student's) through affine, with --jitter
    as its shift."""
    monkeypatch.setattr(oc, "load_mnist", fake_mnist)
    calls = []
    monkeypatch.setattr(mn, "affine", lambda x, degrees, shift, rng: calls.append((len(x), degrees, shift)) or x)
    oc.main(TINY + ["--rotate", "12", "--jitter", "1", "--no-cache", "--out", str(tmp_path / "r.json")])
    assert calls and {c[1:] for c in calls} == {(12.0, 1)}
    assert sum(c[0] for c in calls) == 2 * 500  # two teacher epochs over the 500 fake training images


def test_real_mnist_student_recovers_omitted_threes_after_correction(monkeypatch, tmp_path):
    monkeypatch.setenv("HINTON_DATA_DIR", real_data_dir("mnist"))
    result = oc.main(["--n-epochs-teacher", "3", "--n-epochs-student", "3", "--teacher-hidden", "300",
                      "--student-hidden", "300", "--teacher-dropout", "0", "--quiet",
                      "--cache-dir", str(tmp_path / "teachers"), "--out", str(tmp_path / "r.json")])
    run = result["groups"][0]["runs"][0]
    assert run["transfer_size"] == 49999 - 5109  # 10,001 training images held out for validation; no 3s
    assert run["metrics"]["student_corrected"]["omitted_acc"] > 0.9  # it never saw a 3
    assert run["metrics"]["student_corrected"]["acc"] > 0.96


def test_unreadable_teacher_cache_is_one_line_and_a_nonzero_exit(tmp_path):
    flags = TINY + ["--cache-dir", str(tmp_path / "teachers")]
    args = oc.parse_args(flags)
    path = oc.cache_path(args, oc.teacher_config(args, 0))
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(b"not a zip file")
    out = tmp_path / "r.json"
    env = {**os.environ, "HINTON_DATA_DIR": real_data_dir("mnist")}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "omitted_class_distill.py"), *flags, "--out", str(out)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: teacher cache") and "--no-cache" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def test_progress_lines_name_the_split_they_measure(monkeypatch, tmp_path, capsys):
    """A validation run's progress must not read as test results."""
    monkeypatch.setattr(oc, "load_mnist", fake_mnist)
    flags = [f for f in TINY if f != "--quiet"] + ["--no-cache", "--cache-dir", str(tmp_path), "--eval-every", "1"]
    for split, other in (("validation", "test"), ("test", "validation")):
        oc.main(flags + ["--eval-on", split, "--out", str(tmp_path / f"{split}.json")])
        lines = [line for line in capsys.readouterr().out.splitlines() if "epoch" in line or "offsets" in line]
        assert lines and all(f" {split} " in line and f" {other} " not in line for line in lines), lines


def test_correction_table_counts_the_seeds_some_offset_of_the_sweep_puts_within_both_lines():
    """One seed meets both lines at one offset of its sweep (not at the fitted one), one never does; a teacher
    screen (students of one epoch) has no row."""
    fit = {"offsets": [2.0], "metrics_after": {"errors": 120, "omitted_acc": 0.97}}

    def run(seed, errors, omitted_acc):
        return {"seed": seed, "metrics": {"teacher": {"omitted_acc": 0.99}},
                "bias": {"rule": "mass", "by_rule": {"mass": fit, "count": fit},
                         "sweep": {"errors": errors, "omitted_acc": omitted_acc}}}
    group = {"config": {"eval_on": "validation", "omit": [8], "n_epochs_student": 40},
             "runs": [run(100, [100, 105, 115], [0.98, 0.987, 0.99]),   # +: 105 errors, 98.7 %
                      run(101, [100, 108, 115], [0.98, 0.985, 0.99])]}  # 98.5 % at 108, 115 errors at 99 %
    row = visualize.omitted_correction_table([("v.json", None, group)]).splitlines()[2]
    assert row.endswith("| – | 0 / 0 / – of 2 | mass | 1 of 2 |")  # no margin rule in this (older) file
    screen = {**group, "config": {**group["config"], "n_epochs_student": 1}}
    assert len(visualize.omitted_correction_table([("v.json", None, screen)]).splitlines()) == 2


def test_frontier_pools_a_recipes_runs_and_counts_those_within_both_lines():
    """Two files of one recipe (3 omitted; 5 and 8 omitted) make one row, its worst run against the lines;
    a teacher screen (one student epoch) and a file without the margin rule make none; fastest first."""
    def run(seed, errors, omitted_acc, seconds):
        margin = {"metrics_after": {"errors": errors, "omitted_acc": omitted_acc}}
        return {"seed": seed, "blas_threads": 1, "bias": {"by_rule": {"margin": margin}},
                "timings": {"teacher_train_s": seconds, "student_s": 100.0, "bias_s": 2.0}}

    def group(omit, runs, hidden=800, student_epochs=50):
        return {"config": {"teacher_hidden": hidden, "n_epochs_teacher": 50, "n_epochs_student": student_epochs,
                           "batch_size": 256, "lr": 2e-3, "omit": omit}, "runs": runs}
    result = {"environment": {"cpu": "CPU"}}
    validation = [("a.json", result, group([3], [run(105, 109, 0.986, 200.0), run(106, 110, 0.99, 200.0)])),
                  ("b.json", result, group([5], [run(105, 100, 0.985, 200.0)])),
                  ("c.json", result, group([3], [run(105, 90, 0.99, 900.0)], hidden=1200)),
                  ("screen.json", result, group([3], [run(105, 400, 0.8, 100.0)], student_epochs=1)),
                  ("old.json", result, {**group([3], []), "runs": [{"bias": {"by_rule": {"mass": {}}}}]})]
    rows = visualize.omitted_frontier_table(validation).splitlines()[2:]
    assert rows == ["| 2x800, 50 + 50, 256, 0.002 | 105, 106 | 3, 5 | 302 (1, CPU) | 110 | 98.5 % | 1 of 3 |",
                    "| 2x1200, 50 + 50, 256, 0.002 | 105 | 3 | 1002 (1, CPU) | 90 | 99.0 % | 1 of 1 |"]


def test_eval_every_changes_what_is_scored_and_nothing_that_is_trained(monkeypatch, tmp_path):
    """Scoring reads no random numbers: the networks, their losses and the final metrics are the same
    whether every epoch is scored or only the last; the history holds scores only where asked."""
    monkeypatch.setattr(oc, "load_mnist", fake_mnist)
    flags = TINY + ["--n-epochs-student", "4", "--no-cache", "--cache-dir", str(tmp_path)]
    every = oc.main(flags + ["--eval-every", "1", "--out", str(tmp_path / "a.json")])["groups"][0]["runs"][0]
    last = oc.main(flags + ["--eval-every", "0", "--out", str(tmp_path / "b.json")])["groups"][0]["runs"][0]
    second = oc.main(flags + ["--eval-every", "2", "--out", str(tmp_path / "c.json")])["groups"][0]["runs"][0]
    assert every["metrics"] == last["metrics"] == second["metrics"] and every["bias"] == last["bias"]
    for who, loss in (("teacher", "train_ce"), ("student", "train_loss")):
        assert [h[loss] for h in every["history"][who]] == [h[loss] for h in last["history"][who]]
    assert all("errors" in h and "sample_predictions" in h for h in every["history"]["student"])
    assert ["errors" in h for h in last["history"]["student"]] == [False, False, False, True]
    assert ["errors" in h for h in second["history"]["student"]] == [False, True, False, True]
    assert ["test_errors" in h for h in last["history"]["teacher"]] == [False, True]


@pytest.mark.parametrize("preset, file, unrecorded", [
    ("long", "seeds.json", {"eval_every"}),  # the committed test report, older than the flag: it scored every epoch
    ("fast", "validation/validation_fast_300s_teacher20_seeds.json", set())])  # the validation file that chose it
def test_a_preset_is_the_recipe_of_its_file_and_round_trips_through_help(capsys, preset, file, unrecorded):
    """--preset long sets the recipe that made the committed test report, --preset fast the one of the validation
    file that chose it; --help lists their values, and a flag given after the preset wins."""
    with open(os.path.join(ROOT, "viz", "omitted_class", file)) as f:
        recorded = json.load(f)["config"]
    values = oc.PRESETS[preset]
    args = vars(oc.parse_args(["--preset", preset]))
    assert {key: args[key] for key in values if key in recorded} == {key: recorded[key] for key in values
                                                                       if key in recorded}
    assert set(values) - set(recorded) == unrecorded
    with pytest.raises(SystemExit):
        oc.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for key, value in values.items():
        assert f"{preset}: {value}" in text, key
    assert oc.parse_args(["--preset", preset, "--n-epochs-student", "7"]).n_epochs_student == 7


def test_the_papers_row_holds_its_lines():
    """The paper's omitted-3 row is what every run is held to: 109 errors, 98.6 % of the 3s after the correction."""
    paper = visualize.omitted_main_table([(visualize.PAPER_ROW, "the paper")], full=True).splitlines()[2]
    assert paper.startswith("| the paper, 3 | 2x1200, – | – | 67 | 206 | 86.8 % | – | 109 | 98.6 % |")
    assert (visualize.ERRORS_LINE, visualize.OMITTED_LINE) == (109, 0.986)


@pytest.mark.parametrize("full", [False, True])
def test_headline_table_opens_with_the_default_in_bold_then_the_paper_fast_and_public(full):
    """The README's omitted-class table (and the notes' full one): the default recipe for 3, 5 and 8 omitted first
    and alone in bold, the paper's row, --preset fast for each digit, the public recipe; each from the committed
    test reports with its seconds a seed; the README's at most 8 columns, naming its files."""
    table = visualize.omitted_main_table(visualize.OMITTED_MAIN, full=full)
    lines = table.splitlines()
    rows = [row.split(" | ") for row in lines[2:] if row.startswith("|")]
    assert [row[0] for row in rows] == (
        [f"| **default recipe, {d}**" for d in (3, 5, 8)] + ["| the paper (Hinton et al. 2015), 3"]
        + [f"| fast recipe (`--preset fast`), {d}" for d in (3, 5, 8)] + ["| public numpy recipe (`--preset public`), 3"])
    assert all("**" in " | ".join(row) for row in rows[:3]) and not any("**" in " | ".join(row) for row in rows[3:])
    assert all(float(row[-1].rstrip(" |")) > 0 for row in rows if "paper" not in row[0])
    if full:
        assert [row[1] for row in rows[4:7]] == ["2x800, 20 + 55"] * 3
    else:
        assert len(lines[0].split(" | ")) <= 8
        assert lines[-1] == ("From `viz/omitted_class/`: `seeds.json`, `sweep_omit.json`, `fast_seeds.json`, "
                             "`fast_sweep_omit.json`, `public_seed0.json`.")
