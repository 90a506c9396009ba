"""Training core shared by every recipe: precision, distribution, GAN base, multi-stage runs."""

from fer_zoo.training.callbacks import StageRunner, standard_callbacks
from fer_zoo.training.distribution import get_strategy
from fer_zoo.training.gan import AdversarialRecipe, optimizer_step, prepare_optimizer
from fer_zoo.training.precision import set_precision

__all__ = [
    "AdversarialRecipe",
    "StageRunner",
    "get_strategy",
    "optimizer_step",
    "prepare_optimizer",
    "set_precision",
    "standard_callbacks",
]
