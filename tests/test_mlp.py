"""Adam against hand-computed values, determinism, initialisation, and the data helpers."""

import numpy as np
import pytest

import mlp_numpy as mn


def textbook_adam(p, grads, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    """Kingma & Ba's Algorithm 1 in float64 (with torch.optim.Adam's L2 weight decay)."""
    p = p.astype(np.float64).copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return p


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_one_adam_step_by_hand(weight_decay):
    p = np.array([1.0, -2.0, 0.5, 0.0])
    g = np.array([0.1, 0.2, -0.3, 0.0])
    opt = mn.Adam(p, lr=0.01, weight_decay=weight_decay)
    opt.step(g.copy())
    # Step 1 by hand: m_hat = g', v_hat = g'^2, so p -= lr * g' / (|g'| + eps), g' = g + wd p.
    g_eff = g + weight_decay * np.array([1.0, -2.0, 0.5, 0.0])
    expected = np.array([1.0, -2.0, 0.5, 0.0]) - 0.01 * g_eff / (np.abs(g_eff) + 1e-8)
    assert np.allclose(p, expected, rtol=0, atol=1e-12)
    if weight_decay:
        assert p[0] == pytest.approx(1.0 - 0.01 * 0.2 / (0.2 + 1e-8), abs=1e-12)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_adam_matches_textbook_over_many_steps_and_blocks(weight_decay, monkeypatch):
    monkeypatch.setattr(mn.Adam, "BLOCK", 7)  # several blocks, one ragged
    rng = np.random.default_rng(0)
    start = rng.standard_normal(30)
    grads = [rng.standard_normal(30) for _ in range(150)]  # > FLUSH_EVERY steps
    p = start.copy()
    opt = mn.Adam(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    for g in grads:
        opt.step(g.copy())
    assert np.allclose(p, textbook_adam(start, grads, 3e-3, 0.8, 0.99, 1e-6, weight_decay), atol=1e-10)


def test_adam_float32_stays_float32_and_close_to_float64():
    rng = np.random.default_rng(1)
    start = rng.standard_normal(1000).astype(np.float32)
    grads = [rng.standard_normal(1000).astype(np.float32) for _ in range(20)]
    p = start.copy()
    opt = mn.Adam(p)
    for g in grads:
        opt.step(g.copy())
    assert p.dtype == np.float32 and opt.m.dtype == np.float32
    assert np.allclose(p, textbook_adam(start, grads), atol=1e-5)


def test_adam_flushes_vanishing_moments_to_zero():
    p = np.ones(3, np.float32)
    opt = mn.Adam(p)
    opt.step(np.array([1.0, 1.0, 1.0], np.float32))
    for _ in range(1000):  # zero gradient: m' decays by 0.9 a step, towards the denormals
        opt.step(np.zeros(3, np.float32))
    assert np.all(opt.m == 0)  # flushed, never left as a (slow) denormal
    assert np.all(opt.v > 0)   # v' decays by only 0.999 a step: still far above 1e-30


def train_a_few_steps(seed):
    rng = np.random.default_rng(seed)
    x = rng.random((64, 20), dtype=np.float32)
    y = rng.integers(0, 4, 64)
    net = mn.MLP([20, 16, 4], seed=seed)
    opt = mn.Adam(net.params, weight_decay=1e-4)
    for _ in range(3):
        for xb, yb in mn.minibatches((x, y), 10, rng):
            _, g = mn.cross_entropy(net.forward(xb), yb)
            net.backward(g)
            opt.step(net.grads)
    return net.params.copy()


def test_same_seed_same_weights_different_seed_different_weights():
    assert np.array_equal(train_a_few_steps(0), train_a_few_steps(0))
    assert not np.array_equal(train_a_few_steps(0), train_a_few_steps(1))


def test_training_reduces_loss():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)
    net = mn.MLP([10, 32, 4], seed=0)
    opt = mn.Adam(net.params, lr=1e-2)
    before = mn.cross_entropy(net.predict_logits(x), y)[0]
    for _ in range(30):
        for xb, yb in mn.minibatches((x, y), 32, rng):
            net.backward(mn.cross_entropy(net.forward(xb), yb)[1])
            opt.step(net.grads)
    assert mn.cross_entropy(net.predict_logits(x), y)[0] < 0.3 * before
    assert net.accuracy(x, y) > 0.9


def test_he_initialisation_and_zero_biases():
    net = mn.MLP([1000, 500, 10], seed=0)
    assert net.params.dtype == np.float32
    assert net.W[0].shape == (1000, 500) and net.b[1].shape == (10,)
    assert net.W[0].std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    assert net.W[1].std() == pytest.approx(np.sqrt(2 / 500), rel=0.05)
    assert not net.b[0].any() and not net.b[1].any()
    # W and b are views into the one flat vector that Adam updates.
    net.params[:] = 0
    assert not net.W[0].any()


def test_uniform_initialisation_is_pytorchs_linear_default():
    """Weights and biases uniform in +-1/sqrt(fan_in), as torch.nn.Linear.reset_parameters draws them."""
    net = mn.MLP([1000, 500, 10], seed=0, init="uniform")
    for W, b in zip(net.W, net.b):
        bound = 1 / np.sqrt(W.shape[0])
        assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
        assert W.std() == pytest.approx(bound / np.sqrt(3), rel=0.05) and b.any()
    for given in (None, np.zeros(10, np.float32)):  # checked whether the layers are drawn or copied
        with pytest.raises(ValueError, match="init 'xavier'"):
            mn.MLP([4, 2], init="xavier", init_params=given)


def test_init_params_copies_given_weights():
    teacher = mn.MLP([8, 6, 3], seed=5)
    initial = teacher.params.copy()
    student = mn.MLP([8, 6, 3], init_params=initial)
    assert np.array_equal(student.params, initial)
    teacher.params += 1  # training the teacher later must not move the student
    assert np.array_equal(student.params, initial)
    with pytest.raises(ValueError, match="init_params"):
        mn.MLP([8, 7, 3], init_params=initial)


def test_invalid_sizes_rejected():
    for sizes in ([784], [784, 0, 10], []):
        with pytest.raises(ValueError):
            mn.MLP(sizes)


def test_predict_logits_matches_forward_and_is_a_fresh_array():
    net = mn.MLP([6, 5, 4], seed=0)
    x = np.random.default_rng(0).random((25, 6), dtype=np.float32)
    full = net.predict_logits(x, batch_size=7)
    assert np.allclose(full, net.forward(x).copy(), atol=1e-6)
    before = full.copy()
    net.forward(x[:7] * 2)
    assert np.array_equal(full, before)


def test_minibatches_cover_every_example_once_and_are_seeded():
    x = np.arange(23 * 2).reshape(23, 2).astype(np.float32)
    y = np.arange(23)
    seen = [yb.copy() for _, yb in mn.minibatches((x, y), 5, np.random.default_rng(0))]
    assert [len(b) for b in seen] == [5, 5, 5, 5, 3]
    assert sorted(np.concatenate(seen)) == list(range(23))
    again = [yb.copy() for _, yb in mn.minibatches((x, y), 5, np.random.default_rng(0))]
    assert all(np.array_equal(a, b) for a, b in zip(seen, again))
    for xb, yb in mn.minibatches((x, y), 5, np.random.default_rng(1)):
        assert np.array_equal(xb[:, 0], 2 * yb)  # rows stay paired with their labels


def test_jitter_shifts_within_range_and_keeps_mass():
    rng = np.random.default_rng(0)
    images = np.zeros((200, 28, 28), np.float32)
    images[:, 10:18, 9:19] = rng.random((200, 8, 10))  # content away from the border
    flat = images.reshape(200, 784)
    out = mn.jitter(flat, 2, np.random.default_rng(1))
    assert out.shape == flat.shape and out.dtype == np.float32
    assert np.allclose(out.sum(axis=1), flat.sum(axis=1))
    shifts = set()
    for before, after in zip(images, out.reshape(200, 28, 28)):
        match = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(np.roll(before, (dy, dx), axis=(0, 1)), after)]
        assert len(match) == 1
        shifts.add(match[0])
    assert len(shifts) == 25  # every shift in [-2, 2]^2 occurs
    assert np.array_equal(out, mn.jitter(flat, 2, np.random.default_rng(1)))
    assert np.array_equal(mn.jitter(flat, 0, rng), flat)


def test_affine_keeps_shape_and_range_is_seeded_and_is_the_identity_at_zero():
    rng = np.random.default_rng(0)
    images = rng.random((50, 784), dtype=np.float32)
    assert np.array_equal(mn.affine(images, 0, 0, rng), images)
    out = mn.affine(images, 60, 4, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.array_equal(out, mn.affine(images, 60, 4, np.random.default_rng(1)))
    assert not np.allclose(out, images)
    # With the largest draw (+max_degrees, +max_shift): a 90-degree turn of a centred vertical bar is
    # the horizontal bar, and a shift moves the content and fills from outside with ``fill``.
    largest = type("Largest", (), {"uniform": staticmethod(lambda low, high, size: np.full(size, float(high)))})()
    bar = np.zeros((28, 28), np.float32)
    bar[4:24, 13:15] = 1
    assert np.allclose(mn.affine(bar.reshape(1, -1), 90, 0, largest).reshape(28, 28), bar.T, atol=1e-5)
    shifted = mn.affine(bar.reshape(1, -1), 0, 2, largest, fill=-1.0).reshape(28, 28)
    assert np.allclose(shifted[2:, 2:], bar[:-2, :-2]) and np.all(shifted[:2] == -1) and np.all(shifted[:, :2] == -1)


def test_affine_matches_a_pixel_by_pixel_bilinear_reference():
    """Each image with its own draw: output pixel (r, c) samples the source at the rotated and
    shifted point, weighting its four neighbours, ``fill`` off the image."""
    rng = np.random.default_rng(2)
    images = rng.random((4, 784), dtype=np.float32)
    out = mn.affine(images, 40, 3, np.random.default_rng(5), fill=-1.0)
    draws = np.random.default_rng(5)
    angles = np.deg2rad(draws.uniform(-40, 40, 4))
    shifts_y, shifts_x = draws.uniform(-3, 3, (2, 4))

    def pixel(image, i, j):
        return image[i, j] if 0 <= i < 28 and 0 <= j < 28 else -1.0
    for image, result, angle, dy, dx in zip(images.reshape(4, 28, 28), out.reshape(4, 28, 28), angles,
                                            shifts_y, shifts_x):
        for r in range(28):
            for c in range(28):
                y, x = r - 13.5 - dy, c - 13.5 - dx
                sy = np.cos(angle) * y + np.sin(angle) * x + 13.5
                sx = -np.sin(angle) * y + np.cos(angle) * x + 13.5
                i, j = int(np.floor(sy)), int(np.floor(sx))
                a, b = sy - i, sx - j
                want = ((1 - a) * ((1 - b) * pixel(image, i, j) + b * pixel(image, i, j + 1))
                        + a * ((1 - b) * pixel(image, i + 1, j) + b * pixel(image, i + 1, j + 1)))
                assert result[r, c] == pytest.approx(want, abs=1e-5)


def test_max_norm_caps_every_units_incoming_weights_after_each_step():
    net = mn.MLP([20, 16, 4], seed=1)
    net.W[0][:, :3] *= 10  # three units start far over the cap
    untouched = net.W[0][:, 3:].copy()
    opt = mn.Adam(net.params, lr=0.05)
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((64, 20)).astype(np.float32), rng.integers(0, 4, 64)
    for step in range(20):
        if step == 0:
            mn.max_norm(net, 3.0)
            assert np.array_equal(net.W[0][:, 3:], untouched)  # units under the cap are left alone
            assert np.allclose(np.linalg.norm(net.W[0][:, :3], axis=0), 3.0, rtol=1e-5)  # the rest scaled to it
        _, grad = mn.cross_entropy(net.forward(x), labels)
        net.backward(grad)
        opt.step(net.grads)
        mn.max_norm(net, 3.0)
        for W in net.W:
            assert np.linalg.norm(W, axis=0).max() <= 3.0 * (1 + 1e-6)
