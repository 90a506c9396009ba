"""Custom Keras layers of fer_zoo (all registered under the "fer_zoo" package) and losses."""

from fer_zoo.layers.conv_mlp import ConvMLP
from fer_zoo.layers.half_conv import HalfConv

__all__ = ["ConvMLP", "HalfConv"]
