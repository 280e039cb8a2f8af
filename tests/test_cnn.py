"""The numpy CNN: each layer's forward against a direct loop, every gradient against central finite
differences (float64), max-pooling's tie rule, seeding, and (where PyTorch is installed) PyTorch."""

import numpy as np
import pytest

import cnn_numpy as cn
import mlp_numpy as mn
from conftest import assert_close, numerical_grad, real_data_dir
from mnist_data import load_mnist

RNG = np.random.default_rng(4321)


def direct_conv(x, W, b, k):
    """The convolution as its definition: a loop over output positions and kernel offsets."""
    n, h, w, c_in = x.shape
    kernel = W.reshape(k, k, c_in, -1)
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    out = np.zeros((n, h, w, kernel.shape[-1])) + b
    for i in range(h):
        for j in range(w):
            for dy in range(k):
                for dx in range(k):
                    out[:, i, j] += padded[:, i + dy, j + dx] @ kernel[dy, dx]
    return out


@pytest.mark.parametrize("shape, c_out, k", [((2, 5, 5, 1), 3, 3), ((2, 6, 4, 3), 2, 3), ((1, 7, 6, 2), 4, 5)])
def test_convolution_matches_its_definition(shape, c_out, k):
    x = RNG.standard_normal(shape)
    W, b = RNG.standard_normal((k * k * shape[-1], c_out)), RNG.standard_normal(c_out)
    assert np.allclose(cn.conv2d(x, W, b, k), direct_conv(x, W, b, k))


def test_the_convolution_input_gradient_is_the_adjoint_of_im2col():
    """<im2col(x) @ W, g> = <x, input gradient of g>: each offset's GEMM adds back where its patch came from."""
    padded, W = RNG.standard_normal((2, 7, 6, 3)), RNG.standard_normal((27, 4))
    g = RNG.standard_normal((2, 5, 4, 4))
    z = cn.im2col(padded, 3).reshape(-1, 27) @ W
    d_padded = cn.convolution_input_gradient(g, W, 3, np.empty_like(padded), np.empty((2, 5, 4, 3)))
    assert np.isclose(np.sum(z * g.reshape(-1, 4)), np.sum(padded * d_padded))


def direct_max_pool(z, p):
    n, h, w, c = z.shape
    ho, wo = h // p, w // p
    return z[:, :ho * p, :wo * p].reshape(n, ho, p, wo, p, c).max(axis=(2, 4))


def pool(z, p, argmax=None):
    """max_pool of an image-order batch, through the window order the CNN's convolutions write."""
    return cn.max_pool(np.ascontiguousarray(cn.window_order(z, p)), argmax=argmax)


def pool_and_gradient(z, p, d_pooled):
    argmax = np.empty(d_pooled.shape, np.uint8)
    pooled = pool(z, p, argmax)
    windows = cn.max_pool_backward(d_pooled, argmax, np.empty(cn.window_order(z, p).shape))
    grad = np.zeros_like(z)  # rows and columns the pool drops get no gradient
    np.copyto(cn.window_order(grad, p), windows)
    return pooled, grad


@pytest.mark.parametrize("shape, p", [((2, 4, 4, 3), 2), ((1, 5, 7, 2), 2), ((2, 8, 8, 1), 4), ((1, 7, 7, 2), 3)])
def test_max_pool_forward_and_gradient(shape, p):
    z = RNG.standard_normal(shape)
    weights = RNG.standard_normal((shape[0], shape[1] // p, shape[2] // p, shape[3]))
    pooled, grad = pool_and_gradient(z, p, weights)
    assert np.array_equal(pooled, direct_max_pool(z, p))
    assert_close(grad, numerical_grad(lambda: np.sum(weights * pool(z, p)), z))


def test_max_pool_sends_a_tie_to_the_first_position_in_raster_order():
    z = np.zeros((1, 4, 4, 1))
    z[0, 0, 2:4, 0] = z[0, 1, 2:4, 0] = -1.0  # window 2: all four tied at -1
    z[0, 0:2, 0:2, 0] = [[0.0, 2.0], [2.0, 1.0]]  # window 1: (0, 1) and (1, 0) tied at the maximum
    z[0, 2:4, 0:2, 0] = [[1.0, 0.0], [0.0, 3.0]]  # window 3: one maximum, last in raster order
    d = np.arange(1.0, 5.0).reshape(1, 2, 2, 1)
    grad = pool_and_gradient(z, 2, d)[1][0, :, :, 0]
    expected = np.zeros((4, 4))
    expected[0, 1], expected[0, 2], expected[3, 1] = 1.0, 2.0, 3.0  # window 4 (all 0): its top-left
    expected[2, 2] = 4.0
    assert np.array_equal(grad, expected)


ARCHITECTURES = [  # (layers, image shape): odd and even sizes, a pool that drops a row, 1-3 channels
    (("conv3",), (5, 5, 1)),
    (("conv4", "pool2", "conv2", "fc5"), (6, 6, 2)),
    (("conv2", "pool3", "fc3", "fc4"), (7, 8, 3)),
    (("conv3", "conv2", "pool2"), (5, 4, 1)),
    (("fc6",), (3, 3, 2)),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layers, image_shape", ARCHITECTURES)
def test_network_gradients_match_finite_differences(layers, image_shape, threads):
    """With two threads each convolution runs on two halves of the batch (5 examples: 2 and 3)."""
    net = cn.CNN(layers, n_outputs=4, image_shape=image_shape, seed=3, dtype=np.float64, threads=threads)
    net.params += 0.1 * RNG.standard_normal(net.params.shape)  # nonzero biases too
    x = RNG.standard_normal((5, int(np.prod(image_shape))))
    weights = RNG.standard_normal((5, 4))

    def loss():
        return float(np.sum(weights * net.forward(x)))

    loss()
    dx = net.backward(weights, input_grad=True)
    grads = net.grads.copy()
    assert_close(grads, numerical_grad(loss, net.params))
    assert_close(dx, numerical_grad(loss, x))
    loss()
    assert net.backward(weights) is None and np.array_equal(net.grads, grads)


@pytest.mark.parametrize("threads", [1, 2])
def test_backward_with_dropout_through_a_fixed_mask(threads):
    """With the same dropout masks (the same rng seed each forward), backward is the exact gradient; units of
    every block and hidden layer really are dropped, the survivors scaled by 1 / (1 - p), and the masks do not
    depend on the thread count."""
    layers, image_shape = ("conv4", "pool2", "conv3", "fc5"), (6, 6, 2)
    nets = [cn.CNN(layers, n_outputs=3, image_shape=image_shape, seed=2, dtype=np.float64, threads=t)
            for t in (threads, 1)]
    shift = 0.1 * RNG.standard_normal(nets[0].params.shape)  # nonzero biases too
    for net in nets:
        net.params += shift
    net = nets[0]
    x, labels = RNG.standard_normal((5, 72)), RNG.integers(0, 3, 5)

    def logits(net=net):
        return net.forward(x, dropout=0.4, rng=np.random.default_rng(11))

    def loss():
        return mn.cross_entropy(logits(), labels)[0]

    dx = net.backward(mn.cross_entropy(logits(), labels)[1], input_grad=True)
    assert_close(net.grads.copy(), numerical_grad(loss, net.params), tol=1e-5)
    assert_close(dx, numerical_grad(loss, x), tol=1e-5)
    assert np.array_equal(logits(), logits(nets[1]))
    trained = [a.copy() for a in net.activations[:-1]]
    rng = np.random.default_rng(11)  # the masks, drawn again in the network's order
    masks = [mn.dropout_mask(a.shape, 0.4, rng, np.float64) for a in trained]
    for train, mask in zip(trained, masks):
        assert 0 < np.mean(mask == 0) < 1 and np.all(train[mask == 0] == 0)
    net.forward(x)
    assert np.allclose(trained[0], net.activations[0] * masks[0])  # the first block's survivors scaled by 1/0.6


def test_whole_network_loss_gradient_with_the_experiments_loss():
    net = cn.CNN(("conv3", "pool2", "fc6"), n_outputs=5, image_shape=(6, 6, 1), seed=1, dtype=np.float64)
    x, labels = RNG.standard_normal((4, 36)), RNG.integers(0, 5, 4)

    def loss():
        return mn.cross_entropy(net.forward(x), labels)[0]

    net.backward(mn.cross_entropy(net.forward(x), labels)[1])
    assert_close(net.grads.copy(), numerical_grad(loss, net.params))


def test_pooling_before_the_relu_computes_relu_then_pool():
    """The CNN adds the bias and applies the ReLU after pooling; the textbook order gives the same values."""
    net = cn.CNN(("conv4", "pool2", "fc3"), n_outputs=2, image_shape=(6, 6, 1), seed=2, dtype=np.float64)
    net.b[0][...] = RNG.standard_normal(4)
    x = RNG.standard_normal((2, 36))
    net.forward(x)
    textbook = direct_max_pool(np.maximum(direct_conv(x.reshape(2, 6, 6, 1), net.W[0], net.b[0], 3), 0), 2)
    assert np.allclose(net.activations[0], textbook)


def test_the_seed_reports_network_and_its_interface():
    net = cn.CNN(n_outputs=13)
    assert [W.shape for W in net.W] == [(9, 32), (288, 64), (3136, 128), (128, 13)]
    assert net.params.dtype == np.float32 and net.params.size == 422029
    assert all(np.shares_memory(W, net.params) for W in net.W)
    x = RNG.random((5, 784), dtype=np.float32)
    logits = net.forward(x)
    assert logits.shape == (5, 13) and net.activations[-2].shape == (5, 128)
    assert np.allclose(net.predict_logits(x, batch_size=2), logits, atol=1e-5)  # GEMM blocking: round-off
    copy = cn.CNN(n_outputs=13, init_params=net.params)
    assert np.array_equal(copy.params, net.params) and not np.shares_memory(copy.params, net.params)


def test_each_layer_is_drawn_from_its_own_seed():
    a = cn.CNN(n_outputs=13, seed=[1, 2, 3, 4])
    b = cn.CNN(n_outputs=13, seed=[1, 9, 9, 4])
    assert np.array_equal(a.W[0], b.W[0]) and np.array_equal(a.W[3], b.W[3])
    assert not np.array_equal(a.W[1], b.W[1])
    # One integer seed: layer i's draw depends on (seed, i) and its shape only.
    assert np.array_equal(cn.CNN(seed=5).W[0], cn.CNN(("conv32", "fc7"), seed=5).W[0])
    assert not np.array_equal(cn.CNN(seed=5).W[0], cn.CNN(seed=6).W[0])
    assert np.all(a.params[a.W[0].size:a.W[0].size + 32] == 0)  # zero biases


def test_he_and_uniform_initialisations():
    """He: normal weights of std sqrt(2 / fan_in), zero biases; uniform (PyTorch's default): weights and biases
    in +-1/sqrt(fan_in), spread over the whole range; the same layer seed gives the same draw either way."""
    he, uniform = cn.CNN(seed=7), cn.CNN(seed=7, init="uniform")
    for W, b, W_u, b_u in zip(he.W, he.b, uniform.W, uniform.b):
        bound = 1 / np.sqrt(W.shape[0])
        assert np.std(W) == pytest.approx(np.sqrt(2) * bound, rel=0.1) and np.all(b == 0)
        assert np.abs(W_u).max() <= bound and np.abs(W_u).max() > 0.9 * bound
        assert np.abs(b_u).max() <= bound and np.abs(b_u).max() > 0.5 * bound
    assert np.array_equal(uniform.params, cn.CNN(seed=7, init="uniform").params)
    for given in (None, he.params):  # checked whether the layers are drawn or copied
        with pytest.raises(ValueError, match="init 'xavier': choose from he, uniform"):
            cn.CNN(init="xavier", init_params=given)


def test_threads_split_the_batch_without_changing_the_results():
    """Two threads give the one-thread logits and gradients up to the order of the weight gradient's sum,
    and the same bits run after run."""
    x, weights = RNG.random((64, 784), dtype=np.float32), RNG.standard_normal((64, 13)).astype(np.float32)
    grads = {}
    for threads in (1, 2, 2):
        net = cn.CNN(seed=4, threads=threads)
        logits = net.forward(x)
        net.backward(weights)
        grads.setdefault(threads, []).append((logits, net.grads.copy()))
    (one_logits, one_grads), = grads[1]
    (two_logits, two_grads), (again_logits, again_grads) = grads[2]
    assert np.allclose(two_logits, one_logits, rtol=1e-5, atol=1e-6)
    assert np.allclose(two_grads, one_grads, rtol=1e-4, atol=1e-5)
    assert np.array_equal(two_logits, again_logits) and np.array_equal(two_grads, again_grads)


def test_training_is_deterministic_and_learns():
    """Two runs from one seed agree bit for bit; Adam on CNN.params fits a small separable task."""
    x = RNG.standard_normal((64, 64)).astype(np.float32)
    labels = (x.reshape(64, 8, 8)[:, :4].sum(axis=(1, 2)) > 0).astype(int)

    def train():
        net = cn.CNN(("conv4", "pool2", "fc8"), n_outputs=2, image_shape=(8, 8, 1), seed=7)
        opt, losses = mn.Adam(net.params, lr=3e-3), []
        for _ in range(60):
            loss, grad = mn.cross_entropy(net.forward(x), labels)
            net.backward(grad)
            opt.step(net.grads)
            losses.append(loss)
        return net.params.copy(), losses

    (params, losses), (again, _) = train(), train()
    assert np.array_equal(params, again)
    assert losses[-1] < 0.3 * losses[0]


def test_a_training_step_of_batch_256_and_evaluation_stay_under_500_mb():
    """numpy reports its allocations to tracemalloc: the peak of everything one step and a predict hold."""
    import tracemalloc
    tracemalloc.start()
    net = cn.CNN(n_outputs=13)
    opt = mn.Adam(net.params)
    x, labels = RNG.random((256, 784), dtype=np.float32), RNG.integers(0, 13, 256)
    for _ in range(2):
        net.backward(mn.cross_entropy(net.forward(x), labels)[1])
        opt.step(net.grads)
    net.predict_logits(RNG.random((600, 784), dtype=np.float32))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 500e6, f"{peak / 1e6:.0f} MB"


@pytest.mark.parametrize("layers, message", [
    (("conv32", "fc10", "conv3"), "before the fully connected"),
    (("pool2", "conv3"), "must follow a convolution"),
    (("conv3", "pool2", "pool2"), "must follow a convolution"),
    (("conv3", "pool30"), "smaller than the pool"),
    (("conv0",), "expected convN"),
    (("dense5",), "expected convN"),
])
def test_bad_layer_lists_are_one_clear_error(layers, message):
    with pytest.raises(ValueError, match=message):
        cn.CNN(layers)


def test_agrees_with_pytorch():
    """Forward and every gradient against torch.nn.functional's conv2d and max_pool2d (float32 round-off)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    net = cn.CNN(n_outputs=13, seed=0)
    net.params += 0.01 * RNG.standard_normal(net.params.shape).astype(np.float32)
    x = RNG.random((6, 784), dtype=np.float32)
    weights = RNG.standard_normal((6, 13)).astype(np.float32)
    logits = net.forward(x)
    net.backward(weights)

    tensors = [torch.tensor(p, requires_grad=True) for pair in zip(net.W, net.b) for p in pair]
    conv_weights = [torch.tensor(0.0)] * 2
    h = torch.tensor(x).reshape(6, 28, 28, 1).permute(0, 3, 1, 2)
    for i in range(2):
        W, b = tensors[2 * i], tensors[2 * i + 1]
        conv_weights[i] = W.reshape(3, 3, -1, W.shape[1]).permute(3, 2, 0, 1)  # (out, in, kh, kw)
        h = F.max_pool2d(F.relu(F.conv2d(h, conv_weights[i], b, padding=1)), 2)
    h = h.permute(0, 2, 3, 1).reshape(6, -1)  # flatten in NHWC order, as the numpy CNN does
    h = F.relu(h @ tensors[4] + tensors[5])
    out = h @ tensors[6] + tensors[7]
    (out * torch.tensor(weights)).sum().backward()
    assert np.allclose(logits, out.detach().numpy(), atol=1e-4)
    for analytic, reference in zip([g for pair in zip(net.dW, net.db) for g in pair], tensors):
        assert np.allclose(analytic, reference.grad.numpy(), atol=1e-3, rtol=1e-3)


def test_real_mnist_one_short_epoch_reaches_97_percent():
    """The seed report's network, one pass over 30,000 training images (batch 64, Adam lr 1e-3, pixels in
    [0, 1]): at least 97 % of the test set (98.0 % when written, 12 s on two cores)."""
    x_train, y_train, x_test, y_test = load_mnist("mnist", real_data_dir("mnist"), download=False)
    net = cn.CNN(n_outputs=10, seed=0)
    opt = mn.Adam(net.params, lr=1e-3)
    for xb, yb in mn.minibatches((x_train[:30000], y_train[:30000]), 64, np.random.default_rng(0)):
        net.backward(mn.cross_entropy(net.forward(xb), yb)[1])
        opt.step(net.grads)
    assert net.accuracy(x_test, y_test) >= 0.97
