"""Hyper-parameter search over the recipes' main knobs with keras-tuner (the `tune` extra).

Every recipe exposes the same three things here, so one tuner, one benchmark and one notebook
cover all four papers:

* `build_recipe(recipe, config, image_size, **knobs)`: the compiled recipe model (the main
  adversarial stage: GASCA's stacked G/D, JPEM's joint model, FESR's joint stage, REL-GAN's
  reenactment GAN) with loss weights / learning rates / code sizes overridden by `knobs`;
* `synthetic_batch(recipe, config, batch_size)`: one random batch in the recipe's batch format
  (for throughput measurements: content does not change the cost of a step);
* `recipe_datasets(recipe, data, config)`: subject-independent train/validation `tf.data`
  pipelines built from SynthFER (or a `FaceSet`) with the recipe's own pairing helpers.

`RecipeHyperModel(recipe, config)` turns `SEARCH_SPACES[recipe]` into keras-tuner
hyper-parameters and `tune(recipe, data, max_trials, out_dir)` runs the search against the
recipe's validation objective (`OBJECTIVES`).

Example:
```python
from fer_zoo.tuning import RecipeHyperModel, tune
hypermodel = RecipeHyperModel(recipe="jpem", config="small")
result = tune("jpem", data="synthetic", max_trials=8, out_dir="/tmp/fer_runs/tune_jpem")
result["best_hyperparameters"]
```
"""

import dataclasses
import math
import pathlib

import numpy as np

from fer_zoo.data.faceset import EXPRESSIONS, FaceSet

RECIPES = ("gasca", "jpem", "fesr", "relgan")


@dataclasses.dataclass(frozen=True)
class Knob:
    """One tunable hyper-parameter: a float range (log or linear) or a discrete choice.

    Args:
        name: knob name (a `build_recipe` keyword argument).
        low: lower bound of a float knob.
        high: upper bound of a float knob.
        log: sample a float knob log-uniformly.
        values: the discrete choices (makes it a choice knob; `low`/`high` unused).
    """

    name: str
    low: float = 0.0
    high: float = 1.0
    log: bool = True
    values: tuple = ()

    def register(self, hp):
        """Declare this knob on a `keras_tuner.HyperParameters` and return its value."""
        if self.values:
            return hp.Choice(self.name, list(self.values))
        return hp.Float(self.name, self.low, self.high, sampling="log" if self.log else "linear")


# The knobs each paper leaves open or that matter most in practice: the loss weights of the
# generator objective, the learning rates, and the size of the learned code.
SEARCH_SPACES = {
    "gasca": (
        Knob("adversarial_weight", 0.01, 1.0),
        Knob("g_learning_rate", 1e-4, 5e-3),
        Knob("d_learning_rate", 1e-4, 5e-3),
        Knob("shifting_units", values=(36, 64, 100)),
    ),
    "jpem": (
        Knob("alpha", 0.3, 3.0),
        Knob("beta", 1e-3, 0.1),
        Knob("classification_weight", 0.01, 1.0),
        Knob("att_adversarial_weight", 1e-3, 0.1),
        Knob("learning_rate", 5e-5, 1e-3),
        Knob("code_dim", values=(20, 50, 100)),
    ),
    "fesr": (
        Knob("reconstruction", 1.0, 30.0),
        Knob("identity", 0.5, 10.0),
        Knob("fake_classification", 0.1, 3.0),
        Knob("image_adversarial", 0.1, 3.0),
        Knob("learning_rate", 3e-5, 1e-3),
        Knob("latent_dim", values=(32, 64, 128)),
    ),
    "relgan": (
        Knob("adversarial", 0.1, 3.0),
        Knob("pixel", 2.0, 50.0),
        Knob("expression", 5.0, 100.0),
        Knob("identity", 3.0, 60.0),
        Knob("learning_rate", 3e-5, 1e-3),
        Knob("expression_dim", values=(10, 30, 60)),
    ),
}

# (validation metric reported by the recipe's test_step, direction).
OBJECTIVES = {
    "gasca": ("val_reconstruction_loss", "min"),
    "jpem": ("val_c_accuracy", "max"),
    "fesr": ("val_r_accuracy", "max"),
    "relgan": ("val_g_pixel_loss", "min"),
}


def _check_recipe(recipe):
    if recipe not in RECIPES:
        raise ValueError(f"Unknown recipe {recipe!r}; expected one of {', '.join(RECIPES)}.")


def _check_knobs(recipe, knobs):
    known = {k.name for k in SEARCH_SPACES[recipe]}
    unknown = set(knobs) - known
    if unknown:
        raise ValueError(f"{recipe}: unknown knob(s) {sorted(unknown)}; expected some of {sorted(known)}.")


# ------------------------------------------------------------------------------------- configs


def recipe_config(recipe, config="small", image_size=None):
    """The recipe's training config (`CONFIGS[config]` of its `train.py`), optionally at another
    square `image_size`, as a plain dict."""
    _check_recipe(recipe)
    if recipe == "gasca":
        from fer_zoo.recipes.gasca import train

        model = {"image_size": (image_size, image_size)} if image_size else {}
        return train.resolve_config(config, model=model) if model else train.resolve_config(config)
    if recipe == "jpem":
        from fer_zoo.recipes.jpem import train

        return train.resolve_config(config, **({"image_size": image_size} if image_size else {}))
    if recipe == "fesr":
        from fer_zoo.recipes.fesr import train

        if config not in train.CONFIGS:
            raise ValueError(f"Unknown FESR config {config!r}; expected one of {sorted(train.CONFIGS)}.")
        cfg = dict(train.CONFIGS[config])
        if image_size:
            cfg["image_size"] = image_size
        return cfg
    from fer_zoo.recipes.relgan import train

    return train.resolve_config(config, **({"image_size": image_size} if image_size else {}))


def image_shape(recipe, cfg):
    """`(H, W, C)` of the images a recipe config trains on."""
    if recipe == "gasca":
        return (*cfg["model"]["image_size"], cfg["model"]["channels"])
    return (cfg["image_size"], cfg["image_size"], cfg["channels"])


def batch_size_of(recipe, cfg):
    return int(cfg["batch_size"])


def num_poses_of(cfg):
    """JPEM pose classes of a config (its poses, else its SynthFER yaws)."""
    return len(cfg["poses"] or cfg["synthetic"]["yaws"])


# ------------------------------------------------------------------------------------- models


def build_recipe(recipe, config="small", image_size=None, num_identities=16, seed=0, **knobs):
    """The compiled main training model of `recipe` with `knobs` (see `SEARCH_SPACES`) applied.

    Args:
        recipe: one of `RECIPES`.
        config: `"small"`, `"paper"` (or another key of the recipe's `CONFIGS`).
        image_size: square image side overriding the config's, or None.
        num_identities: identity classes of the training data (FESR's F_id fallback and
            REL-GAN's D_i classify identities).
        seed: seed of the recipe's random generator.
        **knobs: hyper-parameters of `SEARCH_SPACES[recipe]`; unset ones keep config values.

    Returns:
        A compiled `fer_zoo.training.AdversarialRecipe`.
    """
    _check_recipe(recipe)
    _check_knobs(recipe, knobs)
    cfg = recipe_config(recipe, config, image_size)
    return _BUILDERS[recipe](cfg, knobs, num_identities, seed)


def _build_gasca(cfg, knobs, num_identities, seed):
    import keras

    from fer_zoo.recipes.gasca.models import GASCANetworks, model_config
    from fer_zoo.recipes.gasca.recipe import AdversarialAutoencoder

    model = dict(cfg["model"])
    if "shifting_units" in knobs:
        units = int(knobs["shifting_units"])
        model = model_config(**{**model, "shifting_units": units})
    nets = GASCANetworks(**model)
    # The stacked G/D fine-tune stage: every layer of the normaliser and of D in one step.
    recipe = AdversarialAutoencoder(
        nets.stacked_generator(), nets.stacked_discriminator(),
        adversarial_weight=float(knobs.get("adversarial_weight", cfg["adversarial_weight"])),
        adversarial_loss=cfg["adversarial_loss"], seed=seed, name="gasca_stacked",
    )
    recipe.compile(
        g_optimizer=keras.optimizers.Adam(float(knobs.get("g_learning_rate", cfg["g_learning_rates"][0]))),
        # Algorithm 2: D uses SGD with Nesterov momentum.
        d_optimizer=keras.optimizers.SGD(
            float(knobs.get("d_learning_rate", cfg["d_learning_rates"][0])), momentum=0.9, nesterov=True
        ),
    )
    return recipe


def _build_jpem(cfg, knobs, num_identities, seed):
    import keras

    from fer_zoo.recipes.jpem import models
    from fer_zoo.recipes.jpem.recipe import JPEMRecipe

    overrides = dict(cfg["network_overrides"])
    if "code_dim" in knobs:
        overrides["code_dim"] = int(knobs["code_dim"])
    num_poses = num_poses_of(cfg)
    nets = models.build_networks(
        cfg["networks"], channels=cfg["channels"], num_expressions=len(EXPRESSIONS), num_poses=num_poses,
        image_size=cfg["image_size"], classifier_pose_head=cfg["classifier_pose_head"],
        init_stddev=cfg["init_stddev"], classifier_init_stddev=cfg["classifier_init_stddev"], **overrides,
    )
    weights = {k: float(knobs.get(k, cfg[k])) for k in
               ("alpha", "beta", "classification_weight", "att_adversarial_weight", "identity_adversarial_weight")}
    recipe = JPEMRecipe(**nets, num_expressions=len(EXPRESSIONS), num_poses=num_poses, seed=seed, **weights)
    lr = float(knobs.get("learning_rate", cfg["learning_rate"]))
    recipe.compile(**{f"{n}_optimizer": keras.optimizers.Adam(lr, beta_1=cfg["beta_1"]) for n in recipe.optimizer_names})
    return recipe


def _build_fesr(cfg, knobs, num_identities, seed):
    from fer_zoo.recipes.fesr import models
    from fer_zoo.recipes.fesr import train as fesr_train
    from fer_zoo.recipes.fesr.recipe import PAPER_LOSS_WEIGHTS

    cfg = dict(cfg)
    cfg["loss_weights"] = {**cfg["loss_weights"], **{k: float(v) for k, v in knobs.items() if k in PAPER_LOSS_WEIGHTS}}
    if "learning_rate" in knobs:
        cfg["learning_rate"] = float(knobs["learning_rate"])
    cfg["seed"] = seed
    if "latent_dim" in knobs:
        # build_recipe reads the named network config; pass the edited one as a dict.
        cfg["network"] = models.network_config(cfg["network"], image_size=cfg["image_size"],
                                               latent_dim=int(knobs["latent_dim"]))
    identity_net = fesr_train.build_identity_network(cfg, num_identities)
    recipe, _ = fesr_train.build_recipe(cfg, len(EXPRESSIONS), identity_net, "JL")
    recipe.set_stage("joint")
    return recipe


def _build_relgan(cfg, knobs, num_identities, seed):
    import keras

    from fer_zoo.recipes.relgan import models
    from fer_zoo.recipes.relgan.recipe import PAPER_LOSS_WEIGHTS, RELGAN

    network = {k: cfg[k] for k in models.NETWORK_CONFIGS["paper"]}
    if "expression_dim" in knobs:
        network["expression_dim"] = int(knobs["expression_dim"])
    loss_weights = {**(cfg["loss_weights"] or {}), **{k: float(v) for k, v in knobs.items() if k in PAPER_LOSS_WEIGHTS}}
    # Options newer than the base contract are passed only when the config has them.
    extra = {k: cfg[k] for k in ("adversarial_warmup_steps",) if cfg.get(k) is not None}
    recipe = RELGAN(
        num_identities=num_identities, num_expressions=len(EXPRESSIONS), loss_weights=loss_weights or None,
        d_loss_weights=cfg["d_loss_weights"], seed=seed, **extra, **network,
    )
    lr = float(knobs.get("learning_rate", cfg["learning_rate"]))
    # A searched learning rate drives both players; otherwise D keeps its own configured rate.
    d_lr = lr if "learning_rate" in knobs else float(cfg.get("d_learning_rate") or lr)
    recipe.compile(
        g_optimizer=keras.optimizers.Adam(lr, beta_1=cfg["beta_1"]),
        d_optimizer=keras.optimizers.Adam(d_lr, beta_1=cfg["beta_1"]),
    )
    return recipe


_BUILDERS = {"gasca": _build_gasca, "jpem": _build_jpem, "fesr": _build_fesr, "relgan": _build_relgan}


# -------------------------------------------------------------------------------------- batches


def synthetic_batch(recipe, config="small", batch_size=None, image_size=None, num_identities=16, seed=0):
    """One random batch in `recipe`'s `train_step` format (numpy arrays).

    Images are uniform noise in [-1, 1] and labels uniform integers: the cost of a step does not
    depend on the content, so this is what throughput benchmarks feed.
    """
    _check_recipe(recipe)
    cfg = recipe_config(recipe, config, image_size)
    n = int(batch_size or batch_size_of(recipe, cfg))
    rng = np.random.default_rng(seed)
    shape = image_shape(recipe, cfg)

    def images():
        return rng.uniform(-1, 1, (n, *shape)).astype(np.float32)

    def ints(k):
        return rng.integers(0, k, n).astype(np.int32)

    k = len(EXPRESSIONS)
    if recipe == "gasca":
        return images(), images()
    if recipe == "jpem":
        p = num_poses_of(cfg)
        return images(), {"expression": ints(k), "pose": ints(p), "target_image": images(),
                          "target_expression": ints(k), "target_pose": ints(p)}
    if recipe == "fesr":
        return {"image": images(), "expression": ints(k), "positive": images()}
    return {"source": images(), "target": images(), "ground_truth": images(),
            "source_expression": ints(k), "target_identity": ints(num_identities)}


# ------------------------------------------------------------------------------------- datasets


def _synthfer_faces(recipe, cfg, identities, seed):
    from fer_zoo.data.synthfer import SynthFER

    size, _, channels = image_shape(recipe, cfg)
    # SynthFER renders at >= 48 px; smaller configs are area-resized below.
    renderer = SynthFER(image_size=max(48, size), channels=channels, seed=seed)
    yaws = {"gasca": (-30.0, 0.0, 30.0), "jpem": tuple(cfg.get("poses") or cfg.get("synthetic", {}).get("yaws", (0.0,))),
            "fesr": (0.0,), "relgan": (-30.0, 0.0, 30.0)}[recipe]
    faces = renderer.faceset(identities=range(identities), expressions=range(len(EXPRESSIONS)), yaws=yaws,
                             pitches=(0.0,), lights=("even",), intensities=(1.0,))
    return faces


def _fit(faces, shape):
    import tensorflow as tf

    images = faces.images
    if images.shape[-1] != shape[-1]:
        images = images.mean(-1, keepdims=True) if shape[-1] == 1 else np.repeat(images, 3, -1)
    if images.shape[1:3] != tuple(shape[:2]):
        images = tf.image.resize(images, shape[:2], method="area").numpy()
    return FaceSet(np.clip(images, -1, 1).astype(np.float32), dict(faces.labels), faces.class_names, faces.name)


def _frontal_pairs(faces):
    """`(inputs, frontal targets)`: each face with the yaw-0 face of its identity/expression."""
    labels = faces.labels
    yaw = np.round(labels["yaw"].astype(float))
    frontal = {(int(i), int(e)): r for r, (i, e, y) in
               enumerate(zip(labels["identity"], labels["expression"], yaw)) if y == 0}
    rows, targets = [], []
    for r, (i, e) in enumerate(zip(labels["identity"], labels["expression"])):
        t = frontal.get((int(i), int(e)))
        if t is not None:
            rows.append(r)
            targets.append(t)
    if not rows:
        raise ValueError(f"{faces.name!r}: GASCA tuning needs frontal (yaw 0) faces to use as targets.")
    return faces.images[rows], faces.images[targets]


def recipe_datasets(recipe, data="synthetic", config="small", image_size=None, batch_size=8,
                    identities=8, val_fraction=0.25, seed=0):
    """Subject-independent `(train, validation, num_train_identities)` data in `recipe`'s format.

    Args:
        recipe: one of `RECIPES`.
        data: `"synthetic"` (SynthFER, `identities` people x 7 expressions x the recipe's poses)
            or a `FaceSet` with `expression`, `identity` and (GASCA, JPEM) `yaw` labels.
        config: the recipe config whose image size / channels the data is resized to.
        image_size: square side overriding the config's.
        batch_size: batch size of both pipelines.
        identities: SynthFER identities.
        val_fraction: fraction of identities held out for validation.
        seed: split / shuffle seed.
    """
    import tensorflow as tf

    from fer_zoo.data.protocols import subject_split

    _check_recipe(recipe)
    cfg = recipe_config(recipe, config, image_size)
    shape = image_shape(recipe, cfg)
    if isinstance(data, str) and data == "synthetic":
        faces = _synthfer_faces(recipe, cfg, identities, seed)
    elif isinstance(data, FaceSet):
        faces = data
    else:
        raise TypeError(f"data must be 'synthetic' or a FaceSet, got {type(data).__name__}.")
    faces = _fit(faces, shape)
    if recipe == "relgan":
        # REL-GAN triplets pair two identities: validation needs at least two people.
        n_ids = len(np.unique(faces.labels["identity"]))
        val_fraction = max(val_fraction, 2.0 / n_ids) if n_ids >= 3 else val_fraction
    split = subject_split(faces, test_fraction=val_fraction, seed=seed)
    train_faces, val_faces = faces.subset(split["train"]), faces.subset(split["test"])
    num_ids = len(np.unique(train_faces.labels["identity"]))

    if recipe == "gasca":
        def pipe(part, shuffle):
            x, y = _frontal_pairs(part)
            ds = tf.data.Dataset.from_tensor_slices((x, y))
            ds = ds.shuffle(len(x), seed=seed) if shuffle else ds
            return ds.batch(batch_size)
        return pipe(train_faces, True), pipe(val_faces, False), num_ids
    if recipe == "jpem":
        from fer_zoo.recipes.jpem import data as jpem_data

        poses = cfg["poses"] or sorted(float(y) for y in np.unique(faces.labels["yaw"]))
        if len(poses) != num_poses_of(cfg):
            raise ValueError(f"JPEM config expects {num_poses_of(cfg)} poses, the data has {len(poses)}: {poses}.")

        def paired(part, shuffle):
            return jpem_data.PairedFaces(
                part.images, part.labels["expression"], jpem_data.pose_indices(part.labels["yaw"], poses),
                jpem_data.group_ids(part.labels), len(EXPRESSIONS), len(poses), batch_size=batch_size,
                shuffle=shuffle, seed=seed,
            )
        return paired(train_faces, True), paired(val_faces, False), num_ids
    if recipe == "fesr":
        from fer_zoo.recipes.fesr.train import triplet_dataset

        return (triplet_dataset(train_faces, batch_size, seed=seed),
                triplet_dataset(val_faces, batch_size, shuffle=False, drop_remainder=False), num_ids)
    from fer_zoo.recipes.relgan.train import triplet_dataset

    return (triplet_dataset(train_faces, batch_size, seed=seed),
            triplet_dataset(val_faces, batch_size, shuffle=False, seed=seed), num_ids)


# ---------------------------------------------------------------------------------- keras-tuner


def _keras_tuner():
    try:
        import keras_tuner
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "fer_zoo.tuning needs keras-tuner: pip install 'fer_zoo[tune]' (or keras-tuner)."
        ) from error
    return keras_tuner


try:
    import keras_tuner as _kt

    _HyperModelBase = _kt.HyperModel
except ImportError:  # pragma: no cover - the `tune` extra is optional
    _kt = None
    _HyperModelBase = object


class RecipeHyperModel(_HyperModelBase):
    """A keras-tuner `HyperModel` whose `build(hp)` returns a compiled recipe model.

    The search space is `SEARCH_SPACES[recipe]` (loss weights, learning rates, code size);
    `fixed` pins knobs to a value instead of searching them, `knobs` restricts the search to a
    subset.

    Args:
        recipe: `"gasca"`, `"jpem"`, `"fesr"` or `"relgan"`.
        config: the recipe config the networks come from (`"small"`, `"paper"`, ...).
        image_size: square image side overriding the config's.
        num_identities: identity classes of the training data (FESR, REL-GAN).
        knobs: names of the knobs to search (default: all of the recipe's).
        fixed: dict of knob values held constant.
        seed: seed of the recipe models.
        **kwargs: forwarded to `keras_tuner.HyperModel` (`name`, `tunable`).

    Example:
    ```python
    import keras_tuner
    hypermodel = RecipeHyperModel(recipe="jpem", config="small", knobs=["alpha", "learning_rate"])
    model = hypermodel.build(keras_tuner.HyperParameters())   # a compiled JPEMRecipe
    ```

    Reference:
        O'Malley et al., KerasTuner (2019), https://github.com/keras-team/keras-tuner.
    """

    def __init__(self, recipe="jpem", config="small", image_size=None, num_identities=16, knobs=None,
                 fixed=None, seed=0, **kwargs):
        _keras_tuner()
        super().__init__(**kwargs)
        _check_recipe(recipe)
        space = {k.name: k for k in SEARCH_SPACES[recipe]}
        knobs = list(space) if knobs is None else list(knobs)
        _check_knobs(recipe, list(knobs) + list(fixed or {}))
        self.recipe = recipe
        self.config = config
        self.image_size = image_size
        self.num_identities = num_identities
        self.knobs = [space[name] for name in knobs if name not in (fixed or {})]
        self.fixed = dict(fixed or {})
        self.seed = seed

    def values(self, hp):
        """The knob values of `hp` (registering the knobs on first use) plus the fixed ones."""
        return {**{knob.name: knob.register(hp) for knob in self.knobs}, **self.fixed}

    def build(self, hp):
        import keras

        keras.backend.clear_session()
        return build_recipe(self.recipe, self.config, self.image_size, self.num_identities, self.seed,
                            **self.values(hp))

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, **kwargs)


def tune(recipe, data="synthetic", max_trials=10, out_dir="runs/tune", config="small", image_size=None,
         tuner="random", epochs=2, steps_per_epoch=None, batch_size=8, identities=8, knobs=None, fixed=None,
         objective=None, seed=0, overwrite=False, verbose=0):
    """Search `recipe`'s knobs on `data` and return the best ones.

    Args:
        recipe: one of `RECIPES`.
        data: `"synthetic"` or a `FaceSet` (see `recipe_datasets`).
        max_trials: RandomSearch trials (Hyperband sizes its brackets from `epochs` instead).
        out_dir: tuner folder (trials are resumed from it unless `overwrite`).
        config: recipe config of the networks.
        image_size: square side overriding the config's.
        tuner: `"random"` (RandomSearch) or `"hyperband"`.
        epochs: epochs per trial (Hyperband: its `max_epochs`, at least 2).
        steps_per_epoch: optional cap of training steps per epoch.
        batch_size: batch size of the pipelines.
        identities: SynthFER identities.
        knobs: subset of `SEARCH_SPACES[recipe]` names to search.
        fixed: dict of knob values held constant.
        objective: `(metric, "min" | "max")`, default `OBJECTIVES[recipe]`.
        seed: seed of the data split, the models and the tuner.
        overwrite: start the search afresh.
        verbose: keras-tuner / fit verbosity.

    Returns:
        dict with `best_hyperparameters`, `best_score`, `objective`, `trials` (list of
        `{hyperparameters, score}`) and `out_dir`.
    """
    kt = _keras_tuner()
    _check_recipe(recipe)
    metric, direction = objective or OBJECTIVES[recipe]
    train_data, val_data, num_ids = recipe_datasets(
        recipe, data, config, image_size, batch_size=batch_size, identities=identities, seed=seed
    )
    hypermodel = RecipeHyperModel(recipe, config, image_size, num_ids, knobs=knobs, fixed=fixed, seed=seed)
    kt_objective = kt.Objective(metric, direction=direction)
    out_dir = pathlib.Path(out_dir)
    common = {"objective": kt_objective, "directory": str(out_dir.parent), "project_name": out_dir.name,
              "overwrite": overwrite, "seed": seed}
    if tuner == "random":
        search = kt.RandomSearch(hypermodel, max_trials=max_trials, **common)
    elif tuner == "hyperband":
        search = kt.Hyperband(hypermodel, max_epochs=max(2, epochs), hyperband_iterations=1, **common)
    else:
        raise ValueError(f"Unknown tuner {tuner!r}; expected 'random' or 'hyperband'.")
    fit_kwargs = {"steps_per_epoch": steps_per_epoch} if steps_per_epoch else {}
    if steps_per_epoch and hasattr(train_data, "repeat"):
        train_data = train_data.repeat()
    search.search(train_data, validation_data=val_data, epochs=epochs, verbose=verbose, **fit_kwargs)
    trials = [
        {"trial_id": t.trial_id, "hyperparameters": dict(t.hyperparameters.values), "score": _finite(t.score)}
        for t in search.oracle.trials.values()
    ]
    best = search.oracle.get_best_trials(1)
    return {
        "recipe": recipe,
        "objective": [metric, direction],
        "best_hyperparameters": dict(best[0].hyperparameters.values) if best else {},
        "best_score": _finite(best[0].score) if best else None,
        "trials": trials,
        "out_dir": str(out_dir),
    }


def _finite(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
