"""FESR's training algorithm (paper Algorithm 1) as a `fer_zoo.training.AdversarialRecipe`.

One recipe object holds FESGAN (G_enc, G_dec, D_img, D_z), the frozen identity network F_id /
Light CNN trunk and the recognizer R (R_ext, R_cls). `stage` selects the branch of Algorithm 1:
`"pretrain"` (t < P_pre: eqs. 22-24) or `"joint"` (t >= P_pre: eqs. 24-26). The paper's
ablation variants (Fig. 8) are flags of the same step (`VARIANTS`).
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from fer_zoo.layers import ExpressionIntensityCode
from fer_zoo.layers.losses import gradient_penalty
from fer_zoo.recipes.fesr.models import check_identity_path, split_encoding
from fer_zoo.training import AdversarialRecipe, optimizer_step

# lambda1..lambda6 of eqs. 22-26 (paper section IV-B: 1, 10, 5, 1, 1, 0.001).
PAPER_LOSS_WEIGHTS = {
    "latent_adversarial": 1.0,  # lambda1
    "reconstruction": 10.0,  # lambda2
    "identity": 5.0,  # lambda3
    "fake_classification": 1.0,  # lambda4
    "image_adversarial": 1.0,  # lambda5
    "intra_class": 0.001,  # lambda6
}
# Weights beyond the paper's lambdas (defaults keep Algorithm 1 unchanged):
#   generator_image_adversarial: G's WGAN term L_adv^img in eq. 22 (the paper: 1);
#   paired: the supervised per-pixel L1 to an exact target render (paired batches only, see
#       `FESRRecipe`; SynthFER gives the true face at any expression and intensity).
EXTRA_LOSS_WEIGHTS = {"generator_image_adversarial": 1.0, "paired": 1.0}
DEFAULT_LOSS_WEIGHTS = {**PAPER_LOSS_WEIGHTS, **EXTRA_LOSS_WEIGHTS}

# `FESRRecipe.term_gradient_norms` key of each weighted G term (paired batches).
TERM_GRADIENT_NAMES = {
    "paired_l1_weighted": "grad_paired", "reconstruction": "grad_rec", "identity": "grad_id",
    "g_adv_img": "grad_adv_img", "g_adv_z": "grad_adv_z", "g_cls_fake_d": "grad_cls",
}

# The paper's ablation (section IV-D, Fig. 8).
#   pretrain: run stage 1 (FESGAN pre-training) before the joint stage.
#   synthetic: where x^{p,f} comes from: "prior" = G_dec([z, u(y)]) (new identities),
#       "encoded" = G_dec([g(x), u(y')]) (FESR_Real), None = no synthetic images for R.
#   joint: G/D keep training in stage 2 and G receives R's loss on its images (eq. 25).
#   intra: use the intra-class loss (eq. 14); rdbp: stop the gradient into R_ext(x) in L_rf.
VARIANTS = {
    "JL": {"pretrain": True, "synthetic": "prior", "joint": True, "intra": True, "rdbp": True},
    "BASELINE": {"pretrain": False, "synthetic": None, "joint": False, "intra": False, "rdbp": True},
    "SL": {"pretrain": True, "synthetic": "prior", "joint": False, "intra": True, "rdbp": True},
    "OneSt": {"pretrain": False, "synthetic": "prior", "joint": True, "intra": True, "rdbp": True},
    "JL-IL": {"pretrain": True, "synthetic": "prior", "joint": True, "intra": False, "rdbp": True},
    "JL-RDBP": {"pretrain": True, "synthetic": "prior", "joint": True, "intra": True, "rdbp": False},
    "Real": {"pretrain": True, "synthetic": "encoded", "joint": True, "intra": False, "rdbp": True},
}

STAGES = ("pretrain", "joint")


def euclidean_distance(a, b, epsilon=1e-8):
    """Per-sample `||a - b||_2` (epsilon keeps the gradient finite at a == b)."""
    return ops.sqrt(ops.sum(ops.square(a - b), axis=-1) + epsilon)


def intra_class_losses(real_features, positive_features, synthetic_features, rdbp=True):
    """`(L_dist^r, L_dist^rf)` of eqs. 15-16, batch means.

    With `rdbp` (eq. 18) `R_ext(x)` is a constant target in `L_dist^rf`: only
    `R_ext(x^{p,f})` receives its gradient, so synthetic features move toward real ones and
    never the reverse. Without it (plain SGD, FESR_JL-RDBP) both sides get gradients.
    """
    real_to_real = ops.mean(euclidean_distance(real_features, positive_features))
    anchor = ops.stop_gradient(real_features) if rdbp else real_features
    real_to_synthetic = ops.mean(euclidean_distance(anchor, synthetic_features))
    return real_to_real, real_to_synthetic


def _cross_entropy(labels, logits):
    return ops.mean(
        keras.losses.sparse_categorical_crossentropy(labels, ops.cast(logits, "float32"), from_logits=True)
    )


def _binary_cross_entropy(target, probabilities):
    probabilities = ops.clip(ops.cast(probabilities, "float32"), 1e-7, 1.0 - 1e-7)
    return -ops.mean(target * ops.log(probabilities) + (1.0 - target) * ops.log(1.0 - probabilities))


def _accuracy(labels, logits):
    predicted = ops.argmax(logits, axis=-1)
    return ops.mean(ops.cast(ops.equal(predicted, ops.cast(labels, predicted.dtype)), "float32"))


@keras.saving.register_keras_serializable(package="fer_zoo")
class FESRRecipe(AdversarialRecipe):
    """Joint facial expression synthesis (FESGAN) and recognition (R) with RDBP.

    Each `train_step` follows Algorithm 1: update D_z (eq. 24 = eq. 7: BCE between
    `z ~ U(-1, 1)^n` and `g(x)`), then D_img (eq. 23: `lambda5 * (WGAN loss + gp_weight *
    gradient penalty) + L^r_cls,D`), then — in the joint stage — R (eq. 26: `L_cls,R + lambda6 *
    L_intra` on the triplet `(x, x^{p,r}, x^{p,f})`, RDBP), then G (eq. 22, plus `lambda4 *
    L^f_cls,R` in the joint stage, eq. 25). Batches are dicts with `"image"` (x),
    `"expression"` (int y) and, for the joint stage, `"positive"` (x^{p,r}: another real image
    of class y). y' is drawn uniformly among the other K - 1 classes.

    **Paired batches** (data with exact ground truth, e.g. SynthFER; pretrain stage): a batch
    that also holds `"target"` (the true face of x's identity at the requested code),
    `"target_expression"` (int y') and `"target_intensity"` (v' in [0, 1]), and optionally
    `"intensity"` (x's own v; else drawn as in the paper), trains G on
    `u(y') = v' (2y' - 1)` instead of a random y' and v. The G loss then adds the
    supervised per-pixel L1 `paired_l1_weighted = mean(w * |target - G(x, u(y'))|)` (weight
    `paired`; `w` = `pixel_weights`, mean 1, or 1) to the paper's terms, with these changes:
    D_img's real images are the targets (labels y'), L_id compares F_id(G(x, u(y'))) with
    F_id(target) (the true identity at that expression), and L_rec keeps x's own code. Every
    term is logged: `paired_l1` (plain) and `paired_l1_weighted` are per-pixel means in [-1, 1]
    units, `reconstruction` a per-pixel mean, `identity` a per-feature mean, `g_adv_img` a
    per-image critic score, `g_adv_z` and `g_cls_fake_d` per-image means in nats.

    **Identity path** (`models.NETWORK_CONFIGS["synthfer64_skip"]`): when G_enc also returns
    skip maps and / or x (`models.build_encoder`), every decode of an encoded face gets them
    (`encode`, `decode`); D_z still sees g(x) alone. G_dec then has no prior path (nothing to
    feed its skip inputs from z): `synthesize_from_prior` and a joint stage whose variant
    decodes z (every variant but "Real") raise.

    Args:
        encoder: G_enc, image -> g(x) (`build_encoder`).
        decoder: G_dec, `[latent, u]` -> image (`build_decoder`).
        image_critic: D_img, image -> `{"adversarial", "classification"}`.
        latent_critic: D_z, latent -> probability of being a prior sample.
        identity_features: F_id, image -> identity embedding (frozen; eq. 12).
        recognizer_extractor: R_ext, image -> expression feature (its frozen Light CNN
            trunk included; only its trainable variables are updated).
        recognizer_classifier: R_cls, feature -> K logits.
        num_classes: K.
        variant: key of `VARIANTS` (`"JL"` = the full method).
        stage: `"pretrain"` or `"joint"`; change it with `set_stage`.
        loss_weights: dict overriding `DEFAULT_LOSS_WEIGHTS` (lambda1..lambda6 of the paper,
            `generator_image_adversarial` and `paired`).
        gp_weight: WGAN-GP penalty weight (10, Gulrajani et al.).
        critic_steps: D_img updates per iteration (Algorithm 1: 1; WGAN-GP's usual 5 makes the
            critic keep up on short runs).
        seed: seed of every random draw in the steps.
        pixel_weights: `(H, W, C)` weights of the paired L1 (mean 1; e.g. GASCA's
            `expression_weight_map`), or None (plain per-pixel mean).
        **kwargs: forwarded to `AdversarialRecipe`.

    Example:
    ```python
    nets = build_fesgan(network_config("small"), channels=1)
    recipe = FESRRecipe(nets["encoder"], nets["decoder"], nets["image_critic"],
                        nets["latent_critic"], f_id, r_ext, r_cls, stage="pretrain")
    recipe.compile()   # Adam(1e-4, 0.5) for g, d_img, d_z, r
    recipe.fit(triplets, epochs=1)
    recipe.set_stage("joint"); recipe.fit(triplets, epochs=1)
    ```

    Reference:
        Yan, Huang, Chen, Shen, Wang, "Joint Deep Learning of Facial Expression Synthesis and
        Recognition", IEEE Transactions on Multimedia 22(11), 2020, Algorithm 1.
    """

    optimizer_names = ("g", "d_img", "d_z", "r")

    def __init__(
        self,
        encoder,
        decoder,
        image_critic,
        latent_critic,
        identity_features,
        recognizer_extractor,
        recognizer_classifier,
        num_classes=7,
        variant="JL",
        stage="pretrain",
        loss_weights=None,
        gp_weight=10.0,
        critic_steps=1,
        seed=None,
        pixel_weights=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"FESRRecipe: unknown variant {variant!r}; expected one of {sorted(VARIANTS)}.")
        unknown = set(loss_weights or {}) - set(DEFAULT_LOSS_WEIGHTS)
        if unknown:
            raise ValueError(
                f"FESRRecipe: unknown loss_weights {sorted(unknown)}; expected some of {sorted(DEFAULT_LOSS_WEIGHTS)}."
            )
        self.encoder = encoder
        self.decoder = decoder
        # Skip maps / source face G_enc hands G_dec (0: the paper's G, g(x) only).
        self.identity_path = check_identity_path(encoder, decoder)
        self.image_critic = image_critic
        self.latent_critic = latent_critic
        self.identity_features = identity_features
        self.identity_features.trainable = False
        self.recognizer_extractor = recognizer_extractor
        self.recognizer_classifier = recognizer_classifier
        self.num_classes = num_classes
        self.variant = variant
        self.flags = dict(VARIANTS[variant])
        self.loss_weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
        if not self.flags["intra"]:
            self.loss_weights["intra_class"] = 0.0
        self.gp_weight = gp_weight
        self.critic_steps = int(critic_steps)
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.intensity_code = ExpressionIntensityCode(num_classes, seed=seed)
        self.pixel_weights = None if pixel_weights is None else np.asarray(pixel_weights, np.float32)
        if self.pixel_weights is not None and self.pixel_weights.shape != tuple(encoder.input_shape[1:]):
            raise ValueError(
                f"FESRRecipe: pixel_weights of shape {self.pixel_weights.shape} do not match the images "
                f"{tuple(encoder.input_shape[1:])}."
            )
        self.stage = None
        self.set_stage(stage)
        for name in (
            "d_z_loss", "d_img_loss", "d_img_wasserstein", "gradient_penalty", "d_img_cls_real",
            "d_img_accuracy", "g_loss", "g_adv_img", "g_adv_z", "reconstruction", "identity",
            "g_cls_fake_d", "g_cls_fake_r", "r_loss", "r_cls_real", "r_cls_fake", "intra_class",
            "dist_real_real", "dist_real_synthetic", "r_accuracy", "r_loss_eval", "paired_l1",
            "paired_l1_weighted",
        ):
            self.add_tracker(name)
        # Every sub-network is a built functional model.
        self.built = True

    def call(self, inputs, training=False):
        """Expression probabilities of R for a batch of images."""
        _, logits = self.recognize(inputs, training=training)
        return ops.softmax(logits)

    def set_stage(self, stage):
        """Switch between Algorithm 1's branches (`"pretrain"`, `"joint"`); retraces the step."""
        if stage not in STAGES:
            raise ValueError(f"FESRRecipe.set_stage: stage must be one of {STAGES}, got {stage!r}.")
        if stage == "joint" and self.identity_path and self.flags["synthetic"] == "prior":
            raise ValueError(
                f"FESRRecipe: variant {self.variant!r} decodes prior samples z in the joint stage, but this G_dec "
                "takes an identity path (skip maps / the source face) that only an encoded image has; use "
                "variant 'Real' or a network without skip_connections / residual_output."
            )
        self.stage = stage
        # Keras caches the traced step; a new stage is a different graph.
        self.train_function = None
        self.test_function = None

    # -- which networks each optimizer updates ------------------------------------------------
    def optimizer_variables_for(self, name):
        if name == "g":
            return self.encoder.trainable_variables + self.decoder.trainable_variables
        if name == "d_img":
            return self.image_critic.trainable_variables
        if name == "d_z":
            return self.latent_critic.trainable_variables
        if name == "r":
            return self.recognizer_extractor.trainable_variables + self.recognizer_classifier.trainable_variables
        raise ValueError(f"FESRRecipe: unknown optimizer {name!r}; expected one of {self.optimizer_names}.")

    @property
    def trains_gan(self):
        """Whether this stage updates G, D_img and D_z (not in the joint stage of BASELINE/SL)."""
        return self.stage == "pretrain" or self.flags["joint"]

    # -- pieces ----------------------------------------------------------------------------------
    def _sample_prior(self, batch):
        return keras.random.uniform((batch, self.latent_dim), -1.0, 1.0, seed=self.seed_generator)

    def _other_labels(self, labels):
        """y' != y, uniform over the other K - 1 classes."""
        offset = keras.random.randint(ops.shape(labels), 1, self.num_classes, seed=self.seed_generator)
        return (ops.cast(labels, "int32") + offset) % self.num_classes

    def recognize(self, images, training=False):
        """`(R_ext(x), R_cls(R_ext(x)))`."""
        features = self.recognizer_extractor(images, training=training)
        return features, self.recognizer_classifier(features, training=training)

    def encode(self, images, training=False):
        """`(g(x), identity path)`: G_enc's code and the skip maps / source face it hands G_dec
        (an empty list for the paper's G)."""
        return split_encoding(self.encoder(images, training=training))

    def decode(self, encoding, code, training=False):
        """G_dec([g(x), u], *identity path) of an `encode` result."""
        latent, bypass = encoding
        # One kind of argument for the nested call (arrays and tensors may come mixed).
        parts = [ops.convert_to_tensor(t) for t in (latent, code, *bypass)]
        return self.decoder(parts, training=training)

    def synthesize_from_prior(self, latent, labels, intensity=None, training=False):
        """x^{p,f} = G_dec([z, u(y)]) (eq. 13); `intensity=None` draws v ~ U(0, 1) in training."""
        if self.identity_path:
            raise ValueError(
                "FESRRecipe.synthesize_from_prior: this G_dec takes skip maps / the source face of an encoded "
                "image (identity path), so it cannot decode a prior sample z alone."
            )
        code = self.intensity_code(labels, intensity=intensity, training=training)
        return self.decoder([ops.convert_to_tensor(latent, "float32"), code], training=training)

    def _synthetic_for_r(self, images, labels, latent, training=True):
        """x^{p,f} and its label for R: from the prior (JL) or from g(x) (FESR_Real)."""
        if self.flags["synthetic"] == "encoded":
            targets = self._other_labels(labels)
            code = self.intensity_code(targets, training=training)
            return self.decode(self.encode(images, training=training), code, training=training), targets
        return self.synthesize_from_prior(latent, labels, training=training), labels

    # -- losses ----------------------------------------------------------------------------------
    def latent_critic_loss(self, images, prior):
        """eq. 7: -E log D_z(z) - E log(1 - D_z(g(x)))."""
        latent = ops.stop_gradient(self.encode(images, training=True)[0])
        real = self.latent_critic(prior, training=True)
        fake = self.latent_critic(latent, training=True)
        return _binary_cross_entropy(1.0, real) + _binary_cross_entropy(0.0, fake)

    def image_critic_losses(self, images, labels, target_code, real_images=None):
        """eq. 23 terms: WGAN critic loss (eq. 5), gradient penalty, L^r_cls,D (eq. 9).

        The fakes are G(x, target_code); the real images are x (the paper) or `real_images`
        (paired batches: the exact targets), and `labels` are the real images' classes."""
        fake = ops.stop_gradient(self.decode(self.encode(images, training=True), target_code, training=True))
        images = images if real_images is None else real_images
        real_out = self.image_critic(images, training=True)
        fake_out = self.image_critic(fake, training=True)
        wasserstein = ops.mean(ops.cast(fake_out["adversarial"], "float32")) - ops.mean(
            ops.cast(real_out["adversarial"], "float32")
        )
        penalty = gradient_penalty(self.image_critic, images, fake, self.seed_generator, output_key="adversarial")
        cls_real = _cross_entropy(labels, real_out["classification"])
        accuracy = _accuracy(labels, real_out["classification"])
        return wasserstein, penalty, cls_real, accuracy

    def generator_losses(self, images, labels, targets, target_code, own_code, prior):
        """eq. 22 (and eq. 25's extra L^f_cls,R in the joint stage) term by term."""
        encoding = self.encode(images, training=True)
        latent = encoding[0]
        translated = self.decode(encoding, target_code, training=True)
        reconstructed = self.decode(encoding, own_code, training=True)
        fake_out = self.image_critic(translated, training=True)
        terms = {
            "g_adv_img": -ops.mean(ops.cast(fake_out["adversarial"], "float32")),  # eq. 4
            "g_adv_z": _binary_cross_entropy(1.0, self.latent_critic(latent, training=True)),  # eq. 6
            "reconstruction": ops.mean(
                ops.abs(ops.cast(images, "float32") - ops.cast(reconstructed, "float32"))
            ),  # eq. 10 (per-pixel mean)
            "identity": ops.mean(
                ops.abs(
                    ops.cast(self.identity_features(reconstructed, training=False), "float32")
                    - ops.cast(self.identity_features(images, training=False), "float32")
                )
            ),  # eq. 12
            "g_cls_fake_d": _cross_entropy(targets, fake_out["classification"]),  # eq. 8
        }
        if self.stage == "joint" and self.flags["synthetic"] is not None:
            synthetic, synthetic_labels = self._synthetic_for_r(images, labels, prior)
            _, logits = self.recognize(synthetic, training=True)
            terms["g_cls_fake_r"] = _cross_entropy(synthetic_labels, logits)  # eq. 21 for G
        w = self.loss_weights
        total = (
            w["generator_image_adversarial"] * terms["g_adv_img"]
            + w["latent_adversarial"] * terms["g_adv_z"]
            + w["reconstruction"] * terms["reconstruction"]
            + w["identity"] * terms["identity"]
            + w["fake_classification"] * (terms["g_cls_fake_d"] + terms.get("g_cls_fake_r", 0.0))
        )
        return total, terms

    def paired_l1(self, generated, target):
        """`(plain, weighted)` per-pixel mean L1 between G's faces and the exact targets."""
        error = ops.abs(ops.cast(target, "float32") - ops.cast(generated, "float32"))
        if self.pixel_weights is None:
            plain = ops.mean(error)
            return plain, plain
        return ops.mean(error), ops.mean(error * ops.convert_to_tensor(self.pixel_weights))

    def paired_generator_terms(self, images, target_images, target_labels, target_code, own_code):
        """G's terms on a paired batch (see the class docstring), unweighted."""
        encoding = self.encode(images, training=True)
        latent = encoding[0]
        translated = self.decode(encoding, target_code, training=True)
        reconstructed = self.decode(encoding, own_code, training=True)
        fake_out = self.image_critic(translated, training=True)
        plain, weighted = self.paired_l1(translated, target_images)
        return {
            "paired_l1": plain,
            "paired_l1_weighted": weighted,
            "g_adv_img": -ops.mean(ops.cast(fake_out["adversarial"], "float32")),
            "g_adv_z": _binary_cross_entropy(1.0, self.latent_critic(latent, training=True)),
            "reconstruction": ops.mean(
                ops.abs(ops.cast(images, "float32") - ops.cast(reconstructed, "float32"))
            ),
            "identity": ops.mean(
                ops.abs(
                    ops.cast(self.identity_features(translated, training=False), "float32")
                    - ops.cast(self.identity_features(target_images, training=False), "float32")
                )
            ),
            "g_cls_fake_d": _cross_entropy(target_labels, fake_out["classification"]),
        }

    def paired_generator_loss(self, terms):
        """The weighted sum of `paired_generator_terms` (`TERM_GRADIENT_NAMES` lists them)."""
        w = self.loss_weights
        return (
            w["paired"] * terms["paired_l1_weighted"]
            + w["generator_image_adversarial"] * terms["g_adv_img"]
            + w["latent_adversarial"] * terms["g_adv_z"]
            + w["reconstruction"] * terms["reconstruction"]
            + w["identity"] * terms["identity"]
            + w["fake_classification"] * terms["g_cls_fake_d"]
        )

    _TERM_WEIGHT = {
        "paired_l1_weighted": "paired", "reconstruction": "reconstruction", "identity": "identity",
        "g_adv_img": "generator_image_adversarial", "g_adv_z": "latent_adversarial",
        "g_cls_fake_d": "fake_classification",
    }

    def term_gradient_norms(self, data):
        """Global norm of each *weighted* G term's gradient with respect to G's variables on one
        paired batch (G in training mode, nothing updated): which term steers G's update. Keys
        of `TERM_GRADIENT_NAMES`: `grad_paired`, `grad_rec`, `grad_id`, `grad_adv_img`,
        `grad_adv_z`, `grad_cls`."""
        batch = self._unpack_paired(data)
        variables = self.optimizer_variables_for("g")
        with tf.GradientTape(persistent=True) as tape:
            terms = self.paired_generator_terms(
                batch["image"], batch["target"], batch["target_labels"], batch["target_code"], batch["own_code"]
            )
        norms = {}
        for name, key in TERM_GRADIENT_NAMES.items():
            grads = [g for g in tape.gradient(terms[name], variables) if g is not None]
            norm = float(tf.linalg.global_norm(grads)) if grads else 0.0
            norms[key] = float(self.loss_weights[self._TERM_WEIGHT[name]]) * norm
        del tape
        return norms

    def generate(self, images, expression, intensity=1.0, training=False):
        """G_dec([G_enc(x), u(y')]) for integer (or one-hot) y' at intensity v in [0, 1]."""
        code = self.intensity_code(ops.convert_to_tensor(expression), intensity=intensity)
        return self.decode(self.encode(images, training=training), code, training=training)

    def recognizer_losses(self, images, labels, positives, prior):
        """eq. 26 term by term: L_cls,R (eqs. 19-21) + lambda6 * L_intra (eq. 14, RDBP)."""
        real_features, real_logits = self.recognize(images, training=True)
        terms = {"r_cls_real": _cross_entropy(labels, real_logits), "r_accuracy": _accuracy(labels, real_logits)}
        total = terms["r_cls_real"]
        if self.flags["synthetic"] is not None:
            synthetic, synthetic_labels = self._synthetic_for_r(images, labels, prior)
            synthetic = ops.stop_gradient(synthetic)  # R's update never changes G
            synthetic_features, synthetic_logits = self.recognize(synthetic, training=True)
            terms["r_cls_fake"] = _cross_entropy(synthetic_labels, synthetic_logits)
            total = total + terms["r_cls_fake"]
            if self.flags["intra"]:
                positive_features, _ = self.recognize(positives, training=True)
                real_real, real_synthetic = intra_class_losses(
                    real_features, positive_features, synthetic_features, rdbp=self.flags["rdbp"]
                )
                terms.update(
                    dist_real_real=real_real,
                    dist_real_synthetic=real_synthetic,
                    intra_class=real_real + real_synthetic,
                )
                total = total + self.loss_weights["intra_class"] * terms["intra_class"]
        return total, terms

    # -- steps -----------------------------------------------------------------------------------
    def _unpack(self, data):
        if isinstance(data, tuple | list):
            data = data[0]
        if not isinstance(data, dict) or "image" not in data or "expression" not in data:
            raise ValueError(
                "FESRRecipe expects batches as dicts with 'image', 'expression' (and 'positive' for "
                f"the joint stage), got {type(data).__name__}."
            )
        labels = ops.cast(ops.reshape(data["expression"], (-1,)), "int32")
        return data["image"], labels, data.get("positive")

    def _unpack_paired(self, data):
        """A paired batch's tensors and codes: `image`, `labels` (x's class), `target`,
        `target_labels`, `target_code` = u(y') at v', `own_code` = u(y) at x's `intensity`
        (drawn as in the paper when the batch has none)."""
        images, labels, _ = self._unpack(data)
        if isinstance(data, tuple | list):
            data = data[0]
        missing = {"target", "target_expression", "target_intensity"} - set(data)
        if missing:
            raise ValueError(f"FESRRecipe: a paired batch needs {sorted(missing)} too.")
        target_labels = ops.cast(ops.reshape(data["target_expression"], (-1,)), "int32")
        own = data.get("intensity")
        return {
            "image": images, "labels": labels, "target": data["target"], "target_labels": target_labels,
            "target_code": self.intensity_code(target_labels, intensity=ops.reshape(data["target_intensity"], (-1,))),
            "own_code": self.intensity_code(
                labels, intensity=None if own is None else ops.reshape(own, (-1,)), training=True
            ),
        }

    @staticmethod
    def _is_paired(data):
        if isinstance(data, tuple | list):
            data = data[0]
        return isinstance(data, dict) and "target" in data

    def paired_train_step(self, data):
        """One iteration of Algorithm 1's pretrain branch on a paired batch: D_z (eq. 7), D_img
        (eq. 23, real = the exact targets), then G (eq. 22 terms + the paired L1)."""
        if self.stage != "pretrain":
            raise ValueError("FESRRecipe: paired batches train the pretrain stage (G, D_img, D_z) only.")
        b = self._unpack_paired(data)
        images = b["image"]
        batch = ops.shape(images)[0]
        with tf.GradientTape() as tape:
            d_z_loss = self.latent_critic_loss(images, self._sample_prior(batch))
        optimizer_step(tape, d_z_loss, self.optimizer_variables_for("d_z"), self.d_z_optimizer)
        for _ in range(self.critic_steps):
            with tf.GradientTape() as tape:
                wasserstein, penalty, cls_real, d_accuracy = self.image_critic_losses(
                    images, b["target_labels"], b["target_code"], real_images=b["target"]
                )
                d_img_loss = self.loss_weights["image_adversarial"] * (wasserstein + self.gp_weight * penalty) + cls_real
            optimizer_step(tape, d_img_loss, self.optimizer_variables_for("d_img"), self.d_img_optimizer)
        with tf.GradientTape() as tape:
            terms = self.paired_generator_terms(images, b["target"], b["target_labels"], b["target_code"], b["own_code"])
            g_loss = self.paired_generator_loss(terms)
        optimizer_step(tape, g_loss, self.optimizer_variables_for("g"), self.g_optimizer)
        return self.update_trackers({
            "d_z_loss": d_z_loss, "d_img_loss": d_img_loss, "d_img_wasserstein": -wasserstein,
            "gradient_penalty": penalty, "d_img_cls_real": cls_real, "d_img_accuracy": d_accuracy,
            "g_loss": g_loss, **terms,
        })

    def train_step(self, data):
        if self._is_paired(data):
            return self.paired_train_step(data)
        images, labels, positives = self._unpack(data)
        batch = ops.shape(images)[0]
        prior = self._sample_prior(batch)
        targets = self._other_labels(labels)
        target_code = self.intensity_code(targets, training=True)
        own_code = self.intensity_code(labels, training=True)
        logs = {}

        if self.trains_gan:
            # Lines 3-6: D_z.
            with tf.GradientTape() as tape:
                d_z_loss = self.latent_critic_loss(images, self._sample_prior(batch))
            optimizer_step(tape, d_z_loss, self.optimizer_variables_for("d_z"), self.d_z_optimizer)
            logs["d_z_loss"] = d_z_loss
            # Lines 7-9: D_img.
            for _ in range(self.critic_steps):
                with tf.GradientTape() as tape:
                    wasserstein, penalty, cls_real, d_accuracy = self.image_critic_losses(images, labels, target_code)
                    d_img_loss = (
                        self.loss_weights["image_adversarial"] * (wasserstein + self.gp_weight * penalty) + cls_real
                    )
                optimizer_step(tape, d_img_loss, self.optimizer_variables_for("d_img"), self.d_img_optimizer)
            logs.update(
                d_img_loss=d_img_loss, d_img_wasserstein=-wasserstein, gradient_penalty=penalty,
                d_img_cls_real=cls_real, d_img_accuracy=d_accuracy,
            )

        if self.stage == "joint":
            if positives is None:
                raise ValueError("FESRRecipe: the joint stage needs batches with a 'positive' image (x^{p,r}).")
            # Lines 14-16: R.
            with tf.GradientTape() as tape:
                r_loss, r_terms = self.recognizer_losses(images, labels, positives, prior)
            optimizer_step(tape, r_loss, self.optimizer_variables_for("r"), self.r_optimizer)
            logs.update(r_loss=r_loss, **r_terms)

        if self.trains_gan:
            # Lines 10-19: G (eq. 22, or eq. 25 with the updated R).
            with tf.GradientTape() as tape:
                g_loss, g_terms = self.generator_losses(images, labels, targets, target_code, own_code, prior)
            optimizer_step(tape, g_loss, self.optimizer_variables_for("g"), self.g_optimizer)
            logs.update(g_loss=g_loss, **g_terms)
        return self.update_trackers(logs)

    def update_trackers(self, values):
        for name, value in values.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in values}

    def test_step(self, data):
        if self._is_paired(data):
            # Paired validation: G's L1 to the exact targets at the requested codes, and L_rec.
            b = self._unpack_paired(data)
            encoding = self.encode(b["image"], training=False)
            plain, weighted = self.paired_l1(self.decode(encoding, b["target_code"], training=False), b["target"])
            reconstructed = self.decode(encoding, b["own_code"], training=False)
            return self.update_trackers({
                "paired_l1": plain, "paired_l1_weighted": weighted,
                "reconstruction": ops.mean(ops.abs(ops.cast(b["image"], "float32") - ops.cast(reconstructed, "float32"))),
            })
        images, labels, _ = self._unpack(data)
        _, logits = self.recognize(images, training=False)
        logs = {"r_loss_eval": _cross_entropy(labels, logits), "r_accuracy": _accuracy(labels, logits)}
        if self.stage == "pretrain":
            code = self.intensity_code(labels, intensity=1.0)
            reconstructed = self.decode(self.encode(images, training=False), code, training=False)
            logs["reconstruction"] = ops.mean(
                ops.abs(ops.cast(images, "float32") - ops.cast(reconstructed, "float32"))
            )
        return self.update_trackers(logs)

    def get_config(self):
        # The recipe is a training harness; deployable parts are saved as functional models.
        return {"num_classes": self.num_classes, "variant": self.variant, "seed": self.seed}
