"""Channel dropout (Tompson et al. 2015): drop whole feature maps of image-shaped batches ``(N, C, H, W)``.

Neighbouring pixels of a feature map are strongly correlated, so dropping single values, as
``dropout`` does, hardly regularises a convolutional network: the neighbours still carry what
was dropped. Dropping a whole channel does. PyTorch calls it ``Dropout2d``, Keras ``SpatialDropout2D``.
"""

import attrs
import numpy as np

import zoo
from zoo.layers import Buffers
from zoo.options import number


@attrs.define(eq=False)
class ChannelDropout:
    """In training, zero each channel of each sample with probability ``rate``; scale the others by 1/(1-rate).

    Input ``(N, C, *positions)`` with at least one axis after the channels, such as
    ``(N, C, H, W)``; the output has the input's shape. There is one draw per sample and
    channel, shared by all the channel's positions. At evaluation it is the identity.
    """

    zoo_contract = 2  # build() gets and returns per-sample shapes, channels first
    rate: float = attrs.field(validator=number(ge=0, lt=1))
    _rng: np.random.Generator | None = attrs.field(init=False, default=None)
    _mask: np.ndarray | None = attrs.field(init=False, default=None)
    _buffers: Buffers = attrs.field(init=False, factory=Buffers)

    def build(self, in_shape, dtype, rng):
        if len(in_shape) < 2:
            raise ValueError(
                f"channel_dropout needs samples with channels and positions, such as (C, H, W), got {in_shape}; "
                "on flat input use dropout"
            )
        self._rng = rng  # the layer's own stream: its masks never change any other draw
        return tuple(in_shape)

    def params(self):
        return []

    def multiply_adds(self):
        return 0  # optional, for zoo show: element-wise layers count none, as zoo's relu and dropout do

    def forward(self, x, training):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        # One value per sample and channel, (N, C, 1, 1) for images: it broadcasts over the positions.
        mask = self._buffers.get("mask", x.shape[:2] + (1,) * (x.ndim - 2), x.dtype)
        self._rng.random(out=mask, dtype=x.dtype)
        np.greater_equal(mask, x.dtype.type(self.rate), out=mask, casting="unsafe")  # 1 keeps, 0 drops
        mask *= x.dtype.type(1 / (1 - self.rate))
        self._mask = mask
        return np.multiply(x, mask, out=self._buffers.get("y", x.shape, x.dtype))

    def backward(self, dy, need_dx=True):
        if not need_dx:
            return None
        if self._mask is None:  # evaluation, or rate 0: the identity
            return dy
        return np.multiply(dy, self._mask, out=self._buffers.get("dx", dy.shape, dy.dtype))


@zoo.hookimpl
def register_layers(register):
    register("channel_dropout", ChannelDropout)
