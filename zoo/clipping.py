"""Gradient clipping by global norm, applied by training between backward and the optimizer step."""

import math

from zoo.layers import Param


def clip_global_norm(params: list[Param], max_norm: float) -> float:
    """Scale every gradient in place so that their joint L2 norm is at most ``max_norm``; the norm before clipping.

    As PyTorch's ``clip_grad_norm_``: one norm over all parameters, so the step keeps its direction.
    """
    total = math.sqrt(sum(float(_squared(p.grad)) for p in params))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in params:
            p.grad *= p.grad.dtype.type(scale)
    return total


def _squared(grad):
    flat = grad.reshape(-1)  # a view: gradients are contiguous
    return flat @ flat
