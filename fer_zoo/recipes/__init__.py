"""The four paper recipes. `get_trainer(name)` returns the `train` function behind `fer-zoo train NAME`."""

import functools
import importlib

# CLI name -> (module, function, fixed keyword arguments)
RECIPES = {
    "gasca1": ("fer_zoo.recipes.gasca.train", "train", {"variant": "gasca1"}),
    "gasca2": ("fer_zoo.recipes.gasca.train", "train", {"variant": "gasca2"}),
    "jpem": ("fer_zoo.recipes.jpem.train", "train", {}),
    "fesr": ("fer_zoo.recipes.fesr.train", "train", {}),
    "relgan": ("fer_zoo.recipes.relgan.train", "train", {}),
}
DEMOS = {
    # Shipped trained presets on faces they never saw (seconds each, no training): the default
    # classifier, the GASCA2 normaliser, the JPEM, FESR and REL-GAN generators.
    "recognizer": "fer_zoo.recipes.general.demo",
    "normalizer": "fer_zoo.recipes.gasca.normalizer_demo",
    "jpem-generator": "fer_zoo.recipes.jpem.generator_demo",
    "fesr-generator": "fer_zoo.recipes.fesr.generator_demo",
    "relgan-generator": "fer_zoo.recipes.relgan.generator_demo",
    # Each recipe trained briefly from scratch (`fer-zoo demo --train`, about a minute each).
    "gasca": "fer_zoo.recipes.gasca.train",
    "jpem": "fer_zoo.recipes.jpem.train",
    "fesr": "fer_zoo.recipes.fesr.train",
    "relgan": "fer_zoo.recipes.relgan.train",
}
# The demos that train from scratch (run by `fer-zoo demo` only with `--train` or `--recipes`).
TRAINING_DEMOS = ("gasca", "jpem", "fesr", "relgan")


def get_trainer(name):
    """The training function of recipe `name` (one of `RECIPES`)."""
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}. Available: {', '.join(RECIPES)}.")
    module, function, fixed = RECIPES[name]
    return functools.partial(getattr(importlib.import_module(module), function), **fixed)


def get_demo(name):
    """The `demo(out_dir)` function of recipe family `name` (one of `DEMOS`)."""
    if name not in DEMOS:
        raise ValueError(f"Unknown recipe {name!r}. Available: {', '.join(DEMOS)}.")
    return importlib.import_module(DEMOS[name]).demo
