"""Every loss gradient and the MLP backward pass against central finite differences (float64)."""

import numpy as np
import pytest

import mlp_numpy as mn
from conftest import assert_close, numerical_grad

RNG = np.random.default_rng(1234)


def test_cross_entropy_gradient():
    logits = RNG.standard_normal((5, 7))
    labels = RNG.integers(0, 7, 5)
    _, grad = mn.cross_entropy(logits, labels)
    assert_close(grad, numerical_grad(lambda: mn.cross_entropy(logits, labels)[0], logits))


@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
def test_distillation_loss_gradient(temperature):
    logits = RNG.standard_normal((4, 6)) * 3
    targets = mn.softmax(RNG.standard_normal((4, 6)) * 2, 1.5)
    targets[0] = np.eye(6)[2]  # a one-hot row exercises 0 log 0
    loss, grad = mn.distillation_loss(logits, targets, temperature)
    f = lambda: mn.distillation_loss(logits, targets, temperature)[0]  # noqa: E731
    assert_close(grad, numerical_grad(f, logits))
    assert loss >= 0


def test_distillation_loss_is_zero_at_match_and_has_t_squared_scale():
    logits = RNG.standard_normal((3, 5))
    loss, grad = mn.distillation_loss(logits, mn.softmax(logits, 4.0), 4.0)
    assert abs(loss) < 1e-12 and np.abs(grad).max() < 1e-12
    # KL at temperature T carries the factor T^2 relative to the plain KL of the same distributions.
    p, q = mn.softmax(logits), mn.softmax(RNG.standard_normal((3, 5)))
    plain = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))
    assert mn.distillation_loss(np.log(q) * 3.0, p, 3.0)[0] == pytest.approx(9.0 * plain)


def test_mse_gradient():
    logits, targets = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    loss, grad = mn.mse_loss(logits, targets)
    assert loss == pytest.approx(np.mean((logits - targets) ** 2))
    assert_close(grad, numerical_grad(lambda: mn.mse_loss(logits, targets)[0], logits))


def test_standardized_mse_gradient_and_scale_invariance():
    logits, targets = RNG.standard_normal((5, 3)) * 4, RNG.standard_normal((5, 3))
    loss, grad = mn.standardized_mse_loss(logits, targets)
    assert_close(grad, numerical_grad(lambda: mn.standardized_mse_loss(logits, targets)[0], logits))
    # Matching is up to a per-row shift and (positive) scale of the targets.
    assert mn.standardized_mse_loss(targets * 7 + 3, targets)[0] < 1e-6


def test_standardize_backward_through_an_arbitrary_function():
    x = RNG.standard_normal((4, 6))
    weights = RNG.standard_normal((4, 6))
    z, std = mn.standardize(x)
    assert np.allclose(z.mean(axis=1), 0) and np.allclose((z * z).mean(axis=1), 1, atol=1e-3)
    numeric = numerical_grad(lambda: np.sum(weights * np.sin(mn.standardize(x)[0])), x)
    assert_close(mn.standardize_backward(weights * np.cos(z), z, std), numeric)


def test_group_logsumexp_value_and_gradient():
    logits = RNG.standard_normal((4, 10)) * 2
    groups = np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    grouped, within = mn.group_logsumexp(logits, groups)
    assert np.allclose(grouped[:, 0], np.log(np.exp(logits[:, :5]).sum(axis=1)))
    # within[b, g, j] is d grouped[b, g] / d logits[b, groups[g, j]]: check one direction.
    weights = RNG.standard_normal(grouped.shape)
    numeric = numerical_grad(lambda: np.sum(weights * mn.group_logsumexp(logits, groups)[0]), logits)
    analytic = np.zeros_like(logits)
    analytic[:, groups] = weights[:, :, None] * within
    assert_close(analytic, numeric)


def test_grouped_cross_entropy_gradient():
    logits = RNG.standard_normal((6, 10))
    groups = np.array([[0, 3, 5, 7, 9], [1, 2, 4, 6, 8]])  # groups need not be contiguous
    labels = RNG.integers(0, 2, 6)
    _, grad = mn.grouped_cross_entropy(logits, labels, groups)
    f = lambda: mn.grouped_cross_entropy(logits, labels, groups)[0]  # noqa: E731
    assert_close(grad, numerical_grad(f, logits))


def test_losses_are_stable_for_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [-5e4, 5e4, 1.0]], np.float32)
    labels = np.array([1, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = mn.cross_entropy(logits, labels)
        kl, kl_grad = mn.distillation_loss(logits, mn.softmax(logits[::-1]), 1.0)
        grouped, _ = mn.group_logsumexp(logits, np.array([[0, 1], [1, 2]]))
    assert np.isfinite([loss, kl]).all() and np.isfinite(grad).all() and np.isfinite(kl_grad).all()
    assert loss == pytest.approx((2000 + 1e5) / 2, rel=1e-6)
    assert np.isfinite(grouped).all()


@pytest.mark.parametrize("sizes", [[6, 5, 3], [7, 6, 5, 4], [4, 3]])
def test_mlp_backward_all_parameters_and_input(sizes):
    net = mn.MLP(sizes, seed=3, dtype=np.float64)
    net.params += RNG.standard_normal(net.params.shape) * 0.1  # nonzero biases too
    x = RNG.standard_normal((5, sizes[0]))
    labels = RNG.integers(0, sizes[-1], 5)

    def loss():
        return mn.cross_entropy(net.forward(x), labels)[0]

    _, dlogits = mn.cross_entropy(net.forward(x), labels)
    dx = net.backward(dlogits, input_grad=True).copy()
    analytic = net.grads.copy()
    assert_close(analytic, numerical_grad(loss, net.params), tol=1e-5)
    assert_close(dx, numerical_grad(loss, x), tol=1e-5)
    # Every layer's W and b really received a gradient.
    for dW, db in zip(net.dW, net.db):
        assert np.abs(dW).max() > 0 and np.abs(db).max() > 0


def test_backward_without_input_grad_returns_none_and_same_param_grads():
    net = mn.MLP([5, 4, 3], seed=0, dtype=np.float64)
    x = RNG.standard_normal((3, 5))
    net.forward(x)
    g = RNG.standard_normal((3, 3))
    assert net.backward(g) is None
    first = net.grads.copy()
    net.forward(x)
    net.backward(g, input_grad=True)
    assert np.array_equal(first, net.grads)


def test_mlp_backward_with_dropout():
    """With a fixed dropout mask (same rng seed each forward), backward is the exact gradient."""
    net = mn.MLP([6, 8, 7, 3], seed=4, dtype=np.float64)
    net.params += RNG.standard_normal(net.params.shape) * 0.1
    x = RNG.standard_normal((5, 6))
    labels = RNG.integers(0, 3, 5)

    def loss():
        return mn.cross_entropy(net.forward(x, dropout=0.4, rng=np.random.default_rng(11)), labels)[0]

    _, dlogits = mn.cross_entropy(net.forward(x, dropout=0.4, rng=np.random.default_rng(11)), labels)
    dx = net.backward(dlogits, input_grad=True).copy()
    analytic = net.grads.copy()
    assert_close(analytic, numerical_grad(loss, net.params), tol=1e-5)
    assert_close(dx, numerical_grad(loss, x), tol=1e-5)
    # Some hidden units really were dropped, and the survivors scaled by 1 / (1 - p).
    hidden_train = net.activations[0].copy()
    net.forward(x)
    hidden_eval = net.activations[0]
    dropped = (hidden_train == 0) & (hidden_eval > 0)
    assert dropped.any()
    kept = hidden_train > 0
    assert np.allclose(hidden_train[kept], hidden_eval[kept] / 0.6)


def test_input_dropout_backward_through_a_fixed_mask():
    """Input dropout is ``x * mask``: the parameter gradients see the dropped inputs, and the
    gradient reaching the pixels is the network's input gradient times the same mask."""
    net = mn.MLP([6, 8, 3], seed=2, dtype=np.float64)
    net.params += RNG.standard_normal(net.params.shape) * 0.1
    x = RNG.standard_normal((5, 6))
    labels = RNG.integers(0, 3, 5)
    mask = mn.dropout_mask(x.shape, 0.3, np.random.default_rng(7), np.float64)
    assert set(np.unique(mask)) == {0.0, 1 / 0.7}

    def loss():
        return mn.cross_entropy(net.forward(x * mask), labels)[0]

    _, dlogits = mn.cross_entropy(net.forward(x * mask), labels)
    dx = net.backward(dlogits, input_grad=True) * mask
    analytic = net.grads.copy()
    assert_close(analytic, numerical_grad(loss, net.params), tol=1e-5)
    assert_close(dx, numerical_grad(loss, x), tol=1e-5)
    assert not dx[mask == 0].any()
