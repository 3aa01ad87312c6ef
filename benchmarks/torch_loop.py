"""The PyTorch side of every throughput row: plain SGD over the shared batch order, then a test-set pass."""

import time

import numpy as np


def train_and_evaluate(model, x_train, y_train, x_test, test_labels, order, batch, images, lr):
    """Train ``model`` on ``images`` samples of float32 ``x_train`` taken in ``order``, ``batch`` at a time.

    Returns training seconds, training CPU seconds, evaluation seconds and test accuracy.
    """
    import torch

    x_all, y_all = torch.from_numpy(x_train), torch.from_numpy(y_train.astype(np.int64))
    loss_fn, optimizer = torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=lr)
    order = torch.from_numpy(order[:images].astype(np.int64))
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, images, batch):
        index = order[start : start + batch]
        optimizer.zero_grad()
        loss_fn(model(x_all[index]), y_all[index]).backward()
        optimizer.step()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    with torch.no_grad():
        predictions = model(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    return seconds, cpu, time.perf_counter() - started, float(np.mean(predictions == test_labels))
