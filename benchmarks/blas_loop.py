"""The hand-written side of the throughput rows: the fastest plain NumPy/BLAS loop one would write by hand.

Batch size 1 calls BLAS level 2 directly (``gemv`` forward and back, ``ger`` for the update,
fused with SGD: ``W -= lr·dy·xᵀ`` in place) on vectors made once. Larger batches use
``np.matmul`` into preallocated buffers and update in place. ReLU hidden layers, softmax
cross-entropy, float32; the same initialisation as the NumPy loop.
"""

import time

import numpy as np
from scipy.linalg import blas

from zoo.blas_pool import scipy_blas_single_threaded


def train_and_evaluate(widths, x_train, y_train, x_test, test_labels, order, batch, images, lr):
    """Train on ``images`` samples of float32 ``x_train`` in ``order``; training s, CPU s, evaluation s, accuracy."""
    rng = np.random.default_rng(0)
    pairs = list(zip(widths[:-1], widths[1:]))
    weights = [rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2 / shape[0])) for shape in pairs]
    biases = [np.zeros(n_out, np.float32) for _, n_out in pairs]
    step = _online if batch == 1 else _batched
    started, cpu = time.perf_counter(), time.process_time()
    with scipy_blas_single_threaded():  # as zoo trains: level-2 BLAS on one sample is faster on one thread
        step(weights, biases, x_train, y_train, order[:images], batch, np.float32(lr))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    a = x_test
    for i, (W, b) in enumerate(zip(weights, biases)):
        a = a @ W + b
        a = np.maximum(a, 0, out=a) if i < len(weights) - 1 else a
    return seconds, cpu, time.perf_counter() - started, float(np.mean(a.argmax(axis=1) == test_labels))


def _online(weights, biases, x_train, y_train, order, batch, lr):
    transposed = [W.T for W in weights]  # Fortran-ordered views: what gemv and ger take without copying
    activations = [np.empty(n, np.float32) for n in [weights[0].shape[0], *(W.shape[1] for W in weights)]]
    deltas = [np.empty(W.shape[1], np.float32) for W in weights]
    masks = [np.empty(W.shape[1], np.bool_) for W in weights[:-1]]
    last = len(weights) - 1
    for sample in order:
        activations[0] = x_train[sample]
        for i, (WT, b) in enumerate(zip(transposed, biases)):
            z = blas.sgemv(1.0, WT, activations[i], y=activations[i + 1], overwrite_y=1)
            z += b
            if i < last:
                np.maximum(z, 0, out=z)
        z = activations[-1]
        z -= z.max()
        np.exp(z, out=z)
        z /= z.sum()
        z[y_train[sample]] -= 1
        delta = deltas[last]
        np.copyto(delta, z)
        for i in range(last, -1, -1):
            if i:  # the previous layer's delta, through the weights before their update
                blas.sgemv(1.0, transposed[i], delta, trans=1, y=deltas[i - 1], overwrite_y=1)
                np.greater(activations[i], 0, out=masks[i - 1])
                deltas[i - 1] *= masks[i - 1]
            blas.sger(-lr, delta, activations[i], a=transposed[i], overwrite_a=1)
            blas.saxpy(delta, biases[i], a=-lr)
            delta = deltas[i - 1]


def _batched(weights, biases, x_train, y_train, order, batch, lr):
    outs = [np.empty((batch, W.shape[1]), np.float32) for W in weights]
    deltas = [np.empty((batch, W.shape[0]), np.float32) for W in weights[1:]]
    grads = [np.empty_like(W) for W in weights]
    x = np.empty((batch, weights[0].shape[0]), np.float32)
    last = len(weights) - 1
    for start in range(0, len(order), batch):
        index = order[start : start + batch]
        n = len(index)
        np.take(x_train, index, axis=0, out=x[:n])
        activations = [x[:n]]
        for i, (W, b) in enumerate(zip(weights, biases)):
            z = np.matmul(activations[i], W, out=outs[i][:n])
            z += b
            if i < last:
                np.maximum(z, 0, out=z)
            activations.append(z)
        z = activations[-1]
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        z[np.arange(n), y_train[index]] -= 1
        z *= lr / n
        delta = z
        for i in range(last, -1, -1):
            np.matmul(activations[i].T, delta, out=grads[i])
            if i:
                previous = np.matmul(delta, weights[i].T, out=deltas[i - 1][:n])
                previous *= activations[i] > 0
            weights[i] -= grads[i]
            biases[i] -= delta.sum(axis=0)
            if i:
                delta = previous
