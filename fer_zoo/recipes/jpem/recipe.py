"""The JPEM training model: G = (G_enc, G_dec), D_att, D_i and C_exp updated in turn (eq. 3-7)."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from fer_zoo.layers.losses import (
    discriminator_bce_loss,
    nonsaturating_generator_loss,
    total_variation,
)
from fer_zoo.training import AdversarialRecipe, optimizer_step

DEFAULT_LEARNING_RATE = 2e-4
DEFAULT_BETA_1 = 0.5


def default_optimizers(learning_rate=DEFAULT_LEARNING_RATE, beta_1=DEFAULT_BETA_1):
    """The paper's optimizers: Adam(lr 2e-4, beta_1 0.5) for G, D_att, D_i and C_exp."""
    return {
        f"{name}_optimizer": keras.optimizers.Adam(learning_rate, beta_1=beta_1)
        for name in JPEMRecipe.optimizer_names
    }


def classification_loss(probabilities, labels):
    """Softmax cross-entropy (eq. 5) of class `probabilities` against integer `labels`."""
    return ops.mean(
        keras.losses.sparse_categorical_crossentropy(ops.cast(labels, "int32"), ops.cast(probabilities, "float32"))
    )


def l1_content_loss(generated, target, weights=None):
    """Mean absolute difference between the generated image and its target (eq. 6): the
    per-pixel mean over the batch, in [-1, 1] units. `weights` (broadcastable to the images,
    mean 1 per image, e.g. `expression_weight_map`) weights each pixel's difference first."""
    difference = ops.abs(ops.cast(generated, "float32") - ops.cast(target, "float32"))
    if weights is not None:
        difference = difference * ops.cast(weights, "float32")
    return ops.mean(difference)


def sample_uniform_prior(shape, seed=None):
    """Samples f* ~ U(-1, 1)^d, the prior that D_i imposes on the identity code (eq. 4)."""
    return keras.random.uniform(shape, minval=-1.0, maxval=1.0, seed=seed)


@keras.saving.register_keras_serializable(package="fer_zoo")
class JPEMRecipe(AdversarialRecipe):
    """Joint pose and expression modeling: conditional adversarial autoencoder + classifier.

    G_enc maps a face `x` to an identity code `f(x)`; G_dec renders `[f(x), e, p]` as the same
    person with the target expression `e` and pose `p`. D_att judges (image, e, p) pairs
    (eq. 3); D_i pushes `f(x)` towards the uniform prior U(-1, 1) (eq. 4); C_exp classifies the
    expression of real and generated faces (eq. 5). One `train_step` updates, in this order,
    D_att (eq. 3), D_i (eq. 4), G (eq. 7: `alpha * L1 + beta * TV + L_c(G) + adversarial`) and
    C_exp (eq. 5 on real and generated faces).

    The content loss compares the generated face with the real face of the same identity at
    the target expression and pose when the data provides it (`labels["target_image"]`, as
    KDEF and SynthFER do), else with the input itself rendered with its own codes (eq. 6).

    Batches are `(images, labels)` with `labels["expression"]`, `labels["pose"]` (integer
    class indices) and optionally `labels["target_image"]`, `labels["target_expression"]`,
    `labels["target_pose"]`.

    Args:
        encoder: G_enc, image -> identity code (`models.build_encoder`).
        decoder: G_dec, [code, expression one-hot, pose one-hot] -> image.
        att_discriminator: D_att, [image, expression one-hot, pose one-hot] -> logit.
        identity_discriminator: D_i, code -> logit.
        classifier: C_exp, image -> expression probabilities (or a dict with "expression").
        num_expressions: int, expression classes.
        num_poses: int, pose classes.
        alpha: weight of the L1 content loss (mean absolute pixel difference).
        beta: weight of the per-pixel total variation of the generated image.
        classification_weight: weight of C_exp's loss on generated faces in G's objective.
        att_adversarial_weight: weight of G's adversarial loss against D_att.
        identity_adversarial_weight: weight of G_enc's adversarial loss against D_i.
        pixel_weights: `None` (plain L1), or per-pixel weights of the L1 term, mean 1: one map
            `(H, W, C)` for every target or one per target pose `(num_poses, H, W, C)`
            (`train.pose_weight_maps`: large on mouth, eyes and brows).
        classifier_generated_weight: weight of C_exp's loss on generated faces (at their target
            labels) in C_exp's own update; 1 is eq. 5. 0 trains C_exp on real faces only, so
            that the term G meets is an expression judge G cannot train to read its outputs.
        seed: seed of the prior sampling.

    The paper gives no values for these weights; the defaults keep the L1 term dominant at
    first (CAAE likewise weights its image-adversarial term 1e-4 against a mean L1).

    Scale of each term of G's loss `g_loss` (each is logged): `l1_loss` (plain) and
    `l1_weighted_loss` (with `pixel_weights`, the one in `g_loss`; equal to `l1_loss` without
    them) and `tv_loss` are per-pixel means in [-1, 1] units; `c_generated_loss` (softmax
    cross-entropy), `g_att_loss` and `g_i_loss` (non-saturating BCE) are per-image means in
    nats. `g_loss = alpha * l1_weighted + beta * tv + classification_weight * c_generated +
    att_adversarial_weight * g_att + identity_adversarial_weight * g_i`.
        **kwargs: forwarded to `AdversarialRecipe`.

    Example:
    ```python
    nets = models.build_networks("small", channels=1, num_expressions=7, num_poses=5)
    recipe = JPEMRecipe(**nets, num_expressions=7, num_poses=5)
    recipe.compile(**default_optimizers())
    recipe.fit(paired_dataset, epochs=10)
    ```

    Reference:
        Zhang, Zhang, Mao and Xu, "Joint Pose and Expression Modeling for Facial Expression
        Recognition", CVPR 2018, sec. 3.2 (eq. 3-7).
    """

    optimizer_names = ("g", "d_att", "d_i", "c")

    def __init__(
        self,
        encoder,
        decoder,
        att_discriminator,
        identity_discriminator,
        classifier,
        num_expressions=7,
        num_poses=5,
        alpha=1.0,
        beta=0.01,
        classification_weight=0.01,
        att_adversarial_weight=1e-3,
        identity_adversarial_weight=1e-3,
        pixel_weights=None,
        classifier_generated_weight=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.att_discriminator = att_discriminator
        self.identity_discriminator = identity_discriminator
        self.classifier = classifier
        self.num_expressions = num_expressions
        self.num_poses = num_poses
        self.alpha = alpha
        self.beta = beta
        self.classification_weight = classification_weight
        self.att_adversarial_weight = att_adversarial_weight
        self.identity_adversarial_weight = identity_adversarial_weight
        self.classifier_generated_weight = classifier_generated_weight
        self.pixel_weights = None if pixel_weights is None else np.asarray(pixel_weights, np.float32)
        if self.pixel_weights is not None and self.pixel_weights.ndim == 4 and len(self.pixel_weights) != num_poses:
            raise ValueError(f"JPEMRecipe: pixel_weights has {len(self.pixel_weights)} maps for {num_poses} poses.")
        self.code_dim = int(encoder.output.shape[-1])
        # Every sub-network is a built functional model, so the recipe is built too (needed by
        # BackupAndRestore and save_weights before the first step).
        self.built = True
        for name in (
            "d_att_loss", "d_i_loss", "g_loss", "l1_loss", "l1_weighted_loss", "tv_loss", "g_att_loss", "g_i_loss",
            "c_generated_loss", "c_loss", "c_real_loss", "c_accuracy", "c_generated_accuracy",
        ):
            self.add_tracker(name)

    def optimizer_variables_for(self, name):
        if name == "g":
            return self.encoder.trainable_variables + self.decoder.trainable_variables
        if name == "d_att":
            return self.att_discriminator.trainable_variables
        if name == "d_i":
            return self.identity_discriminator.trainable_variables
        if name == "c":
            return self.classifier.trainable_variables
        raise ValueError(f"JPEMRecipe has no optimizer {name!r}; expected one of {self.optimizer_names}.")

    def call(self, inputs, training=False):
        """`inputs = (images, target_expression, target_pose)` (integer indices) -> generated faces."""
        images, expression, pose = inputs
        return self.generate(images, expression, pose, training=training)

    def one_hot(self, expression, pose):
        return (
            ops.one_hot(ops.cast(expression, "int32"), self.num_expressions),
            ops.one_hot(ops.cast(pose, "int32"), self.num_poses),
        )

    def generate(self, images, expression, pose, training=False):
        """Faces of the identities in `images` at `expression` / `pose` (integer indices)."""
        images = ops.convert_to_tensor(images, "float32")
        e, p = self.one_hot(expression, pose)
        return self.decoder([self.encoder(images, training=training), e, p], training=training)

    def expression_probabilities(self, images, training=False):
        out = self.classifier(images, training=training)
        return out["expression"] if isinstance(out, dict) else out

    def _unpack(self, data):
        images, labels = ops.convert_to_tensor(data[0], "float32"), data[1]
        expression = labels["expression"]
        pose = labels["pose"]
        target_image = ops.convert_to_tensor(labels.get("target_image", images), "float32")
        target_expression = labels.get("target_expression", expression)
        target_pose = labels.get("target_pose", pose)
        return images, expression, pose, target_image, target_expression, target_pose

    def content_weights(self, target_pose):
        """The L1 pixel weights of each target (`None` without `pixel_weights`)."""
        if self.pixel_weights is None:
            return None
        weights = ops.convert_to_tensor(self.pixel_weights, "float32")
        if self.pixel_weights.ndim == 4:
            return ops.take(weights, ops.cast(target_pose, "int32"), axis=0)
        return weights

    def content_losses(self, generated, target_image, target_pose):
        """`(plain L1, weighted L1)`: the per-pixel mean L1 and its `pixel_weights` version."""
        l1 = l1_content_loss(generated, target_image)
        weights = self.content_weights(target_pose)
        return l1, (l1 if weights is None else l1_content_loss(generated, target_image, weights))

    # Each weighted term of G's loss (eq. 7) and the attribute holding its weight.
    G_TERM_WEIGHTS = {
        "l1_weighted_loss": "alpha", "tv_loss": "beta", "c_generated_loss": "classification_weight",
        "g_att_loss": "att_adversarial_weight", "g_i_loss": "identity_adversarial_weight",
    }

    def generator_terms(self, codes, generated, target_image, target_expression, target_pose):
        """The unweighted terms of G's loss for faces `generated` from identity `codes` at the
        target codes: `l1_loss`, `l1_weighted_loss`, `tv_loss` (per-pixel means),
        `c_generated_loss`, `g_att_loss`, `g_i_loss` (per-image means). D_att, D_i and C_exp judge
        G in inference mode: in training mode their batch norm would normalise a batch of (early
        on, nearly identical) generated faces by its tiny variance, and the gradients reaching G
        would swamp the L1 term."""
        e_target, p_target = self.one_hot(target_expression, target_pose)
        l1, l1_weighted = self.content_losses(generated, target_image, target_pose)
        return {
            "l1_loss": l1, "l1_weighted_loss": l1_weighted,
            "tv_loss": ops.mean(total_variation(generated, per_pixel=True)),
            "c_generated_loss": classification_loss(self.expression_probabilities(generated, training=False),
                                                    target_expression),
            "g_att_loss": nonsaturating_generator_loss(self.att_discriminator([generated, e_target, p_target],
                                                                              training=False)),
            "g_i_loss": nonsaturating_generator_loss(self.identity_discriminator(codes, training=False)),
        }

    def generator_loss(self, terms):
        """Eq. 7: the weighted sum of `generator_terms`."""
        return sum(getattr(self, weight) * terms[name] for name, weight in self.G_TERM_WEIGHTS.items())

    def term_gradient_norms(self, data):
        """Global norm of each *weighted* term's gradient with respect to G's variables on one
        batch `(images, labels)` (G in training mode, nothing updated): which term steers G's
        update. Keys `grad_<term>`: `grad_l1`, `grad_tv`, `grad_c`, `grad_att`, `grad_i`."""
        images, _, _, target_image, target_expression, target_pose = self._unpack(data)
        e_target, p_target = self.one_hot(target_expression, target_pose)
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            codes = self.encoder(images, training=True)
            generated = self.decoder([codes, e_target, p_target], training=True)
            terms = self.generator_terms(codes, generated, target_image, target_expression, target_pose)
        norms = {}
        for name, weight in self.G_TERM_WEIGHTS.items():
            grads = [g for g in tape.gradient(terms[name], variables) if g is not None]
            norm = float(tf.linalg.global_norm(grads)) if grads else 0.0
            norms[TERM_GRADIENT_NAMES[name]] = float(getattr(self, weight)) * norm
        del tape
        return norms

    def _classifier_pose_loss(self, images, pose, training):
        out = self.classifier(images, training=training)
        if isinstance(out, dict) and "pose" in out:
            return classification_loss(out["pose"], pose)
        return 0.0

    def train_step(self, data):
        images, expression, pose, target_image, target_expression, target_pose = self._unpack(data)
        batch = ops.shape(images)[0]
        e_real, p_real = self.one_hot(expression, pose)
        e_target, p_target = self.one_hot(target_expression, target_pose)

        # G's forward pass is recorded once; the discriminator updates (eq. 3, 4) run with the
        # G tape paused, so G's losses below see the freshly updated D_att and D_i (sequential
        # updates as in the paper) without a second forward pass through G.
        g_variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        with tf.GradientTape() as g_tape:
            codes = self.encoder(images, training=True)
            generated = self.decoder([codes, e_target, p_target], training=True)
            with g_tape.stop_recording():
                # Eq. 3: D_att tells real (image, its attributes) from (G(x, e', p'), e', p').
                with tf.GradientTape() as tape:
                    real_logits = self.att_discriminator([images, e_real, p_real], training=True)
                    fake_logits = self.att_discriminator(
                        [ops.stop_gradient(generated), e_target, p_target], training=True
                    )
                    d_att_loss = discriminator_bce_loss(real_logits, fake_logits)
                optimizer_step(tape, d_att_loss, self.att_discriminator.trainable_variables, self.d_att_optimizer)
                # Eq. 4: D_i tells prior samples f* ~ U(-1, 1) from encoded identities f(x).
                prior = sample_uniform_prior((batch, self.code_dim), seed=self.seed_generator)
                with tf.GradientTape() as tape:
                    d_i_loss = discriminator_bce_loss(
                        self.identity_discriminator(prior, training=True),
                        self.identity_discriminator(ops.stop_gradient(codes), training=True),
                    )
                optimizer_step(tape, d_i_loss, self.identity_discriminator.trainable_variables, self.d_i_optimizer)
            # Eq. 5-7 for G: content (L1) + TV + classification of the generated face + adversarial.
            g_terms = self.generator_terms(codes, generated, target_image, target_expression, target_pose)
            g_loss = self.generator_loss(g_terms)
        optimizer_step(g_tape, g_loss, g_variables, self.g_optimizer)

        # Eq. 5 for C_exp: real faces and (fixed) generated faces with their target labels.
        generated = ops.stop_gradient(generated)
        with tf.GradientTape() as tape:
            real_probs = self.expression_probabilities(images, training=True)
            generated_probs = self.expression_probabilities(generated, training=True)
            c_real = classification_loss(real_probs, expression)
            c_generated_for_c = classification_loss(generated_probs, target_expression)
            c_loss = (c_real + self.classifier_generated_weight * c_generated_for_c
                      + self._classifier_pose_loss(images, pose, True))
        optimizer_step(tape, c_loss, self.classifier.trainable_variables, self.c_optimizer)

        return self.update_trackers(
            {
                "d_att_loss": d_att_loss, "d_i_loss": d_i_loss, "g_loss": g_loss, **g_terms,
                "c_loss": c_loss, "c_real_loss": c_real,
                "c_accuracy": accuracy(real_probs, expression),
                "c_generated_accuracy": accuracy(generated_probs, target_expression),
            }
        )

    def test_step(self, data):
        images, expression, pose, target_image, target_expression, target_pose = self._unpack(data)
        e_real, p_real = self.one_hot(expression, pose)
        e_target, p_target = self.one_hot(target_expression, target_pose)
        codes = self.encoder(images, training=False)
        generated = self.decoder([codes, e_target, p_target], training=False)
        real_logits = self.att_discriminator([images, e_real, p_real], training=False)
        fake_logits = self.att_discriminator([generated, e_target, p_target], training=False)
        prior = sample_uniform_prior((ops.shape(images)[0], self.code_dim), seed=self.seed_generator)
        prior_logits = self.identity_discriminator(prior, training=False)
        code_logits = self.identity_discriminator(codes, training=False)
        real_probs = self.expression_probabilities(images, training=False)
        generated_probs = self.expression_probabilities(generated, training=False)
        g_terms = self.generator_terms(codes, generated, target_image, target_expression, target_pose)
        c_real = classification_loss(real_probs, expression)
        return self.update_trackers(
            {
                "d_att_loss": discriminator_bce_loss(real_logits, fake_logits),
                "d_i_loss": discriminator_bce_loss(prior_logits, code_logits),
                "g_loss": self.generator_loss(g_terms), **g_terms,
                "c_loss": c_real + self.classifier_generated_weight * g_terms["c_generated_loss"],
                "c_real_loss": c_real,
                "c_accuracy": accuracy(real_probs, expression),
                "c_generated_accuracy": accuracy(generated_probs, target_expression),
            }
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "att_discriminator": keras.saving.serialize_keras_object(self.att_discriminator),
                "identity_discriminator": keras.saving.serialize_keras_object(self.identity_discriminator),
                "classifier": keras.saving.serialize_keras_object(self.classifier),
                "num_expressions": self.num_expressions,
                "num_poses": self.num_poses,
                "alpha": self.alpha,
                "beta": self.beta,
                "classification_weight": self.classification_weight,
                "att_adversarial_weight": self.att_adversarial_weight,
                "identity_adversarial_weight": self.identity_adversarial_weight,
                "pixel_weights": None if self.pixel_weights is None else self.pixel_weights.tolist(),
                "classifier_generated_weight": self.classifier_generated_weight,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder", "att_discriminator", "identity_discriminator", "classifier"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


TERM_GRADIENT_NAMES = {"l1_weighted_loss": "grad_l1", "tv_loss": "grad_tv", "c_generated_loss": "grad_c",
                       "g_att_loss": "grad_att", "g_i_loss": "grad_i"}


def accuracy(probabilities, labels):
    predicted = ops.argmax(ops.cast(probabilities, "float32"), axis=-1)
    return ops.mean(ops.cast(ops.equal(predicted, ops.cast(labels, predicted.dtype)), "float32"))
