"""Ghost-logit experiment: losses, initialisation, noise, CLI errors, a tiny end-to-end run, real data."""

import functools
import json

import numpy as np
import pytest

import ghost_logit_distill as gl
import make_gifs
import runs
import visualize
from conftest import assert_close, bad_input_message, fake_mnist, numerical_grad, real_data_dir

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("loss, normalize, temperature", [("kl", False, 1.0), ("kl", False, 3.0),
                                                          ("mse", False, 1.0), ("mse", True, 1.0)])
def test_matching_loss_gradient_is_zero_off_the_matched_columns(loss, normalize, temperature):
    student, teacher = RNG.standard_normal((5, 13)), RNG.standard_normal((5, 13)) * 2
    ghost = np.arange(10, 13)
    _, grad = gl.matching_loss(student, teacher, ghost, loss, temperature, normalize)
    numeric = numerical_grad(lambda: gl.matching_loss(student, teacher, ghost, loss, temperature, normalize)[0],
                             student)
    assert_close(grad, numeric)
    assert not grad[:, :10].any() and np.abs(grad[:, 10:]).max() > 0


def test_teacher_loss_never_touches_the_ghost_logits():
    logits, labels = RNG.standard_normal((6, 13)), RNG.integers(0, 10, 6)
    _, grad = gl.class_logit_loss(logits, labels, 10)
    assert_close(grad, numerical_grad(lambda: gl.class_logit_loss(logits, labels, 10)[0], logits))
    assert not grad[:, 10:].any()


def networks(seed_init, seed_other, shared=gl.layer_names("mlp"), arch="mlp", student="mlp", init="he"):
    """make_networks for small networks (hidden width 16, 13 logits of which 10 classes)."""
    make_teacher, make_student = (functools.partial(gl.network, a, 16, 13, init=init) for a in (arch, student))
    return gl.make_networks(make_teacher, make_student, seed_init, seed_other, 10, shared)


def test_students_start_from_the_initial_weights_their_untrained_copies_keep():
    nets = networks(11, 12)
    teacher, same_init, cross_init, untrained, same_init_untrained, cross_init_untrained = (
        nets[name] for name in ("teacher", "same_init", "cross_init", "untrained", "same_init_untrained",
                                "cross_init_untrained"))
    initial, other_initial = teacher.params.copy(), cross_init.params.copy()
    teacher.params += 0.5  # training the teacher and the students must not move the untrained copies
    cross_init.params += 0.5
    assert np.array_equal(same_init.params, initial) and np.array_equal(untrained.params, initial)
    same_init.params += 0.5
    assert np.array_equal(same_init_untrained.params, initial)
    assert np.array_equal(cross_init_untrained.params, other_initial)
    assert not np.allclose(other_initial, initial)


def layers_of(net, n_classes=10):
    return {name: np.concatenate([part.ravel() for part in parts])
            for name, parts in gl.layer_views(net, n_classes).items()}


@pytest.mark.parametrize("spec", ["all", "none", "heads", "hidden", "ghost", "class", "fc2+class+ghost",
                                  "fc1+fc2+class", "fc1+ghost"])
def test_a_shared_layer_is_the_teachers_initial_layer_and_an_independent_one_the_same_draw_in_every_condition(spec):
    """Bit for bit: each shared layer (weights and biases) is the teacher's initial one, each other layer the
    cross-init student's, whichever other layers are shared; the four layers cover every parameter."""
    nets = networks(11, 12, gl.shared_layers(spec))
    student, teacher, other = (layers_of(nets[name]) for name in ("same_init", "teacher", "cross_init"))
    assert sum(len(v) for v in student.values()) == len(nets["same_init"].params)
    for layer in gl.layer_names("mlp"):
        source = teacher if layer in gl.shared_layers(spec) else other
        assert np.array_equal(student[layer], source[layer]), layer
        assert not np.array_equal(student[layer], (other if source is teacher else teacher)[layer]) or \
            not student[layer].any(), layer  # (the zero biases alone are the same in both)


@pytest.mark.parametrize("name, spelled", [("all", "fc1+fc2+class+ghost"), ("heads", "class+ghost"),
                                           ("hidden", "fc1+fc2"), ("heads", "ghost+class")])
def test_named_conditions_are_their_spelled_out_specs(name, spelled):
    assert gl.shared_layers(name) == gl.shared_layers(spelled)
    nets = [networks(3, 4, gl.shared_layers(spec)) for spec in (name, spelled)]
    assert np.array_equal(nets[0]["same_init"].params, nets[1]["same_init"].params)
    assert gl.shared_layers("none") == () and np.array_equal(networks(3, 4, ())["same_init"].params,
                                                             networks(3, 4)["cross_init"].params)


@pytest.mark.parametrize("spec, message", [
    ("fc3", "--share fc3: 'fc3' is not a layer of an MLP (choose from fc1, fc2, class, ghost"),
    ("fc1+fc1", "--share fc1+fc1 names a layer twice"),
    ("", "--share '' names no layer"),
    ("fc1++ghost", "--share 'fc1++ghost' names no layer where a + is"),
])
def test_a_bad_share_spec_is_one_line_even_in_a_sweep(spec, message, tmp_path):
    assert message in bad_input_message("ghost_logit_distill.py", ["--share", spec], tmp_path)
    line = bad_input_message("ghost_logit_distill.py", ["--sweep", f"share=all,{spec}" if spec else "share=all,"],
                             tmp_path)
    assert "--share" in line and "Traceback" not in line


def test_sharing_nothing_trains_the_cross_init_student_exactly(monkeypatch, tmp_path):
    """With --share none the student starts where the cross-init one does and sees the same noise: the same
    network, step for step; its untrained start is the cross-init one's."""
    monkeypatch.setattr(gl, "load_mnist", fake_mnist)
    result = gl.main(["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--n-noise", "256", "--hidden", "16",
                      "--share", "none", "--quiet", "--out", str(tmp_path / "r.json")])
    metrics = result["groups"][0]["runs"][0]["metrics"]
    assert metrics["same_init"] == metrics["cross_init"]
    assert metrics["same_init_untrained"] == metrics["cross_init_untrained"]
    assert gl.out_name(gl.parse_args(["--share", "none", "--seeds", "0"])) == "share-none_seeds.json"
    assert gl.out_name(gl.parse_args(["--sweep", "share=all,heads"])) == "sweep_share.json"


def test_input_scales_and_the_learning_through_noise_preset(monkeypatch):
    """symmetric keeps the pixels the committed runs saw (2p - 1, bit for bit); standardized is (p - 0.1307) /
    0.3081; --preset ltn is Learning Through Noise's code defaults, and --init reaches every network."""
    monkeypatch.setattr(gl, "load_mnist", fake_mnist)
    raw = fake_mnist(evaluate_on="test").x_train
    symmetric = gl.load_data(gl.parse_args([])).x_train
    assert np.array_equal(symmetric, raw * 2 - 1)
    standardized = gl.load_data(gl.parse_args(["--input-scale", "standardized"])).x_train
    assert np.allclose(standardized, (raw - 0.1307) / 0.3081, atol=1e-5)
    ltn = gl.parse_args(["--preset", "ltn"])
    assert (ltn.input_scale, ltn.init, ltn.n_ghost, ltn.batch_size, ltn.lr, ltn.lr_student, ltn.n_epochs_student,
            ltn.n_noise, ltn.n_epochs_teacher, ltn.loss) == ("standardized", "uniform", 10, 1000, 1e-3, 1e-3, 5,
                                                             60000, 5, "mse")
    # A file's name says the input scale and the initialisation where they are not its preset's.
    assert gl.out_name(ltn) == "ltn_seed0.json"
    assert gl.out_name(gl.parse_args(["--preset", "ltn", "--init", "he", "--sweep", "share=all,heads"])) == \
        "ltn_he-init_sweep_share.json"
    assert gl.out_name(gl.parse_args(["--init", "uniform", "--input-scale", "standardized", "--seeds", "0"])) == \
        "standardized_uniform-init_seeds.json"
    nets = networks(11, 12, init="uniform")
    assert all(net.b[0].any() for net in nets.values())  # uniform draws biases too; He leaves them at 0
    assert not any(net.b[0].any() for net in networks(11, 12).values())


@pytest.mark.parametrize("spec", ["all", "none", "heads", "hidden", "conv1+class+ghost", "fc1+ghost"])
def test_a_cnn_student_shares_exactly_the_layers_it_names(spec):
    """The per-layer controls on a CNN: conv1, conv2, fc1 and the heads cover every parameter; each shared
    layer is the teacher's initial one, each other the cross-init student's."""
    nets = networks(11, 12, gl.shared_layers(spec, "cnn"), arch="cnn", student="cnn")
    student, teacher, other = (layers_of(nets[name]) for name in ("same_init", "teacher", "cross_init"))
    assert list(student) == list(gl.layer_names("cnn"))
    assert sum(len(v) for v in student.values()) == len(nets["same_init"].params)
    for layer in gl.layer_names("cnn"):
        source = teacher if layer in gl.shared_layers(spec, "cnn") else other
        assert np.array_equal(student[layer], source[layer]), layer


def test_three_convolution_blocks_are_the_seed_reports_code_and_all_shares_each():
    """--conv-blocks 3: 32, 64 and 128 filters, each pooled, so 3x3x128 = 1152 values enter fc1, as in the
    seed report's code; --share all shares conv3 too, and conv3 is no layer of two blocks."""
    make = functools.partial(gl.network, "cnn", 128, 13, conv_blocks=3)
    nets = gl.make_networks(make, make, 11, 12, 10, gl.shared_layers("all", "cnn", conv_blocks=3))
    assert nets["teacher"].sizes[0] == 1152 and [c[1] for c in nets["teacher"].convs] == [32, 64, 128]
    student, teacher = (layers_of(nets[name]) for name in ("same_init", "teacher"))
    assert list(student) == list(gl.layer_names("cnn", 3)) and "conv3" in student
    assert all(np.array_equal(student[layer], teacher[layer]) for layer in student)
    with pytest.raises(ValueError, match="'conv3' is not a layer of a CNN"):
        gl.shared_layers("conv3", "cnn")


def test_an_mlp_teacher_and_a_cnn_student_share_exactly_their_heads():
    """The CNN's hidden layer is the MLP's last hidden width, so the heads have one shape: the heads-shared
    student's heads are the teacher's initial ones, everything else its own draw."""
    nets = networks(11, 12, gl.shared_layers("heads", "cnn", "mlp"), arch="mlp", student="cnn")
    assert type(nets["teacher"]).__name__ == "MLP" and type(nets["same_init"]).__name__ == "CNN"
    student, teacher, other = (layers_of(nets[name]) for name in ("same_init", "teacher", "cross_init"))
    for layer in gl.layer_names("cnn"):
        assert np.array_equal(student[layer], (teacher if layer in gl.HEADS else other)[layer]), layer
    with pytest.raises(ValueError, match="an MLP teacher and a CNN student can share only their heads, not conv1"):
        gl.shared_layers("all", "cnn", "mlp")
    # --init uniform gives both networks PyTorch's default, so the shared heads are the MLP's uniform ones.
    nets = networks(11, 12, gl.shared_layers("heads", "cnn", "mlp"), arch="mlp", student="cnn", init="uniform")
    conv1, class_head = layers_of(nets["same_init"])["conv1"], layers_of(nets["same_init"])["class"]
    assert np.abs(conv1).max() <= 1 / 3 and np.all(class_head != 0)
    assert np.array_equal(class_head, layers_of(nets["teacher"])["class"])


def test_cnn_end_to_end_writes_a_results_file_that_draws(monkeypatch, tmp_path):
    """--preset seed-report (the seed report's network) and an MLP teacher with a CNN student, on tiny settings."""
    monkeypatch.setattr(gl, "load_mnist", fake_mnist)
    folder = tmp_path / "ghost_logit"
    tiny = ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--n-noise", "256", "--batch-size", "64", "--quiet"]
    result = gl.main(tiny + ["--preset", "seed-report", "--seeds", "0", "--out", str(folder / "seeds.json")])
    run = result["groups"][0]["runs"][0]
    assert result["config"]["arch"] == "cnn" and result["config"]["hidden"] == 128
    assert set(run["metrics"]) == {"teacher", "same_init", "cross_init", "untrained", "same_init_untrained",
                                  "cross_init_untrained"}
    assert run["metrics"]["same_init_untrained"]["test_acc"] == run["metrics"]["untrained"]["test_acc"]
    dropped = gl.main(tiny + ["--preset", "seed-report", "--teacher-dropout", "0.25", "--seeds", "0",
                              "--out", str(tmp_path / "dropout.json")])["groups"][0]["runs"][0]
    assert dropped["history"]["teacher"][0]["loss"] != run["history"]["teacher"][0]["loss"]  # the teacher dropped units
    assert dropped["metrics"]["untrained"]["test_acc"] == run["metrics"]["untrained"]["test_acc"]
    assert gl.out_name(gl.parse_args(["--preset", "seed-report", "--teacher-dropout", "0.25", "--seeds", "0"])) == \
        "seed-report_teacher-dropout0.25_seeds.json"
    assert gl.out_name(gl.parse_args(["--preset", "seed-report", "--conv-blocks", "3", "--seeds", "0"])) == \
        "seed-report_3-blocks_seeds.json"
    pair = gl.main(tiny + ["--student-arch", "cnn", "--share", "heads", "--hidden", "32",
                           "--out", str(tmp_path / "pair.json")])
    assert pair["config"]["student_arch"] == "cnn"
    assert gl.out_name(gl.parse_args(["--student-arch", "cnn", "--share", "heads", "--seeds", "0"])) == \
        "cnn-student_share-heads_seeds.json"
    assert gl.out_name(gl.parse_args(["--arch", "cnn", "--seeds", "0"])) == "cnn_seeds.json"
    assert gl.out_name(gl.parse_args(["--preset", "seed-report", "--seeds", "0"])) == "seed-report_seeds.json"
    assert gl.out_name(gl.parse_args(["--preset", "seed-report", "--noise", "perlin", "--seeds", "0"])) == \
        "seed-report_perlin_seeds.json"
    assert gl.out_name(gl.parse_args(["--sweep", "noise=uniform,perlin"])) == "sweep_noise.json"
    visualize.main(["ghost_logit", "--results", str(folder)])
    assert (folder / "accuracy_per_epoch.png").stat().st_size > 1000


def test_noise_is_seeded_in_range_and_the_stream_the_committed_runs_drew():
    """Drawn into a reused buffer, the noise must be the numbers a fresh array held (the
    committed results were made that way)."""
    buffer = np.full((200, 784), np.nan, np.float32)
    a = gl.make_noise(np.random.default_rng(3), "uniform", buffer)
    assert a is buffer and a.dtype == np.float32
    assert a.min() >= -1 and a.max() <= 1 and abs(a.mean()) < 0.01
    assert np.array_equal(a, np.random.default_rng(3).random((200, 784), dtype=np.float32) * 2 - 1)
    g = gl.make_noise(np.random.default_rng(3), "gaussian", np.empty((200, 784), np.float32))
    assert np.array_equal(g, np.random.default_rng(3).standard_normal((200, 784), dtype=np.float32))
    assert abs(g.std() - 1) < 0.01
    wide = gl.make_noise(np.random.default_rng(3), "gaussian-wide", np.empty((200, 784), np.float32))
    assert np.allclose(wide, (g - 0.1307) / 0.3081, atol=1e-5) and abs(wide.std() - 3.25) < 0.05
    images = np.arange(30 * 784, dtype=np.float32).reshape(30, 784)
    drawn = gl.make_noise(np.random.default_rng(3), "images", np.empty((20, 784), np.float32), images)
    assert len({row[0] for row in drawn}) == 20 and all(any(np.array_equal(r, i) for i in images) for r in drawn)
    assert len(gl.make_noise(np.random.default_rng(3), "images", np.empty((50, 784), np.float32), images)) == 50


def perlin_pixel(angles, row, col, cells, side=28):
    """Perlin noise at one pixel, the textbook way: the four corners of its cell, each gradient dotted
    with the pixel's offset from that corner, blended along x and then y by the quintic fade."""
    fade = lambda t: 6 * t ** 5 - 15 * t ** 4 + 10 * t ** 3  # noqa: E731
    y, x = row * cells / side, col * cells / side
    y0, x0 = int(y), int(x)
    dot = {(dy, dx): np.cos(angles[y0 + dy, x0 + dx]) * (x - x0 - dx) + np.sin(angles[y0 + dy, x0 + dx]) * (y - y0 - dy)
           for dy in (0, 1) for dx in (0, 1)}
    top, bottom = (dot[dy, 0] + fade(x - x0) * (dot[dy, 1] - dot[dy, 0]) for dy in (0, 1))
    return top + fade(y - y0) * (bottom - top)


def test_perlin_noise_is_the_textbook_formula_scaled_to_a_peak_of_one_and_smooth():
    cells = gl.PERLIN_CELLS
    p = gl.make_noise(np.random.default_rng(5), "perlin", np.empty((50, 784), np.float32))
    angles = np.random.default_rng(5).random((50, cells + 1, cells + 1), dtype=np.float32) * np.float32(2 * np.pi)
    for image in (0, 49):
        raw = np.array([[perlin_pixel(angles[image].astype(np.float64), r, c, cells) for c in range(28)]
                        for r in range(28)])
        np.testing.assert_allclose(p[image].reshape(28, 28), raw / np.abs(raw).max(), atol=2e-5)
    assert np.allclose(np.abs(p).max(axis=1), 1)
    assert np.all(p.reshape(-1, 28, 28)[:, ::7, ::7] == 0)  # 8 cells over 28 pixels: a corner every 7 pixels
    neighbours = np.abs(np.diff(p.reshape(-1, 28, 28), axis=2)).mean()
    uniform = gl.make_noise(np.random.default_rng(5), "uniform", np.empty((50, 784), np.float32))
    assert neighbours < 0.5 * np.abs(np.diff(uniform.reshape(-1, 28, 28), axis=2)).mean()
    in_pieces = gl.perlin_noise(np.random.default_rng(5), np.empty((50, 784), np.float32), chunk=7)
    assert np.array_equal(in_pieces, p)  # the same stream of gradients however the batch is cut


def test_cka_is_one_for_rotations_and_low_for_unrelated():
    a = RNG.standard_normal((300, 20))
    q, _ = np.linalg.qr(RNG.standard_normal((20, 20)))
    assert gl.linear_cka(a, 3 * a @ q) == pytest.approx(1.0)
    assert gl.linear_cka(a, RNG.standard_normal((300, 20))) < 0.2


@pytest.mark.parametrize("flags, message", [
    (["--n-ghost", "0"], "--n-ghost must be positive"),
    (["--n-ghost", "-2"], "--n-ghost must be positive"),
    (["--loss", "hinge"], "invalid choice: 'hinge'"),
    (["--task", "letters"], "invalid choice: 'letters'"),
    (["--noise", "pink"], "invalid choice: 'pink'"),
    (["--n-epochs-student", "0"], "--n-epochs-student must be positive"),
    (["--temperature", "0"], "--temperature must be positive"),
    (["--teacher-dropout", "1"], "--teacher-dropout must be in [0, 1)"),
    (["--sweep", "depth=1,2"], "--sweep needs KEY=V1,V2,..."),
    (["--sweep", "loss=kl,hinge"], "--sweep loss=hinge: --loss must be kl or mse"),
    (["--sweep", "n_ghost=3,0"], "--sweep n_ghost=0: --n-ghost must be positive"),
    (["--sweep", "hidden=12,big"], "--sweep hidden: invalid literal"),
    # architectures that cannot go together
    (["--student-arch", "cnn"], "an MLP teacher and a CNN student can share only their heads, not conv1: give "
                                "--share heads"),
    (["--arch", "cnn", "--student-arch", "mlp", "--share", "fc1+class"], "a CNN teacher and an MLP student"),
    (["--arch", "cnn", "--share", "fc2"], "'fc2' is not a layer of a CNN (choose from conv1, conv2, fc1"),
    (["--conv-blocks", "3"], "--conv-blocks applies to a CNN: give --arch cnn or --student-arch cnn"),
    (["--arch", "cnn", "--conv-blocks", "5"], "--conv-blocks must be <= 4"),
])
def test_bad_input_is_one_clear_line_and_writes_nothing(flags, message, tmp_path):
    assert message in bad_input_message("ghost_logit_distill.py", flags, tmp_path)


def test_tiny_end_to_end_run_writes_json_and_figures_render(monkeypatch, tmp_path):
    monkeypatch.setattr(gl, "load_mnist", fake_mnist)
    folder = tmp_path / "ghost_logit"
    common = ["--n-epochs-teacher", "2", "--n-epochs-student", "2", "--n-noise", "512", "--hidden", "32",
              "--batch-size", "32", "--lr", "3e-3", "--quiet"]
    result = gl.main(common + ["--seeds", "0", "1", "--out", str(folder / "seeds.json")])
    gl.main(common + ["--sweep", "n_ghost=1,4", "--eval-on", "validation",
                      "--out", str(folder / "validation" / "validation_sweep_n_ghost.json")])
    saved = json.loads((folder / "seeds.json").read_text())
    assert saved["seeds"] == [0, 1] and saved["config"]["n_ghost"] == 3
    run = saved["groups"][0]["runs"][0]
    assert [h["epoch"] for h in run["history"]["same_init"]] == [1, 2]
    assert np.array(run["history"]["same_init"][-1]["confusion"]).sum() == 200
    assert set(run["metrics"]) == {"teacher", "same_init", "cross_init", "untrained", "same_init_untrained",
                                  "cross_init_untrained"}
    assert saved["environment"]["numpy"] == np.__version__
    assert saved["recipe_selection"] == {"protocol": runs.PROTOCOL, "choices": gl.RECIPE_SELECTION}
    assert result["groups"][0]["summary"]["teacher"]["mean"] > 0.8
    # Deterministic for a seed.
    again = gl.main(common + ["--seeds", "0", "--out", str(tmp_path / "again.json")])
    assert again["groups"][0]["runs"][0]["metrics"] == run["metrics"]

    visualize.main(["ghost_logit", "--results", str(folder)])
    make_gifs.main(["ghost_logit", "--results", str(folder)])
    for name in ("accuracy_per_epoch.png", "validation/validation_sweep_n_ghost.png", "seed_distribution.png",
                 "student_learns_from_noise.gif"):
        assert (folder / name).stat().st_size > 1000
    assert (folder / "student_learns_from_noise.gif").stat().st_size <= make_gifs.MAX_BYTES


def test_real_mnist_same_init_student_beats_cross_init(monkeypatch, tmp_path):
    monkeypatch.setenv("HINTON_DATA_DIR", real_data_dir("mnist"))
    result = gl.main(["--n-epochs-teacher", "2", "--n-epochs-student", "2", "--n-noise", "30000", "--seeds", "0", "1",
                      "--quiet", "--out", str(tmp_path / "r.json")])
    for run in result["groups"][0]["runs"]:
        metrics = run["metrics"]
        assert metrics["teacher"]["test_acc"] > 0.9
        assert metrics["same_init"]["test_acc"] > metrics["cross_init"]["test_acc"] + 0.2


def test_the_per_layer_map_reads_one_file_per_m_and_draws_its_heat_map(monkeypatch, tmp_path):
    """Each share_map_m<m>.json is a sweep over --share; the map has a row per condition (none: the cross-init
    student) and a column per m, m ascending; the figure renders from the JSON alone."""
    monkeypatch.setattr(gl, "load_mnist", fake_mnist)
    common = ["--n-epochs-teacher", "1", "--n-epochs-student", "1", "--n-noise", "256", "--hidden", "16", "--quiet",
              "--seeds", "0", "1", "--sweep", "share=" + ",".join(c for c in visualize.SHARE_CONDITIONS if c != "none")]
    results = {m: gl.main(common + ["--n-ghost", str(m), "--out", str(tmp_path / f"share_map_m{m}.json")])
               for m in (12, 2)}
    found = visualize.share_map(str(tmp_path))
    assert list(found) == [2, 12] and all(list(found[m]) == list(visualize.SHARE_CONDITIONS) for m in found)
    cross = [r["metrics"]["cross_init"]["test_acc"] for r in results[2]["groups"][0]["runs"]]
    assert list(found[2]["none"][0]) == cross
    heads = next(g for g in results[12]["groups"] if g["sweep_value"] == "heads")
    assert list(found[12]["heads"][1]) == [r["metrics"]["same_init_untrained"]["test_acc"] for r in heads["runs"]]
    table = visualize.share_map_table(found).splitlines()
    assert table[0] == "| layers shared with the teacher's initialisation | m = 2 | m = 12 |"
    assert table[2].startswith("| **all four layers (the default)** | **") and "**" not in "".join(table[3:])
    assert len(visualize.share_map_table(found, full=True).splitlines()) == 2 + 2 * len(visualize.SHARE_CONDITIONS)
    assert visualize.share_map_figure(found)[:4] == b"\x89PNG"


@pytest.mark.parametrize("same_init, verdict", [(None, None), (0.40, "also works"), (0.30, "hardly works")])
def test_the_readme_says_whether_the_cnn_student_learned_by_its_gain_over_its_untrained_start(
        monkeypatch, tmp_path, same_init, verdict):
    """The CNN's sentences appear once its reports exist, and say 'works' beyond the cross-init control's largest
    drift on validation (20 points here) over the untrained start (0.15 here)."""
    if same_init is not None:
        for name, _ in visualize.GHOST_CNN_REPORT:
            (tmp_path / name).write_text("{}")
    monkeypatch.setattr(visualize, "GHOST", str(tmp_path))
    monkeypatch.setattr(visualize, "summary_of", lambda folder, name, experiment: {
        "same_init": {"mean": same_init, "std": 0.01}, "untrained": {"mean": 0.15}, "cross_init": {"mean": 0.12}})
    monkeypatch.setattr(visualize, "cnn_control_drift", lambda: 20.0)
    text = visualize.ghost_cnn_headline()
    if verdict is None:
        assert text == ""
    else:
        assert f"{verdict} in the seed report's CNN" in text and f"{100 * same_init:.1f} ± 1.0 %" in text
        assert (f"shares only its heads (Learning Through Noise's case) reaches {100 * same_init:.1f} %, one that "
                f"shares nothing 12.0 %") in text


def test_the_cnn_line_for_working_is_the_largest_cross_init_drift_on_the_validation_runs(monkeypatch):
    """Seed by seed over every file of GHOST_CNN: the cross-init student's accuracy minus its untrained start."""
    def run(trained, untrained):
        return {"metrics": {"cross_init": {"test_acc": trained}, "cross_init_untrained": {"test_acc": untrained}}}

    files = {"a.json": [[run(0.12, 0.10), run(0.09, 0.11)]], "b.json": [[run(0.20, 0.139)], [run(0.10, 0.10)]]}
    monkeypatch.setattr(visualize, "GHOST_CNN", [(name, "") for name in files] + [("not-made.json", "")])
    monkeypatch.setattr(visualize, "existing", lambda folder, pairs: [p for p in pairs if p[0] in files])
    monkeypatch.setattr(visualize, "load", lambda folder, name, experiment: {
        "groups": [{"runs": runs} for runs in files[name]]})
    assert visualize.cnn_control_drift() == pytest.approx(6.1)
