"""REL-GAN training: the reenactment GAN (stage one) and the schedule that favours G later on.

Notation (paper, section 3): source `x_s` (gives the expression, label `y_s^e`), target `x_t`
(gives the identity, label `y_t^i`), ground truth `x_tg` (the target identity showing the
source expression), generated `x̄ = G_de(G_es(x_s), G_et(x_t))`. D = [D_e, D_i] with D_e over
`N_e + 1` classes, the last (index `N_e`) meaning "fake".

Loss terms, as minimised here (negated log-likelihoods, batch means):

* eq. (1), discriminator, maximise log D_e[y_s^e](x_s) + log D_i[y_t^i](x_t) + log D_e[fake](x̄):
  `d_expression_loss = CE(D_e(x_s), y_s^e)`, `d_identity_loss = CE(D_i(x_t), y_t^i)`,
  `d_fake_loss = CE(D_e(x̄), N_e)`; `d_loss` = their weighted sum (weights `d_loss_weights`,
  all 1 by default, as in eq. (1)).
* eq. (2), generator, maximise log D_e[y_s^e](x̄) + log D_i[y_t^i](x̄):
  `g_expression_loss = CE(D_e(x̄), y_s^e)` (= L_De of eq. 4) and
  `g_identity_loss = CE(D_i(x̄), y_t^i)` (= L_Di of eq. 4).
* eq. (3), `g_pixel_loss = mean |x̄ - x_tg|` (= L_pixel).
* eq. (4), `g_loss = λ1 L_adv + λ2 L_pixel + λ3 L_De + λ4 L_Di` with (0.7, 20, 50, 30), where
  L_adv is the real/fake part of D_e for x̄: `g_adv_loss = -log(1 - D_e[fake](x̄))` (the
  non-saturating "look real" term; eq. (2) holds it implicitly because classifying x̄ into
  y_s^e also means "not fake", eq. (4) weights it separately).
* With `pixel_weights` (an `(H, W, C)` map of mean 1, e.g. GASCA's `expression_weight_map`;
  config "synthfer64") L_pixel is the weighted per-pixel mean `mean(w * |x̄ - x_tg|)`, logged
  as `g_pixel_weighted_loss` beside the plain `g_pixel_loss`.

Scales: L_pixel terms are per-pixel means in [-1, 1] units; L_adv, L_De, L_Di per-image means
in nats. `term_gradient_norms` measures how hard each *weighted* term pulls on G.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from fer_zoo.recipes.relgan import models
from fer_zoo.training import AdversarialRecipe, optimizer_step

# λ1..λ4 of eq. (4): adversarial, pixel L1, D_e expression, D_i identity.
PAPER_LOSS_WEIGHTS = {"adversarial": 0.7, "pixel": 20.0, "expression": 50.0, "identity": 30.0}
D_LOSS_WEIGHTS = {"expression": 1.0, "identity": 1.0, "fake": 1.0}

TRIPLET_KEYS = ("source", "target", "ground_truth", "source_expression", "target_identity")
# G's weighted terms -> the `grad_*` key `term_gradient_norms` reports for each.
TERM_GRADIENT_NAMES = {
    "pixel": "grad_pixel", "adversarial": "grad_adv", "expression": "grad_expression", "identity": "grad_identity",
}


def classification_loss(labels, logits):
    """Mean sparse categorical cross-entropy, computed in float32."""
    logits = ops.cast(logits, "float32")
    labels = ops.cast(labels, "int32")
    return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def fake_class_loss(expression_logits):
    """-log D_e[fake](x): D_e's last index is the fake class (D's term for generated images)."""
    logits = ops.cast(expression_logits, "float32")
    fake_index = ops.shape(logits)[-1] - 1
    return classification_loss(ops.full((ops.shape(logits)[0],), fake_index, "int32"), logits)


def not_fake_loss(expression_logits):
    """-log(1 - D_e[fake](x)) = logsumexp(all logits) - logsumexp(real-class logits)."""
    logits = ops.cast(expression_logits, "float32")
    real = ops.logsumexp(logits[:, :-1], axis=-1)
    return ops.mean(ops.logsumexp(logits, axis=-1) - real)


def pixel_loss(generated, ground_truth):
    """Eq. (3): mean absolute error in raw pixel space."""
    return ops.mean(ops.abs(ops.cast(generated, "float32") - ops.cast(ground_truth, "float32")))


def check_triplet_batch(data):
    """Return the triplet dict of a batch, with a clear error when keys are missing."""
    if isinstance(data, tuple | list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise TypeError(
            f"RELGAN expects batches as dicts with keys {TRIPLET_KEYS}; got {type(data).__name__}. "
            "Build them with fer_zoo.recipes.relgan.train.triplet_dataset."
        )
    missing = [k for k in TRIPLET_KEYS if k not in data]
    if missing:
        raise KeyError(f"RELGAN batch lacks {missing}; it needs {TRIPLET_KEYS}.")
    return data


@keras.saving.register_keras_serializable(package="fer_zoo")
class RELGAN(AdversarialRecipe):
    """REL-GAN: reenactment GAN whose expression encoder learns identity-free codes.

    G = (G_es, G_et, G_de) transfers the expression of a source face onto the identity of a
    target face; a multi-task D = [D_e, D_i] classifies expressions (+ a fake class) and
    identities. After training, `expression_encoder` (G_es) is frozen and feeds an MLP
    (`models.relgan_classifier`).

    Each batch is a dict: `source`, `target`, `ground_truth` images (N, H, W, C) in [-1, 1],
    `source_expression` and `target_identity` integer labels. One `train_step` = one D update
    (eq. 1) followed by `g_steps_per_d_step` G updates (eq. 4); `GeneratorPriority` raises
    that number once D is near-optimal (section 4.1).

    Args:
        num_identities: N_i, identities D_i classifies (those of the training set).
        num_expressions: N_e (D_e has N_e + 1 outputs).
        loss_weights: dict `adversarial, pixel, expression, identity` = λ1..λ4 of eq. (4).
        d_loss_weights: dict `expression, identity, fake` weighting the three terms of eq. (1).
        g_steps_per_d_step: G updates per D update (1 until the schedule switches).
        adversarial_warmup_steps: ramp λ1, λ3, λ4 (the terms that go through D) linearly from 0
            to their value over this many G updates, so a short run first learns to
            reconstruct before it chases D (0 = the paper: full weights from the start).
        seed: seed of the recipe's random generator.
        **network_config: architecture keys of `models.NETWORK_CONFIGS` (image_size,
            channels, encoder_filters, decoder_filters, discriminator_filters,
            discriminator_units, expression_dim, identity_dim, norm, ...). Other `keras.Model`
            keyword arguments (name, ...) are forwarded.

    Example:
    ```python
    recipe = RELGAN(num_identities=20, **models.NETWORK_CONFIGS["small"])
    recipe.compile()  # Adam(1e-4, beta_1=0.5) for g and d
    recipe.fit(triplet_dataset(faceset, batch_size=64), epochs=300)
    classifier = models.relgan_classifier(encoder=recipe.expression_encoder, num_classes=7)
    ```

    Reference:
        REL-GAN, "Reenactment-based Expression-Representation Learning", eqs. (1)-(4), 4.1.
    """

    optimizer_names = ("g", "d")
    _NETWORK_KEYS = (
        "image_size",
        "channels",
        "encoder_filters",
        "decoder_filters",
        "discriminator_filters",
        "discriminator_units",
        "expression_dim",
        "identity_dim",
        "norm",
        "mlp_units",
        "downsample",
        "blocks",
        "kernel_init",
        "output_init_stddev",
        "expression_activation",
        "expression_noise",
        "expression_norm",
    )

    def __init__(
        self,
        num_identities,
        num_expressions=7,
        loss_weights=None,
        d_loss_weights=None,
        g_steps_per_d_step=1,
        adversarial_warmup_steps=0,
        seed=None,
        pixel_weights=None,
        **kwargs,
    ):
        network = {k: kwargs.pop(k) for k in self._NETWORK_KEYS if k in kwargs}
        super().__init__(seed=seed, **kwargs)
        defaults = dict(models.NETWORK_CONFIGS["paper"])
        defaults.update(network)
        self.network_config = {
            k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()
        }
        unknown = set(loss_weights or {}) - set(PAPER_LOSS_WEIGHTS)
        unknown |= set(d_loss_weights or {}) - set(D_LOSS_WEIGHTS)
        if unknown:
            raise ValueError(
                f"Unknown loss weight(s) {sorted(unknown)}: loss_weights takes "
                f"{sorted(PAPER_LOSS_WEIGHTS)}, d_loss_weights takes {sorted(D_LOSS_WEIGHTS)}."
            )
        self.loss_weights = {**PAPER_LOSS_WEIGHTS, **(loss_weights or {})}
        self.d_loss_weights = {**D_LOSS_WEIGHTS, **(d_loss_weights or {})}
        self.num_identities = int(num_identities)
        self.num_expressions = int(num_expressions)
        self.g_steps_per_d_step = int(g_steps_per_d_step)
        self.adversarial_warmup_steps = int(adversarial_warmup_steps)
        # Per-pixel L1 weights (not part of get_config: pass them again when rebuilding).
        self.pixel_weights = None if pixel_weights is None else np.asarray(pixel_weights, np.float32)

        cfg = self.network_config
        self.expression_encoder = models.expression_encoder(**cfg)
        self.identity_encoder = models.identity_encoder(**cfg)
        self.decoder = models.decoder(**cfg)
        self.discriminator = models.discriminator(
            num_expressions=self.num_expressions, num_identities=self.num_identities, **cfg
        )
        for name in (
            "d_loss",
            "d_expression_loss",
            "d_identity_loss",
            "d_fake_loss",
            "g_loss",
            "g_adv_loss",
            "g_pixel_loss",
            "g_expression_loss",
            "g_identity_loss",
        ) + (("g_pixel_weighted_loss",) if self.pixel_weights is not None else ()):
            self.add_tracker(name)
        self.built = True

    @property
    def generator_networks(self):
        return (self.expression_encoder, self.identity_encoder, self.decoder)

    def optimizer_variables_for(self, name):
        if name == "g":
            return [v for net in self.generator_networks for v in net.trainable_variables]
        if name == "d":
            return list(self.discriminator.trainable_variables)
        raise ValueError(f"RELGAN has optimizers 'g' and 'd', not {name!r}.")

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            source, target = inputs["source"], inputs["target"]
        else:
            source, target = inputs
        return self.reenact(source, target, training=training)

    def reenact(self, source, target, training=False):
        """x̄ = G_de(G_es(x_s), G_et(x_t)): the source's expression on the target's identity."""
        f_e = self.expression_encoder(source, training=training)
        f_i = self.identity_encoder(target, training=training)
        return self.decoder([f_e, f_i], training=training)

    def discriminator_losses(self, data, generated, training=False):
        """Eq. (1) terms; returns a dict with `d_loss` and its three parts."""
        source_logits, _ = self.discriminator(data["source"], training=training)
        _, target_identity_logits = self.discriminator(data["target"], training=training)
        fake_logits, _ = self.discriminator(generated, training=training)
        terms = {
            "d_expression_loss": classification_loss(data["source_expression"], source_logits),
            "d_identity_loss": classification_loss(data["target_identity"], target_identity_logits),
            "d_fake_loss": fake_class_loss(fake_logits),
        }
        w = self.d_loss_weights
        terms["d_loss"] = (
            w["expression"] * terms["d_expression_loss"]
            + w["identity"] * terms["d_identity_loss"]
            + w["fake"] * terms["d_fake_loss"]
        )
        return terms

    def generator_terms(self, data, training=False):
        """The unweighted terms of eq. (4) (and the weighted L1 with `pixel_weights`), and x̄."""
        generated = self.reenact(data["source"], data["target"], training=training)
        expression_logits, identity_logits = self.discriminator(generated, training=training)
        terms = {
            "g_adv_loss": not_fake_loss(expression_logits),
            "g_pixel_loss": pixel_loss(generated, data["ground_truth"]),
            "g_expression_loss": classification_loss(data["source_expression"], expression_logits),
            "g_identity_loss": classification_loss(data["target_identity"], identity_logits),
        }
        if self.pixel_weights is not None:
            error = ops.abs(ops.cast(generated, "float32") - ops.cast(data["ground_truth"], "float32"))
            terms["g_pixel_weighted_loss"] = ops.mean(error * ops.convert_to_tensor(self.pixel_weights))
        return terms, generated

    def _pixel_term(self, terms):
        return terms.get("g_pixel_weighted_loss", terms["g_pixel_loss"])

    def generator_losses(self, data, training=False):
        """Eq. (2)-(4) terms; returns (dict with `g_loss` and its parts, generated images)."""
        terms, generated = self.generator_terms(data, training=training)
        w = self.loss_weights
        through_d = (
            w["adversarial"] * terms["g_adv_loss"]
            + w["expression"] * terms["g_expression_loss"]
            + w["identity"] * terms["g_identity_loss"]
        )
        terms["g_loss"] = w["pixel"] * self._pixel_term(terms) + self.adversarial_ramp() * through_d
        return terms, generated

    def term_gradient_norms(self, data):
        """Global norm of each *weighted* G term's gradient on G's variables for one triplet
        batch (G and D in training mode, nothing updated; the adversarial ramp not applied):
        which term steers G's update. Keys `TERM_GRADIENT_NAMES` (`grad_pixel` is the weighted
        L1 when `pixel_weights` is set)."""
        data = check_triplet_batch(data)
        variables = self.optimizer_variables_for("g")
        with tf.GradientTape(persistent=True) as tape:
            terms, _ = self.generator_terms(data, training=True)
        sources = {"pixel": self._pixel_term(terms), "adversarial": terms["g_adv_loss"],
                   "expression": terms["g_expression_loss"], "identity": terms["g_identity_loss"]}
        norms = {}
        for name, key in TERM_GRADIENT_NAMES.items():
            grads = [g for g in tape.gradient(sources[name], variables) if g is not None]
            norm = float(tf.linalg.global_norm(grads)) if grads else 0.0
            norms[key] = float(self.loss_weights[name]) * norm
        del tape
        return norms

    def generator_model(self):
        """`models.reenactment_generator` of this G: `{"target", "source"}` -> x̄."""
        return models.reenactment_generator(self.expression_encoder, self.identity_encoder, self.decoder)

    def adversarial_ramp(self):
        """Factor in [0, 1] on the D-based terms of eq. (4) (1 without a warm-up)."""
        if self.adversarial_warmup_steps <= 0:
            return 1.0
        steps = ops.cast(self.g_optimizer.iterations, "float32")
        return ops.minimum(1.0, steps / float(self.adversarial_warmup_steps))

    def train_step(self, data):
        data = check_triplet_batch(data)
        generated = self.reenact(data["source"], data["target"], training=True)
        generated = ops.stop_gradient(generated)
        with tf.GradientTape() as tape:
            d_terms = self.discriminator_losses(data, generated, training=True)
        optimizer_step(tape, d_terms["d_loss"], self.optimizer_variables_for("d"), self.d_optimizer)

        g_variables = self.optimizer_variables_for("g")
        g_terms = {}
        # 0 G steps: D warm-up on eq. (1) alone (`GeneratorPriority(d_warmup_steps=...)`).
        for _ in range(self.g_steps_per_d_step):
            with tf.GradientTape() as tape:
                g_terms, _ = self.generator_losses(data, training=True)
            optimizer_step(tape, g_terms["g_loss"], g_variables, self.g_optimizer)
        return self.update_trackers({**d_terms, **g_terms})

    def test_step(self, data):
        data = check_triplet_batch(data)
        g_terms, generated = self.generator_losses(data, training=False)
        d_terms = self.discriminator_losses(data, generated, training=False)
        return self.update_trackers({**d_terms, **g_terms})

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_identities": self.num_identities,
                "num_expressions": self.num_expressions,
                "loss_weights": dict(self.loss_weights),
                "d_loss_weights": dict(self.d_loss_weights),
                "g_steps_per_d_step": self.g_steps_per_d_step,
                "adversarial_warmup_steps": self.adversarial_warmup_steps,
                "seed": self.seed,
                **self.network_config,
            }
        )
        return config


class GeneratorPriority(keras.callbacks.Callback):
    """D warm-up, then 1 G update per D update, then `g_steps` once D is near-optimal.

    Section 4.1: "in later iterations of REL-GAN, when D reaches a near-optimal solution, G is
    updated more frequently than D". The switch happens at the end of the first batch where
    D has made `after_steps` updates, or where the running `d_loss` is below `d_loss_below`
    (whichever is given and comes first). The train function is re-traced with the new count.
    Checked again at the start of a resumed run (D's step count is part of the backup).

    `d_warmup_steps` > 0 first trains D alone (eq. 1, G not updated: `g_steps_per_d_step = 0`)
    for that many D updates. Without it, D_e does not learn expressions for hundreds of steps:
    from step one G (λ3 = 50 on L_De) pushes x̄ towards whatever D_e reads as real, D cannot
    tell real from fake and settles into calling every image about half "fake" (real-image CE
    ~ -log(0.5 / N_e) > ln(N_e + 1)), so G_es receives no expression signal. The warm-up is not
    in the paper, whose REL-GAN is pre-trained on BU-4DFE first; see docs/relgan.md.

    Args:
        g_steps: G updates per D update after the switch.
        after_steps: switch after this many D updates (`None`: no step criterion).
        d_loss_below: switch when the epoch's running `d_loss` falls below this (`None`: no
            loss criterion); only counted after the warm-up.
        d_warmup_steps: D-only updates before G starts (0 = none, the paper's schedule).
    """

    def __init__(self, g_steps=2, after_steps=None, d_loss_below=None, d_warmup_steps=0):
        super().__init__()
        if g_steps < 1:
            raise ValueError(f"g_steps={g_steps}: must be >= 1.")
        if d_warmup_steps < 0:
            raise ValueError(f"d_warmup_steps={d_warmup_steps}: must be >= 0.")
        self.g_steps = int(g_steps)
        self.after_steps = after_steps
        self.d_loss_below = d_loss_below
        self.d_warmup_steps = int(d_warmup_steps)
        self.switched_at = None
        self.warmup_ended_at = None

    def _set(self, g_steps):
        if self.model.g_steps_per_d_step != g_steps:
            self.model.g_steps_per_d_step = g_steps
            self.model.make_train_function(force=True)

    def _maybe_switch(self, d_loss=None):
        model = self.model
        d_steps = int(model.d_optimizer.iterations.numpy())
        if d_steps < self.d_warmup_steps:
            self._set(0)
            return
        if model.g_steps_per_d_step == 0:  # warm-up over: the paper's schedule starts now
            self._set(1)
            self.warmup_ended_at = d_steps
            return
        if model.g_steps_per_d_step == self.g_steps:
            return
        by_steps = self.after_steps is not None and d_steps >= self.after_steps
        by_loss = (
            self.d_loss_below is not None and d_loss is not None and d_loss < self.d_loss_below
        )
        if by_steps or by_loss:
            self._set(self.g_steps)
            self.switched_at = d_steps

    def on_train_begin(self, logs=None):
        self._maybe_switch()

    def on_train_batch_end(self, batch, logs=None):
        d_loss = None if not logs or "d_loss" not in logs else float(logs["d_loss"])
        self._maybe_switch(d_loss)


class DExpressionMonitor(keras.callbacks.Callback):
    """Diagnostic: D_e on fixed *real* images every `every` D updates.

    Records `{"d_step", "accuracy", "real_class_accuracy", "p_fake", "cross_entropy"}` in
    `self.history`: `accuracy` is the argmax over all N_e + 1 outputs (a real face called
    "fake" counts as wrong), `real_class_accuracy` the argmax over the N_e expressions only,
    `p_fake` the mean probability of the fake class. A healthy D_e climbs above chance
    (1 / N_e) with `p_fake` near 0; the failure this guards against shows accuracy ~0 and
    `p_fake` ~0.5 (every image half "fake", cross-entropy above ln(N_e + 1)).

    Args:
        images: real images (N, H, W, C) in [-1, 1].
        expressions: their expression labels (N,).
        every: D updates between measurements (also measured at the start and the end).
    """

    def __init__(self, images, expressions, every=50):
        super().__init__()
        self.images = images
        self.expressions = np.asarray(expressions).astype(np.int64)
        self.every = int(every)
        self.history = []

    def measure(self):
        logits = []
        for i in range(0, len(self.images), 256):
            out, _ = self.model.discriminator(self.images[i : i + 256], training=False)
            logits.append(ops.convert_to_numpy(ops.cast(out, "float32")))
        logits = np.concatenate(logits)
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        rows = np.arange(len(logits))
        entry = {
            "d_step": int(self.model.d_optimizer.iterations.numpy()),
            "accuracy": float(np.mean(np.argmax(logits, 1) == self.expressions)),
            "real_class_accuracy": float(np.mean(np.argmax(logits[:, :-1], 1) == self.expressions)),
            "p_fake": float(probs[:, -1].mean()),
            "cross_entropy": float(-np.mean(np.log(probs[rows, self.expressions] + 1e-12))),
        }
        if not self.history or self.history[-1]["d_step"] != entry["d_step"]:
            self.history.append(entry)
        return entry

    def on_train_begin(self, logs=None):
        self.measure()

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.d_optimizer.iterations.numpy()) % self.every == 0:
            self.measure()

    def on_train_end(self, logs=None):
        self.measure()
