"""The shared numpy CNN: convolution, max-pooling and fully connected layers, hand-written backward pass.

The same interface as ``mlp_numpy.MLP``, so ``Adam``, the losses and the experiments' training loops take
either network unchanged: one flat float32 parameter vector and one gradient vector with each layer's
weights ``W`` and biases ``b`` as views into them, ``forward`` / ``backward`` / ``predict_logits`` on flat
(batch, 784) inputs, ``activations[-2]`` the last hidden layer, He initialisation from a seed, and
``init_params`` to start from another network's values.

How it is computed, and why (each choice measured against the alternative on a 2-core Xeon with
OpenBLAS, a training step of batch 256; ``bench_mlp.py --workloads W5`` times whole epochs against
PyTorch):

* Layout NHWC: a 3x3 patch of an NHWC image is 3 runs of 3*C contiguous floats, so ``im2col`` is one
  copy from a strided view, and the convolution is ONE GEMM, (N*H*W, 9*C_in) @ (9*C_in, C_out).
* The patches come in the order of the pooling windows that follow (``window_order``), so the GEMM's
  output holds each window's p*p positions as p*p contiguous blocks and pooling, forward and
  backward, runs over contiguous memory.
* A convolution followed by max-pooling pools first, then adds the bias and applies the ReLU:
  max(relu(z + b)) = relu(max(z) + b) because both are monotonic, so the elementwise work runs on a
  quarter of the values.  Max-pooling keeps each window's winner as an index; its backward sends the
  gradient to the first position, in raster order, that holds the maximum (PyTorch's rule), so a tie
  sends the whole gradient to one input, never splits it.
* A convolution's input gradient is nine GEMMs, one per kernel offset, each added to the input along
  whole image rows (``convolution_input_gradient``).
* Each layer runs on as many slices of the batch as BLAS has threads, at once, with a one-thread BLAS
  (``in_parts``): OpenBLAS threads only the GEMMs, and its spinning worker would leave the copies,
  comparisons and pooling between them one core.
* All big arrays (patches, convolution outputs, masks, gradients) live in buffers made once per batch
  size and reused through numpy's ``out=`` arguments, as in the MLP.

Shapes: a convolution's W is (k*k*C_in, C_out), rows in (dy, dx, c) order; a fully connected layer's W
is (fan_in, fan_out) as in the MLP, the first one's rows in the flattened NHWC (h, w, c) order.
"""

import contextlib
import functools
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mlp_numpy import MLP, dropout_mask, relu_dropout_backward

def doubling_blocks(n, filters=32):
    """``n`` blocks of a 3x3 convolution and a 2x2 max-pool, the filters doubling from ``filters`` (32, 64, 128,
    ...): the seed report's text describes two, its code has three."""
    return tuple(layer for i in range(n) for layer in (f"conv{filters * 2 ** i}", "pool2"))


# The seed report's network (MSML640): two 3x3 convolutions of 32 and 64 filters, each with a ReLU and a
# 2x2 max-pool, a 128-unit fully connected layer, then the output layer (10 classes + 3 ghost logits).
SEED_REPORT_LAYERS = doubling_blocks(2) + ("fc128",)
LAYER_SPEC = re.compile(r"(conv|pool|fc)([1-9][0-9]*)$")


def parse_layers(layers, image_shape):
    """A layer list ("conv32", "pool2", "fc128", ...) as blocks, checked against the image shape.

    Each convolution (3x3, stride 1, padding 1, ReLU) takes the pool that follows it into its block;
    fully connected layers (ReLU) come after every convolution.  Returns (conv blocks as
    (c_in, c_out, height, width, pool) tuples, hidden widths of the fully connected layers, the
    flattened size that enters the first of them).  ValueError names the first bad entry."""
    height, width, channels = image_shape
    convs, hidden = [], []
    for i, spec in enumerate(layers):
        match = LAYER_SPEC.match(str(spec))
        if not match:
            raise ValueError(f"layer {spec!r}: expected convN, poolN or fcN with N a positive integer")
        kind, n = match.group(1), int(match.group(2))
        if kind != "fc" and hidden:
            raise ValueError(f"layer {spec!r}: convolutions and pools must come before the fully connected layers")
        if kind == "conv":
            convs.append([channels, n, height, width, 1])
            channels = n
        elif kind == "pool":
            if not convs or i == 0 or not layers[i - 1].startswith("conv"):
                raise ValueError(f"layer {spec!r}: a pool must follow a convolution")
            if n > min(height, width):
                raise ValueError(f"layer {spec!r}: a {height}x{width} image is smaller than the pool")
            convs[-1][4] = n
            height, width = height // n, width // n
        else:
            hidden.append(n)
    return [tuple(c) for c in convs], hidden, height * width * channels


class CNN(MLP):
    """Convolutional network with a hand-written backward pass and the MLP's interface (it inherits
    ``predict_logits``, ``accuracy``, the flat parameter vectors and their views, ``init_params``' copy and the
    denormal flush; the layers, their buffers and the two passes are its own).

    ``CNN(n_outputs=13)`` is the seed report's network on 28x28 grey images.  ``seed`` is one integer
    (parametrised layer i draws from ``default_rng([seed, i])``) or one seed per parametrised layer
    (convolutions, then fully connected layers, then the output layer), so a layer's initial values
    depend only on its own seed and shape.  He (Kaiming-normal) weights and zero biases, or with
    ``init="uniform"`` PyTorch's default for its convolutions and linear layers, weights and biases uniform
    in +-1/sqrt(fan_in), as in the MLP; ``init_params`` starts from a flat vector instead.

    ``forward`` keeps what ``backward`` needs in buffers owned by the model, overwritten by the next
    forward of the same batch size (``self.activations``: each block's and hidden layer's output, then
    the logits).  Use ``predict_logits`` for a fresh array.
    """

    KERNEL = 3  # every convolution is 3x3, stride 1, zero padding 1: the image size is kept
    # predict_logits' batches: the seed report's network keeps ~0.5 MB of forward buffers an image (the
    # second convolution's patches most), so the MLP's 1000 would hold ~0.5 GB.
    PREDICT_BATCH = 256

    def __init__(self, layers=SEED_REPORT_LAYERS, n_outputs=13, image_shape=(28, 28, 1), seed=0,
                 init_params=None, dtype=np.float32, threads=None, init="he"):
        self._check_init(init)
        self.layers, self.image_shape = tuple(layers), tuple(int(s) for s in image_shape)
        self.convs, hidden, flat = parse_layers(self.layers, self.image_shape)
        self.sizes = [flat, *hidden, int(n_outputs)]
        self.dtype = np.dtype(dtype)
        k2 = self.KERNEL * self.KERNEL
        shapes = [(k2 * c_in, c_out) for c_in, c_out, *_ in self.convs] + list(zip(self.sizes[:-1], self.sizes[1:]))
        self._allocate(shapes)
        if init_params is None:
            seeds = [[seed, i] for i in range(len(shapes))] if np.ndim(seed) == 0 else list(seed)
            if len(seeds) != len(shapes):
                raise ValueError(f"this CNN has {len(shapes)} parametrised layers, got {len(seeds)} seeds")
            for W, b, layer_seed in zip(self.W, self.b, seeds):  # a convolution's fan-in is k*k*C_in
                self._draw_layer(W, b, np.random.default_rng(layer_seed), init)
        else:
            self._copy_params(init_params)
        self.threads = int(threads or blas_threads())
        self._buffers = {}

    def _buffers_for(self, n):
        """Per-batch-size buffers of the forward pass (made once, reused): padded inputs, patches,
        convolution outputs, pooled maxima and their positions, block outputs, fully connected activations."""
        if n not in self._buffers:
            if len(self._buffers) >= 4:  # e.g. train, last partial batch, eval
                self._buffers.pop(next(iter(self._buffers)))
            k, pad, dt = self.KERNEL, self.KERNEL // 2, self.dtype
            convs = []
            for c_in, c_out, h, w, p in self.convs:
                ho, wo = h // p, w // p
                convs.append({
                    "padded": np.zeros((n, h + 2 * pad, w + 2 * pad, c_in), dt),  # borders stay zero
                    "patches": np.empty((n, p, p, ho, wo, k, k, c_in), dt),
                    "z": np.empty((n, p, p, ho, wo, c_out), dt),
                    "pooled": np.empty((n, ho, wo, c_out), dt) if p > 1 else None,
                    "argmax": np.empty((n, ho, wo, c_out), np.uint8) if p > 1 else None,
                    "out": np.empty((n, ho, wo, c_out), dt)})
            self._buffers[n] = {"convs": convs, "fc": [np.empty((n, s), dt) for s in self.sizes[1:]]}
        return self._buffers[n]

    def _gradient_buffers_for(self, n):
        """The backward pass's buffers, added to the forward's on the first backward of a batch size
        (evaluation never makes them: at predict_logits' batch size they would double its memory)."""
        buf = self._buffers_for(n)
        if "fc_deltas" not in buf:
            pad, dt = self.KERNEL // 2, self.dtype
            for (c_in, c_out, h, w, p), cb in zip(self.convs, buf["convs"]):
                cb.update({
                    "mask": np.empty((n, h // p, w // p, c_out), bool),
                    "dz": np.empty((n, p, p, h // p, w // p, c_out), dt) if p > 1 else None,
                    "dz_image": np.zeros((n, h, w, c_out), dt) if p > 1 else None,  # rows a pool drops stay 0
                    "d_input": np.empty((n, h, w, c_in), dt),  # scratch of convolution_input_gradient
                    "d_padded": np.empty((n, h + 2 * pad, w + 2 * pad, c_in), dt)})
            buf["fc_masks"] = [np.empty((n, s), bool) for s in self.sizes[1:-1]]
            buf["fc_deltas"] = [np.empty((n, s), dt) for s in self.sizes[:-1]]
        return buf

    def forward(self, x, dropout=0.0, rng=None):
        """Logits for a batch of flat images x (batch, H*W*C in NHWC order); remembers what backward needs.

        ``dropout`` > 0 (training only; needs ``rng``) zeroes each unit of every block's and hidden layer's
        output with that probability and scales the survivors by 1/(1 - dropout), as the MLP does; the
        masks are drawn for the whole batch, so they do not depend on the thread count."""
        with one_blas_thread(self.threads):
            return self._forward(x, dropout, rng)

    def backward(self, dlogits, input_grad=False):
        """Fill ``self.grads`` with dL/dparams given dL/dlogits of the last forward.

        Returns dL/dinput (flat, a fresh array) if ``input_grad`` is true, else None: the first
        convolution's input gradient costs nine GEMMs, so it is skipped unless asked for."""
        with one_blas_thread(self.threads):
            return self._backward(dlogits, input_grad)

    def _forward(self, x, dropout, rng):
        n = len(x)
        buf = self._buffers_for(n)
        self._n, self._keep_scale = n, 1.0 / (1.0 - dropout)
        pad = self.KERNEL // 2
        h = np.asarray(x, self.dtype).reshape((n,) + self.image_shape)
        for (c_in, c_out, height, width, p), W, b, cb in zip(self.convs, self.W, self.b, buf["convs"]):
            def convolve(h, padded, patches, z, pooled, argmax, out):
                padded[:, pad:pad + height, pad:pad + width] = h
                im2col(padded, self.KERNEL, p, out=patches)
                np.matmul(patches.reshape(-1, W.shape[0]), W, out=z.reshape(-1, c_out))
                np.add(max_pool(z, out=pooled, argmax=argmax) if p > 1 else z.reshape(out.shape), b, out=out)
                np.maximum(out, 0, out=out)

            in_parts(self.threads, convolve, h, cb["padded"], cb["patches"], cb["z"], cb["pooled"], cb["argmax"],
                     cb["out"])
            if dropout:
                cb["out"] *= dropout_mask(cb["out"].shape, dropout, rng, self.dtype)
            h = cb["out"]
        h = h.reshape(n, -1)
        n_convs = len(self.convs)
        for layer, out in enumerate(buf["fc"]):
            def dense(h, out):
                np.matmul(h, self.W[n_convs + layer], out=out)
                out += self.b[n_convs + layer]
                if layer < len(buf["fc"]) - 1:
                    np.maximum(out, 0, out=out)

            in_parts(self.threads, dense, h, out)
            if dropout and layer < len(buf["fc"]) - 1:
                out *= dropout_mask(out.shape, dropout, rng, self.dtype)
            h = out
        self._input = x
        self.activations = [cb["out"] for cb in buf["convs"]] + buf["fc"]
        return h

    def _backward(self, dlogits, input_grad):
        buf = self._gradient_buffers_for(self._n)
        delta = self._flushed(dlogits)
        n_convs = len(self.convs)
        flattened = buf["convs"][-1]["out"].reshape(self._n, -1) if n_convs else self._input
        below = [flattened] + buf["fc"][:-1]  # each fully connected layer's input
        for layer in range(len(buf["fc"]) - 1, -1, -1):
            W, first = self.W[n_convs + layer], layer == 0 and not n_convs

            def back_dense(delta, below, d_below, mask):
                """This part's weight and bias gradients (returned) and input gradient (into d_below)."""
                if not first or input_grad:
                    np.matmul(delta, W.T, out=d_below)
                if layer > 0:  # the ReLU and dropout below
                    relu_dropout_backward(d_below, below, mask, self._keep_scale)
                return below.T @ delta, delta.sum(axis=0)

            mask = buf["fc_masks"][layer - 1] if layer > 0 else None
            add_parts(in_parts(self.threads, back_dense, delta, below[layer], buf["fc_deltas"][layer], mask),
                      self.dW[n_convs + layer], self.db[n_convs + layer])
            if first and not input_grad:
                return None
            delta = buf["fc_deltas"][layer]
        if not n_convs:
            return delta.copy()
        pad = self.KERNEL // 2
        for i in range(n_convs - 1, -1, -1):
            (_, c_out, height, width, p), cb = self.convs[i], buf["convs"][i]
            delta = delta.reshape(cb["out"].shape)
            input_gradient = i > 0 or input_grad

            def back(delta, out, mask, argmax, dz, dz_image, patches, d_padded, d_input):
                """This part's weight and bias gradients (returned) and input gradient (into d_padded)."""
                relu_dropout_backward(delta, out, mask, self._keep_scale)
                dz = max_pool_backward(delta, argmax, out=dz) if p > 1 else delta
                if input_gradient:
                    if p > 1:
                        np.copyto(window_order(dz_image, p), dz)  # back to image order
                    convolution_input_gradient(dz_image if p > 1 else delta, self.W[i], self.KERNEL, d_padded,
                                               d_input)
                return patches.reshape(-1, self.W[i].shape[0]).T @ dz.reshape(-1, c_out), \
                    delta.reshape(-1, c_out).sum(axis=0)

            add_parts(in_parts(self.threads, back, delta, cb["out"], cb["mask"], cb["argmax"], cb["dz"],
                               cb["dz_image"], cb["patches"], cb["d_padded"], cb["d_input"]), self.dW[i], self.db[i])
            if not input_gradient:
                return None
            delta = cb["d_padded"][:, pad:pad + height, pad:pad + width]
        return np.ascontiguousarray(delta).reshape(self._n, -1)


def blas_threads():
    """The BLAS's thread count (threadpoolctl; 1 if it reports none): the CNN splits each convolution's
    batch into as many parts, so a run pinned to one BLAS thread stays on one core."""
    selection = _blas()
    return selection.lib_controllers[0].num_threads if selection.lib_controllers else 1


@functools.lru_cache(maxsize=None)
def _blas():
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController().select(user_api="blas")


@functools.lru_cache(maxsize=None)
def _executor(threads):
    return ThreadPoolExecutor(threads - 1)


def in_parts(threads, fn, *arrays):
    """[fn(*part) for each part], the parts ``threads`` slices of the arrays' first (batch) axis, run at
    once, each on its own thread (None entries are passed as they are); call it within one_blas_thread.

    Why: OpenBLAS threads only the GEMMs, and its idle worker spins on the other core after each one, so
    the copies, comparisons and pooling between them ran on one core, half the step's time.  Split by
    examples, a whole convolution (im2col, GEMM, pooling) runs on every core; numpy releases the GIL in its
    loops.  Each part's results are the same bits with any number of parts, except a sum over examples
    (the weight gradient), which the caller adds up in part order: deterministic for a thread count."""
    n = len(arrays[0])
    if threads < 2 or n < 2 * threads:
        return [fn(*arrays)]
    bounds = np.linspace(0, n, threads + 1).astype(int)
    parts = [[None if a is None else a[lo:hi] for a in arrays] for lo, hi in zip(bounds[:-1], bounds[1:])]
    futures = [_executor(threads).submit(fn, *part) for part in parts[1:]]
    return [fn(*parts[0])] + [future.result() for future in futures]


def add_parts(gradients, dW, db):
    """Each part's (weight, bias) gradients, summed in part order into dW and db."""
    np.sum([g for g, _ in gradients], axis=0, out=dW)
    np.sum([g for _, g in gradients], axis=0, out=db)


def one_blas_thread(threads):
    """BLAS on one thread for a forward or backward pass that runs its own ``threads`` parts (in_parts):
    the fully connected layers' GEMMs too, or OpenBLAS's worker, woken by them, would spin on the core
    a part needs (measured: 122 ms a step instead of 83)."""
    return _blas().limit(limits=1) if threads > 1 else contextlib.nullcontext()


# ----------------------------------------------------------------------------
# The layers' computations, each usable on its own (the gradient tests call them directly)
# ----------------------------------------------------------------------------


def im2col(padded, k, p=1, out=None):
    """Patches (N, p, p, H/p, W/p, k, k, C) of a zero-padded NHWC batch (N, H+k-1, W+k-1, C), in window
    order for a p x p pool that follows: patch [n, a, b, i, j] is the one of pixel (p*i + a, p*j + b),
    so the convolution's output holds each pooling window's p*p positions as p*p contiguous blocks (rows
    and columns past the last whole window are left out).  One copy from a strided view: along a patch
    row the k*C values are contiguous in the image, so numpy copies runs of k*C floats (k*k separate slice
    copies, with runs of C, took 5x longer: 30 against 6 ms at batch 256)."""
    n, hp, wp, c = padded.shape
    ho, wo = (hp - k + 1) // p, (wp - k + 1) // p
    sn, sh, sw, sc = padded.strides
    windows = np.lib.stride_tricks.as_strided(padded, (n, p, p, ho, wo, k, k, c),
                                              (sn, sh, sw, p * sh, p * sw, sh, sw, sc), writeable=False)
    if out is None:
        return windows.copy()
    np.copyto(out, windows)
    return out


def window_order(image, p):
    """A writable (N, p, p, H/p, W/p, C) view of an NHWC batch in im2col's window order."""
    n, h, w, c = image.shape
    sn, sh, sw, sc = image.strides
    return np.lib.stride_tricks.as_strided(image, (n, p, p, h // p, w // p, c), (sn, sh, sw, p * sh, p * sw, sc))


def convolution_input_gradient(d_z, W, k, out, scratch):
    """dL/d(padded input) of a k x k convolution from dL/dz (N, H, W, C_out), into ``out`` (N, H+k-1, W+k-1,
    C_in): for each kernel offset one GEMM, d_z @ W_offset.T, into ``scratch`` (N, H, W, C_in), added to
    the input positions it reads.  One GEMM for every offset's patch gradients followed by a scatter-add of
    the (N, H, W, k, k, C_in) result took twice as long: its adds ran over runs of C_in floats, these over
    whole image rows."""
    n, h, w, c_out = d_z.shape
    c_in = scratch.shape[-1]
    out.fill(0)
    for offset in range(k * k):
        dy, dx = divmod(offset, k)
        np.matmul(d_z.reshape(-1, c_out), W[offset * c_in:(offset + 1) * c_in].T, out=scratch.reshape(-1, c_in))
        out[:, dy:dy + h, dx:dx + w] += scratch
    return out


def conv2d(x, W, b, k=3):
    """A k x k convolution, stride 1, zero padding k // 2, of an NHWC batch (no ReLU): the CNN's
    forward step on its own, for the tests.  W is (k*k*C_in, C_out)."""
    n, h, w, c = x.shape
    pad = k // 2
    padded = np.zeros((n, h + 2 * pad, w + 2 * pad, c), x.dtype)
    padded[:, pad:pad + h, pad:pad + w] = x
    return (im2col(padded, k).reshape(n * h * w, -1) @ W + b).reshape(n, h, w, -1)


def max_pool(z, out=None, argmax=None):
    """p x p max-pooling of convolution outputs in window order (N, p, p, H/p, W/p, C), see im2col: the
    maximum over the p*p contiguous blocks, so every pass runs over contiguous memory (the strided
    windows of an image-order output took 2-3x longer).  ``argmax`` (uint8, the pooled shape) receives
    each window's winning position dy * p + dx: the first in raster order that holds the maximum
    (PyTorch's rule, so a tie sends the whole gradient to one input, never splits it)."""
    n, p, _, ho, wo, c = z.shape
    blocks = z.reshape(n, p * p, ho, wo, c)
    out = np.empty((n, ho, wo, c), z.dtype) if out is None else out
    np.copyto(out, blocks[:, 0])
    if argmax is not None:
        argmax.fill(0)
        bigger, candidate = np.empty(out.shape, bool), np.empty(out.shape, np.uint8)
    for position in range(1, p * p):
        if argmax is not None:
            np.greater(blocks[:, position], out, out=bigger)  # strictly: an earlier position keeps a tie
            # Positions come in increasing order, so "argmax = position where bigger" is a maximum
            # (4x faster than np.copyto(..., where=bigger)).
            np.multiply(bigger.view(np.uint8), position, out=candidate)
            np.maximum(argmax, candidate, out=argmax)
        np.maximum(out, blocks[:, position], out=out)
    return out


def max_pool_backward(d_pooled, argmax, out):
    """dL/dz of ``max_pool``, in its window order (``out``: N, p, p, H/p, W/p, C), from dL/d(pooled): each
    window's gradient goes to its ``argmax`` position, one contiguous pass per position."""
    n, p = out.shape[:2]
    blocks = out.reshape(n, p * p, *d_pooled.shape[1:])
    won = np.empty(d_pooled.shape, bool)
    for position in range(p * p):
        np.equal(argmax, position, out=won)
        np.multiply(d_pooled, won, out=blocks[:, position])
    return out
