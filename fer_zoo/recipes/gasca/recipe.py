"""GASCA training steps: Algorithm 2 (joint G^k / D^k), the Algorithm 3 fine-tunes of the stacks,
and the classifier fine-tune.

Reference:
    Ruiz-Garcia et al., "Generative Adversarial Stacked Autoencoders for Facial Pose
    Normalization and Emotion Recognition", IJCNN 2020, Algorithms 1-3, section VII.
"""

import keras
import tensorflow as tf
from keras import ops

from fer_zoo.layers.losses import binary_crossentropy_from_logits
from fer_zoo.training import AdversarialRecipe, optimizer_step


def bce_with_logits(logits, label):
    """Mean binary cross-entropy of `logits` against the constant `label` (0 or 1), float32."""
    return binary_crossentropy_from_logits(logits, label)


def absolute_probability_error(logits, label):
    """Algorithm 2's literal "absolute value cost" on D's probability: mean |label - sigmoid(z)|."""
    return ops.mean(ops.abs(label - ops.sigmoid(ops.cast(logits, "float32"))))


ADVERSARIAL_LOSSES = {"bce": bce_with_logits, "l1": absolute_probability_error}


@keras.saving.register_keras_serializable(package="fer_zoo")
class AdversarialAutoencoder(AdversarialRecipe):
    """One GASCA adversarial-autoencoder stage: Algorithm 2, or an Algorithm 3 fine-tune.

    Each step, with `(x_phi, x_mu)` = (input, desired target reconstruction):

    * G step (Adam in the paper): `y = G(x_phi)`, loss
      `|x_mu - y|_1 + adversarial_weight * L_minimax(D(y))` (Algorithm 2, lines 6-8 and 15-20;
      `L_minimax = loss(1, D(y))`, the non-saturating form of eq. 3); only G's weights move.
    * D step (SGD-Nesterov in the paper): `loss(1, D(x_mu)) + loss(0, D(y))` (eq. 2, lines
      9-14, 21); `y` is a constant here, so only D's weights move.

    `train_generator=False` gives the Algorithm 1 line 12 stage (fine-tune the stacked D on
    `(G(x_phi), x_mu)` with G frozen); `train_discriminator=False` fine-tunes the stacked G on
    raw pixels against a fixed D (line 10).

    Args:
        generator: functional `keras.Model`, G^k (code k-1 -> code k-1) or the stacked G.
        discriminator: functional `keras.Model`, D^k or the stacked D, returning logits.
        adversarial_weight: float, weight of the minimax term in G's loss (1.0 in the paper).
            With 0 and `train_discriminator=False` D plays no part: the step is G-only, D is not
            evaluated and the D terms (`minimax_loss`, `d_loss`, `d_real`, `d_fake`) are not logged.
        adversarial_loss: `"bce"` (eq. 2-3, log loss) or `"l1"` (Algorithm 2's literal
            absolute-value cost on D's probability).
        train_generator: bool, update G.
        train_discriminator: bool, update D.
        reconstruction_norm: `"l1"` (the paper's `|x_mu - y|`) or `"l2"` (mean squared error;
            used for code layers k >= 2, where L1 towards sparse ReLU codes drives the encoder
            to all-dead units, see docs/gasca.md).
        reconstruction_weights: optional per-element weights (an array broadcastable to one
            target, e.g. `(H, W, C)` with mean 1): the loss is then the mean of
            `weights * |x_mu - y|` (or squared), on the same scale as the plain mean.
        expression_critic: optional frozen functional `keras.Model` image -> softmax over
            expressions (`models.build_expression_critic`, trained beforehand on the training
            faces). With it the data are `(x_phi, x_mu, expression)` and G's loss gains
            `expression_weight * CE(critic(G(x_phi)), expression)` (per-image mean
            cross-entropy), logged as `expression_loss` / `expression_accuracy`. Not in the
            paper: a per-pixel loss averages a harsh-lit side view's expression away.
        expression_weight: float, weight of that term.
        seed: int, seed of the recipe's random generator.
        **kwargs: forwarded to `AdversarialRecipe` / `keras.Model`.

    Example:
    ```python
    nets = GASCANetworks(image_size=32)
    stage = AdversarialAutoencoder(nets.shallow_autoencoder(1), nets.shallow_discriminator(1))
    stage.compile(
        g_optimizer=keras.optimizers.Adam(1e-3),
        d_optimizer=keras.optimizers.SGD(1e-3, momentum=0.9, nesterov=True),
    )
    stage.fit(tf.data.Dataset.from_tensor_slices((x_phi, x_mu)).batch(16), epochs=1)
    ```

    Reference:
        Ruiz-Garcia et al., "Generative Adversarial Stacked Autoencoders for Facial Pose
        Normalization and Emotion Recognition", IJCNN 2020, Algorithms 2 and 3.
    """

    optimizer_names = ("g", "d")

    def __init__(
        self,
        generator,
        discriminator,
        adversarial_weight=1.0,
        adversarial_loss="bce",
        train_generator=True,
        train_discriminator=True,
        reconstruction_norm="l1",
        reconstruction_weights=None,
        expression_critic=None,
        expression_weight=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        if expression_critic is not None:
            expression_critic.trainable = False
        self.expression_critic = expression_critic
        self.expression_weight = float(expression_weight)
        self.reconstruction_weights = None if reconstruction_weights is None else \
            ops.convert_to_tensor(reconstruction_weights, "float32")
        if reconstruction_norm not in ("l1", "l2"):
            raise ValueError(f"reconstruction_norm={reconstruction_norm!r}; expected 'l1' or 'l2'.")
        if adversarial_loss not in ADVERSARIAL_LOSSES:
            raise ValueError(
                f"adversarial_loss={adversarial_loss!r}; expected one of {sorted(ADVERSARIAL_LOSSES)}."
            )
        if not (train_generator or train_discriminator):
            raise ValueError("AdversarialAutoencoder: nothing to train (both train_* are False).")
        self.generator = generator
        self.discriminator = discriminator
        self.adversarial_weight = float(adversarial_weight)
        self.adversarial_loss = adversarial_loss
        self.train_generator = train_generator
        self.train_discriminator = train_discriminator
        self.reconstruction_norm = reconstruction_norm
        self._adv = ADVERSARIAL_LOSSES[adversarial_loss]
        # With no adversarial term and D frozen, D would only be evaluated for its trackers: a
        # G-only L1 step skips it (measured: 307 vs 179 images/s in the 64 px stacked-G fine-tune).
        self.uses_discriminator = bool(train_discriminator or self.adversarial_weight != 0.0)
        names = ["g_loss", "reconstruction_loss", "output_std", "target_std"]
        if self.uses_discriminator:
            names[2:2] = ["minimax_loss", "d_loss", "d_real", "d_fake"]
        for name in names:
            self.add_tracker(name)
        if expression_critic is not None:
            self.add_tracker("expression_loss")
            self.add_tracker("expression_accuracy")
        self.built = True

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def optimizer_variables_for(self, name):
        if name == "g":
            return self.generator.trainable_variables
        if name == "d":
            return self.discriminator.trainable_variables
        raise ValueError(f"Unknown optimizer {name!r}.")

    def _add_expression_term(self, g_loss, reconstruction, expressions):
        """`g_loss` plus `expression_weight` x the frozen critic's per-image mean cross-entropy
        on G's outputs, and the term's tracker values (none without a critic)."""
        if expressions is None:
            return g_loss, {}
        probabilities = ops.cast(self.expression_critic(reconstruction, training=False), "float32")
        labels = ops.cast(ops.reshape(expressions, (-1,)), "int32")
        loss = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, probabilities))
        accuracy = ops.mean(ops.cast(ops.argmax(probabilities, axis=-1) == labels, "float32"))
        return g_loss + self.expression_weight * loss, {"expression_loss": loss, "expression_accuracy": accuracy}

    def _unpack(self, data):
        if self.expression_critic is None:
            return data[0], data[1], None
        if len(data) < 3:
            raise ValueError("AdversarialAutoencoder with an expression_critic needs (x_phi, x_mu, expression) data.")
        return data[0], data[1], data[2]

    def _reconstruction_losses(self, x_phi, x_mu, training):
        reconstruction = self.generator(x_phi, training=training)
        error = ops.cast(x_mu, "float32") - ops.cast(reconstruction, "float32")
        error = ops.abs(error) if self.reconstruction_norm == "l1" else ops.square(error)
        if self.reconstruction_weights is not None:
            error = error * self.reconstruction_weights
        reconstruction_loss = ops.mean(error)
        if not self.uses_discriminator:
            return reconstruction, reconstruction_loss, 0.0, None
        fake_logits = self.discriminator(reconstruction, training=training)
        minimax_loss = self._adv(fake_logits, 1.0)
        return reconstruction, reconstruction_loss, minimax_loss, fake_logits

    def train_step(self, data):
        x_phi, x_mu, expressions = self._unpack(data)
        if self.train_generator:
            with tf.GradientTape() as tape:
                reconstruction, reconstruction_loss, minimax_loss, _ = self._reconstruction_losses(x_phi, x_mu, True)
                g_loss, expression_terms = self._add_expression_term(
                    reconstruction_loss + self.adversarial_weight * minimax_loss, reconstruction, expressions)
            optimizer_step(tape, g_loss, self.generator.trainable_variables, self.g_optimizer)
        else:
            reconstruction, reconstruction_loss, minimax_loss, _ = self._reconstruction_losses(x_phi, x_mu, False)
            g_loss, expression_terms = self._add_expression_term(
                reconstruction_loss + self.adversarial_weight * minimax_loss, reconstruction, expressions)
        reconstruction = ops.stop_gradient(reconstruction)
        if not self.uses_discriminator:
            return self.update_trackers({**self._generator_metric_values(g_loss, reconstruction_loss, reconstruction, x_mu),
                                         **expression_terms})
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(x_mu, training=self.train_discriminator)
            fake_logits = self.discriminator(reconstruction, training=self.train_discriminator)
            d_loss = self._adv(real_logits, 1.0) + self._adv(fake_logits, 0.0)
        if self.train_discriminator:
            optimizer_step(tape, d_loss, self.discriminator.trainable_variables, self.d_optimizer)
        return self.update_trackers({**self._metric_values(
            g_loss, reconstruction_loss, minimax_loss, d_loss, real_logits, fake_logits, reconstruction, x_mu),
            **expression_terms})

    def test_step(self, data):
        x_phi, x_mu, expressions = self._unpack(data)
        reconstruction, reconstruction_loss, minimax_loss, fake_logits = self._reconstruction_losses(x_phi, x_mu, False)
        g_loss, expression_terms = self._add_expression_term(
            reconstruction_loss + self.adversarial_weight * minimax_loss, reconstruction, expressions)
        if not self.uses_discriminator:
            return self.update_trackers({**self._generator_metric_values(g_loss, reconstruction_loss, reconstruction, x_mu),
                                         **expression_terms})
        real_logits = self.discriminator(x_mu, training=False)
        d_loss = self._adv(real_logits, 1.0) + self._adv(fake_logits, 0.0)
        return self.update_trackers({**self._metric_values(
            g_loss, reconstruction_loss, minimax_loss, d_loss, real_logits, fake_logits, reconstruction, x_mu),
            **expression_terms})

    @staticmethod
    def _spread(batch):
        """Std across the batch of each output element, averaged over elements: ~0 when G
        produces the same output (a "mean face") whatever its input."""
        return ops.mean(ops.std(ops.cast(batch, "float32"), axis=0))

    @classmethod
    def _generator_metric_values(cls, g_loss, reconstruction_loss, reconstruction, target):
        return {
            "g_loss": g_loss,
            "reconstruction_loss": reconstruction_loss,
            # Output spread across the inputs of a batch vs the targets' spread (collapse monitor).
            "output_std": cls._spread(reconstruction),
            "target_std": cls._spread(target),
        }

    @classmethod
    def _metric_values(cls, g_loss, reconstruction_loss, minimax_loss, d_loss, real_logits, fake_logits,
                       reconstruction, target):
        return {
            **cls._generator_metric_values(g_loss, reconstruction_loss, reconstruction, target),
            "minimax_loss": minimax_loss,
            "d_loss": d_loss,
            # Mean probability D gives to targets / reconstructions: collapse shows here first.
            "d_real": ops.mean(ops.sigmoid(ops.cast(real_logits, "float32"))),
            "d_fake": ops.mean(ops.sigmoid(ops.cast(fake_logits, "float32"))),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "adversarial_weight": self.adversarial_weight,
                "adversarial_loss": self.adversarial_loss,
                "train_generator": self.train_generator,
                "train_discriminator": self.train_discriminator,
                "reconstruction_norm": self.reconstruction_norm,
                "reconstruction_weights": None if self.reconstruction_weights is None
                else ops.convert_to_numpy(self.reconstruction_weights).tolist(),
                "expression_critic": None if self.expression_critic is None
                else keras.saving.serialize_keras_object(self.expression_critic),
                "expression_weight": self.expression_weight,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        if config.get("expression_critic") is not None:
            config["expression_critic"] = keras.saving.deserialize_keras_object(config["expression_critic"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="fer_zoo")
class ClassifierFineTune(AdversarialRecipe):
    """Fine-tunes a CNN1 / CNN2a / CNN2b classifier (encoder initialised from GASCA) with
    sparse categorical cross-entropy (Adam, lr 0.01 in the paper, section VII).

    Args:
        classifier: functional `keras.Model` image -> softmax over expressions.
        label_smoothing: float, label smoothing of the cross-entropy (0 in the paper).
        seed: int, seed of the recipe's random generator.
        **kwargs: forwarded to `AdversarialRecipe` / `keras.Model`.

    Example:
    ```python
    cnn = GASCANetworks(image_size=32).classifier("cnn2a")
    stage = ClassifierFineTune(cnn)
    stage.compile(c_optimizer=keras.optimizers.Adam(0.01))
    stage.fit(tf.data.Dataset.from_tensor_slices((images, expressions)).batch(16), epochs=10)
    ```

    Reference:
        Ruiz-Garcia et al., "Generative Adversarial Stacked Autoencoders for Facial Pose
        Normalization and Emotion Recognition", IJCNN 2020, section VII.
    """

    optimizer_names = ("c",)

    def __init__(self, classifier, label_smoothing=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.classifier = classifier
        self.label_smoothing = float(label_smoothing)
        self.add_tracker("loss")
        self.add_tracker("accuracy")
        self.built = True

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)

    def optimizer_variables_for(self, name):
        if name != "c":
            raise ValueError(f"Unknown optimizer {name!r}.")
        return self.classifier.trainable_variables

    def _loss_and_accuracy(self, images, labels, training):
        probabilities = ops.cast(self.classifier(images, training=training), "float32")
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        num_classes = probabilities.shape[-1]
        one_hot = ops.one_hot(labels, num_classes)
        if self.label_smoothing:
            one_hot = one_hot * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        loss = ops.mean(keras.losses.categorical_crossentropy(one_hot, probabilities))
        accuracy = ops.mean(ops.cast(ops.argmax(probabilities, axis=-1) == labels, "float32"))
        return loss, accuracy

    def train_step(self, data):
        images, labels = data[0], data[1]
        with tf.GradientTape() as tape:
            loss, accuracy = self._loss_and_accuracy(images, labels, True)
        optimizer_step(tape, loss, self.classifier.trainable_variables, self.c_optimizer)
        return self.update_trackers({"loss": loss, "accuracy": accuracy})

    def test_step(self, data):
        loss, accuracy = self._loss_and_accuracy(data[0], data[1], False)
        return self.update_trackers({"loss": loss, "accuracy": accuracy})

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "classifier": keras.saving.serialize_keras_object(self.classifier),
                "label_smoothing": self.label_smoothing,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)
