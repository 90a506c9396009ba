"""Short probe of FESR's generator with and without the identity path (docs/fesr.md, "SynthFER
64 px generator", "Identity path").

Trains G with the paired `synthfer64` step for `--seconds` of wall time (tracing included; F_id
left untrained: its weight is 1e-3), then on held-out SynthFER identities (seed 1, each one's
neutral face in, the 6 non-neutral expressions at intensities 0, 0.2 .. 1 asked for) measures
SSIM to the exact render (all, at intensity 0, at 1; and of copying the input), and how G's
output changes from intensity 0 to 1: mean |G(x, u=1) - G(x, u=0)| beside the exact renders'
mean |T(1) - T(0)|, and the cosine between the two change maps (1: G changes the right pixels).

```
nice -n 19 python -m fer_zoo.recipes.fesr.identity_path_probe --variant skip_residual --seconds 80
```
Variants: `none` (network "synthfer64", the paper's G), `skip` (U-Net skips only), `residual`
(residual output only), `skip_residual` ("synthfer64_skip", what config "synthfer64" trains).
"""

import argparse
import json
import time

import keras
import numpy as np

from fer_zoo.recipes.fesr import models
from fer_zoo.recipes.fesr import train as fesr_train


def variant_network(name):
    """The `network` of a probe variant (a `NETWORK_CONFIGS` name or dict)."""
    variants = {
        "none": "synthfer64",
        "skip": {**models.NETWORK_CONFIGS["synthfer64"], "skip_connections": True},
        "residual": {**models.NETWORK_CONFIGS["synthfer64_skip"], "skip_connections": False},
        "skip_residual": "synthfer64_skip",
    }
    if name not in variants:
        raise ValueError(f"identity_path_probe: unknown variant {name!r}; expected one of {sorted(variants)}.")
    return variants[name]


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.steps, self.started = float(seconds), 0, None

    def on_train_begin(self, logs=None):
        self.started = time.time()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.time() - self.started >= self.seconds:
            self.model.stop_training = True


def probe(variant="skip_residual", seconds=80.0, heldout_identities=6, **overrides):
    """Train one variant for `seconds` (at most one epoch) and measure it; returns a dict."""
    from fer_zoo.recipes.fesr.synthfer_gate import heldout_set
    from fer_zoo.recipes.gasca.synthfer_gate import ssim

    cfg = {**fesr_train.CONFIGS["synthfer64"], **overrides, "network": variant_network(variant)}
    keras.utils.set_random_seed(cfg["seed"])
    faces = fesr_train.load_faces("synthetic", cfg)
    train_faces, _ = fesr_train.identity_split(faces, cfg["test_identity_fraction"], cfg["seed"])
    n_ids = len(np.unique(train_faces.labels["identity"]))
    identity_net = fesr_train.build_identity_network(cfg, n_ids)
    weights = fesr_train.paired_pixel_weights(train_faces, cfg["expression_weight"])
    recipe, _ = fesr_train.build_recipe(cfg, len(faces.class_names), identity_net, "JL", weights)
    stop = _StopAfter(seconds)
    history = recipe.fit(fesr_train.paired_dataset(train_faces, cfg), epochs=1, callbacks=[stop], verbose=0)
    trained = time.time() - stop.started

    inputs, targets, labels = heldout_set(seed=1, identities=heldout_identities, image_size=cfg["image_size"],
                                          channels=cfg["channels"])
    e, v = labels["expression"], labels["intensity"]
    out = np.concatenate([np.asarray(recipe.generate(inputs[i:i + 72], e[i:i + 72], v[i:i + 72]))
                          for i in range(0, len(inputs), 72)])
    s_g, s_c = ssim(out, targets), ssim(inputs, targets)
    top, zero = v == v.max(), v == 0.0  # both ordered identity x expression
    g_change, t_change = out[top] - out[zero], targets[top] - targets[zero]
    cosine = (g_change * t_change).sum((1, 2, 3)) / (
        np.sqrt((g_change ** 2).sum((1, 2, 3)) * (t_change ** 2).sum((1, 2, 3))) + 1e-8)
    return {
        "variant": variant, "generator_weights": int(recipe.encoder.count_params() + recipe.decoder.count_params()),
        "train_seconds": round(trained, 1), "steps": stop.steps,
        "train_paired_l1_last": float(history.history["paired_l1"][-1]),
        "ssim": float(s_g.mean()), "ssim_at_0": float(s_g[zero].mean()), "ssim_at_1": float(s_g[top].mean()),
        "copy_input_ssim": float(s_c.mean()), "copy_input_ssim_at_1": float(s_c[top].mean()),
        "l1": float(np.abs(out - targets).mean()),
        "change_0_to_1": float(np.abs(g_change).mean()), "exact_change_0_to_1": float(np.abs(t_change).mean()),
        "change_cosine": float(cosine.mean()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="skip_residual", choices=("none", "skip", "residual", "skip_residual"))
    parser.add_argument("--seconds", type=float, default=80.0, help="training wall time (tracing included)")
    parser.add_argument("--heldout-identities", type=int, default=6)
    args = parser.parse_args(argv)
    result = probe(args.variant, args.seconds, args.heldout_identities)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
