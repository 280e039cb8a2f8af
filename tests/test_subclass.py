"""Subclass distillation: aux-loss gradients, exact assignment, baselines, CLI errors, end to end, real data."""

import itertools
import json

import numpy as np
import pytest

import make_gifs
import mlp_numpy as mn
import subclass_distill as sd
import runs
import visualize
from conftest import assert_close, bad_input_message, fake_mnist, numerical_grad, real_data_dir

RNG = np.random.default_rng(5)


@pytest.mark.parametrize("sharpen", [0.0, 0.5, 1.0])
def test_entropy_aux_loss_gradient(sharpen):
    logits = RNG.standard_normal((9, 10)) * 2
    labels = np.array([0, 1, 1, 0, 1, 1, 1, 0, 1])
    loss, grad = sd.entropy_aux_loss(logits, labels, sd.GROUPS, sharpen)
    assert_close(grad, numerical_grad(lambda: sd.entropy_aux_loss(logits, labels, sd.GROUPS, sharpen)[0], logits))
    # Only an example's own group's sub-logits get a gradient.
    assert not grad[labels == 0][:, 5:].any() and not grad[labels == 1][:, :5].any()


def test_entropy_aux_loss_bounds_and_a_batch_with_one_group():
    collapsed = np.zeros((6, 10))
    collapsed[:, [0, 5]] = 50  # every example on one sub-logit of its group
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert sd.entropy_aux_loss(collapsed, labels, sd.GROUPS, 0.5)[0] == pytest.approx(0.0, abs=1e-6)
    spread = np.full((5, 10), -50.0)
    spread[np.arange(5), np.arange(5)] = 50  # five examples on five different sub-logits
    assert sd.entropy_aux_loss(spread, np.zeros(5, int), sd.GROUPS, 0.5)[0] == pytest.approx(-np.log(5), abs=1e-6)
    loss, grad = sd.entropy_aux_loss(RNG.standard_normal((4, 10)), np.ones(4, int), sd.GROUPS, 0.5)
    assert np.isfinite(loss) and not grad[:, :5].any()


@pytest.mark.parametrize("n", [3, 8])
def test_contrastive_aux_loss_gradient(n):
    logits = RNG.standard_normal((n, 10)) * 1.5
    _, grad = sd.contrastive_aux_loss(logits)
    assert_close(grad, numerical_grad(lambda: sd.contrastive_aux_loss(logits)[0], logits))


def test_contrastive_aux_loss_prefers_spread_examples():
    same = np.tile(RNG.standard_normal(10), (8, 1))
    different = RNG.standard_normal((8, 10)) * 3
    assert sd.contrastive_aux_loss(different)[0] < sd.contrastive_aux_loss(same)[0]
    assert sd.contrastive_aux_loss(same)[0] == pytest.approx(0.0, abs=1e-3)  # log(B e^{1/T}) - 1/T - log B


@pytest.mark.parametrize("groups", ["super", "none"])
def test_teacher_loss_gradient_combines_super_ce_and_aux(groups):
    logits, labels = RNG.standard_normal((6, 10)), np.array([0, 1, 0, 1, 1, 0])
    groups, labels = (sd.GROUPS, labels) if groups == "super" else (sd.ONE_GROUP, np.zeros(6, int))
    for aux in ("entropy", "contrastive"):
        _, _, grad = sd.teacher_loss(logits, labels, groups, aux, 0.7, 0.5)

        def total():
            ce, aux_value, _ = sd.teacher_loss(logits, labels, groups, aux, 0.7, 0.5)
            return ce + 0.7 * aux_value
        assert_close(grad, numerical_grad(total, logits))


def test_unsupervised_teacher_has_no_cross_entropy_and_spreads_over_all_ten():
    spread = np.full((10, 10), -50.0)
    spread[np.arange(10), np.arange(10)] = 50  # ten examples on ten different sub-logits
    ce, aux, _ = sd.teacher_loss(spread, np.zeros(10, int), sd.ONE_GROUP, "entropy", 1.0, 0.5)
    assert ce == 0.0 and aux == pytest.approx(-np.log(10), abs=1e-6)


def test_alignment_recovers_a_known_permutation_within_each_group():
    reference = RNG.standard_normal((400, 10)) * 3
    within = np.concatenate([RNG.permutation(5), 5 + RNG.permutation(5)])  # never across super-classes
    member = np.empty_like(reference)
    member[:, within] = reference + 0.3 * RNG.standard_normal(reference.shape)  # a noisy, relabelled copy
    order = sd.align(reference, member, sd.GROUPS)
    assert np.array_equal(order, within)
    assert np.mean(member[:, order].argmax(axis=1) == reference.argmax(axis=1)) > 0.9
    free = RNG.permutation(10)  # with one group the alignment may cross the halves
    shuffled = np.empty_like(reference)
    shuffled[:, free] = reference
    assert np.array_equal(sd.align(reference, shuffled, sd.ONE_GROUP), free)
    # Averaging aligned members gives back the reference's clusters.
    probs = sd.ensemble_probs([reference, shuffled], [np.arange(10), free])
    assert np.allclose(probs, mn.softmax(reference))


def test_best_assignment_is_exact_where_greedy_is_not():
    table = np.array([[10, 9, 0], [9, 0, 0], [0, 0, 1]])  # greedy takes 10 first and ends at 11
    assert sd.best_assignment(table) == [1, 0, 2]  # 9 + 9 + 1 = 19
    for _ in range(20):
        table = RNG.integers(0, 50, (6, 6))
        brute = max(sum(table[r, c] for r, c in enumerate(p)) for p in itertools.permutations(range(6)))
        columns = sd.best_assignment(table)
        assert sorted(columns) == list(range(6))
        assert sum(table[r, c] for r, c in enumerate(columns)) == brute


def test_recovery_of_a_permuted_perfect_clustering():
    digits = np.repeat(np.arange(10), 7)
    permutation = RNG.permutation(10)
    logits = np.eye(10)[permutation[digits]]
    one_to_one, any_mapping = sd.recovery(mn.confusion_matrix(digits, logits.argmax(axis=1), 10))
    assert one_to_one == 1.0 and any_mapping == 1.0
    merged = np.eye(10)[np.where(digits < 2, 0, digits)]  # digits 0 and 1 share a cluster
    one_to_one, any_mapping = sd.recovery(mn.confusion_matrix(digits, merged.argmax(axis=1), 10))
    assert one_to_one == pytest.approx(0.9) and any_mapping == pytest.approx(0.9)


def test_split_parsing():
    assert sd.parse_split("01389/24567") == [[0, 1, 3, 8, 9], [2, 4, 5, 6, 7]]
    for bad in ("0123/456789", "01234/56788", "01234", "0123a/56789"):
        with pytest.raises(ValueError):
            sd.parse_split(bad)


@pytest.mark.parametrize("flags, name", [
    (["--seeds", "0", "1"], "seeds.json"), (["--teachers", "1", "--seeds", "0"], "teachers1_seeds.json"),
    (["--preset", "canonical", "--seeds", "0"], "canonical_seeds.json"),
    (["--ensemble", "average", "--teachers", "5"], "teachers5_average_seed0.json"),
    (["--eval-on", "validation", "--labels", "none", "--sweep", "hidden=64,128"],
     "validation_unsupervised_sweep_hidden.json")])
def test_results_file_names_tag_only_what_differs_from_the_default_recipe(flags, name):
    assert sd.out_name(sd.parse_args(flags)) == name


def test_kmeans_finds_separated_clusters_and_is_seeded():
    centres = RNG.random((5, 784)) * 3
    x = np.repeat(centres, 40, axis=0) + 0.01 * RNG.standard_normal((200, 784))
    found = sd.kmeans(x, 5, np.random.default_rng(0))
    assert len(set(sd.nearest(x, found))) == 5
    assert np.array_equal(found, sd.kmeans(x, 5, np.random.default_rng(0)))


def test_kmeans_stops_at_a_fixed_point():
    x = RNG.random((300, 20)).astype(np.float32)  # no clusters: many iterations to converge
    stopped = sd.kmeans(x, 5, np.random.default_rng(1), iterations=1000)
    assign = sd.nearest(x, stopped)
    assert np.array_equal(stopped, [x[assign == j].mean(axis=0) for j in range(5)])  # each centre its points' mean
    # and that took more than 5 iterations, so the check above is not trivially true
    assert not np.array_equal(sd.kmeans(x, 5, np.random.default_rng(1), iterations=5), stopped)


@pytest.mark.parametrize("flags, message", [
    (["--split", "0123/456789"], "must split the digits 0-9 into two groups of five"),
    (["--aux-loss", "mutual"], "invalid choice: 'mutual'"),
    (["--temperature", "-1"], "--temperature must be positive"),
    (["--n-epochs-teacher", "0"], "--n-epochs-teacher must be positive"),
    (["--sweep", "sharpen=0.5,-1"], "--sweep sharpen=-1.0: --sharpen must be >= 0"),
    (["--teachers", "0"], "--teachers must be positive"),
    (["--labels", "none", "--student-hard-weight", "1"], "--student-hard-weight needs the super-class label"),
    (["--labels", "none", "--aux-weight", "0"], "--labels none needs --aux-weight > 0"),
])
def test_bad_input_is_one_clear_line_and_writes_nothing(flags, message, tmp_path):
    assert message in bad_input_message("subclass_distill.py", flags, tmp_path)


def test_tiny_end_to_end_run_writes_json_and_figures_render(monkeypatch, tmp_path):
    monkeypatch.setattr(sd, "load_mnist", fake_mnist)
    folder = tmp_path / "subclass"
    common = ["--n-epochs-teacher", "2", "--n-epochs-student", "2", "--hidden", "16", "--batch-size", "50",
              "--quiet"]
    result = sd.main(common + ["--seeds", "0", "1", "--out", str(folder / "seeds.json")])
    sd.main(common + ["--sweep", "sharpen=0.2,1.0", "--student-hard-weight", "0.5", "--aux-loss", "contrastive",
                      "--out", str(folder / "validation" / "validation_sweep_sharpen.json")])
    saved = json.loads((folder / "seeds.json").read_text())
    run = saved["groups"][0]["runs"][0]
    assert [h["epoch"] for h in run["history"]["student"]] == [1, 2]
    assert np.array(run["history"]["teacher"][-1]["contingency"]).sum() == 200
    assert set(run["baselines"]) == {"chance", "super_only", "kmeans"}
    assert run["baselines"]["kmeans"]["one_to_one"] > 0.5  # separated prototypes are easy
    assert saved["config"]["split"] == "01234/56789" and saved["environment"]["numpy"] == np.__version__
    assert saved["recipe_selection"] == {"protocol": runs.PROTOCOL, "choices": sd.RECIPE_SELECTION}
    again = sd.main(common + ["--seeds", "0", "--out", str(tmp_path / "again.json")])
    assert again["groups"][0]["runs"][0]["metrics"] == result["groups"][0]["runs"][0]["metrics"]
    # The baselines depend on the split and the seed alone: the same in every swept run and in a
    # fresh one, and a --sweep over the split itself changes them.
    splits = sd.main(common + ["--seeds", "0", "--sweep", "split=01234/56789,01389/24567",
                               "--out", str(tmp_path / "splits.json")])
    kmeans = [g["runs"][0]["baselines"]["kmeans"] for g in splits["groups"]]
    assert kmeans[0] == result["groups"][0]["runs"][0]["baselines"]["kmeans"]
    assert kmeans[1] != kmeans[0] and splits["groups"][1]["config"]["split"] == "01389/24567"
    swept = json.loads((folder / "validation" / "validation_sweep_sharpen.json").read_text())["groups"]
    assert swept[0]["runs"][0]["baselines"] == swept[1]["runs"][0]["baselines"]
    # An ensemble's first member is the single teacher of the same seed; the others are new.  By
    # default every member trains --screen-epochs, and only the one with the lowest training objective
    # (no labels involved) trains on and teaches.
    single = sd.main(common + ["--teachers", "1", "--out", str(tmp_path / "single.json")])["groups"][0]["runs"][0]
    ensemble = sd.main(common + ["--teachers", "3", "--screen-epochs", "1", "--seeds", "0",
                                 "--out", str(tmp_path / "ensemble.json")])
    run3 = ensemble["groups"][0]["runs"][0]
    members = run3["history"]["teachers"]
    assert members[0] == single["history"]["teacher"][:len(members[0])] and members[1] != members[0][:1]
    chosen = int(np.argmin([m[0]["objective"] for m in members]))
    assert run3["metrics"]["taught_by"] == [chosen] and run3["history"]["teacher"] == members[chosen]
    assert [len(m) for m in members] == [2 if i == chosen else 1 for i in range(3)]
    assert run3["metrics"]["teacher"] == members[chosen][-1] == run3["metrics"]["teachers"][chosen]
    average = sd.main(common + ["--teachers", "3", "--ensemble", "average", "--seeds", "0",
                                "--out", str(tmp_path / "average.json")])["groups"][0]["runs"][0]
    assert average["metrics"]["taught_by"] == [0, 1, 2] and [len(m) for m in average["history"]["teachers"]] == [2] * 3
    assert average["history"]["teachers"][chosen] == members[chosen]
    assert "objective" not in average["metrics"]["teacher"]  # the averaged members' scores, not one member's
    # Told nothing, the teacher has no super-class accuracy to report, and the rest still runs.
    unsupervised = sd.main(common + ["--labels", "none", "--out", str(tmp_path / "unsupervised.json")])
    assert "super_acc" not in unsupervised["groups"][0]["runs"][0]["metrics"]["student"]
    assert "teacher_super_acc" not in unsupervised["groups"][0]["summary"]

    visualize.main(["subclass", "--results", str(folder)])
    make_gifs.main(["subclass", "--results", str(folder)])
    for name in ("contingency.png", "accuracy_bars.png", "training_curves.png", "recovery_per_seed.png",
                 "validation/validation_sweep_sharpen.png", "teacher_discovers_digits.gif"):
        assert (folder / name).stat().st_size > 1000, name
    assert (folder / "teacher_discovers_digits.gif").stat().st_size <= make_gifs.MAX_BYTES


def test_real_mnist_teacher_recovers_digits_without_digit_labels(monkeypatch, tmp_path):
    monkeypatch.setenv("HINTON_DATA_DIR", real_data_dir("mnist"))
    result = sd.main(["--n-epochs-teacher", "3", "--n-epochs-student", "2", "--quiet",
                      "--out", str(tmp_path / "r.json")])
    run = result["groups"][0]["runs"][0]
    assert run["metrics"]["teacher"]["super_acc"] > 0.95
    assert run["metrics"]["student"]["one_to_one"] > 0.45  # chance is 0.1, super-class only ~0.2
    # A short run of the default recipe already beats clustering the pixels, on its own seed.
    assert run["metrics"]["student"]["one_to_one"] > run["baselines"]["kmeans"]["one_to_one"] + 0.05
