"""REL-GAN's two-stage algorithm: reenactment GAN, then an MLP on the frozen expression encoder.

Stages (each a resumable `StageRunner` stage under `out_dir`):

1. `gan`: `RELGAN` on (source, target, ground truth) triplets built by
   `fer_zoo.data.pairing.relgan_triplets` (`triplet_seeds` random pairings of every source,
   reshuffled each epoch), with the section 4.1
   augmentation (five crops, rotation in [-6, 6] degrees, flip; target and ground truth share
   one transform so the pixel loss compares aligned faces). `GeneratorPriority` first trains D
   alone for `d_warmup_steps` (so D_e classifies real expressions before G chases it), then
   switches to `g_steps_after_switch` G updates per D update once D is near-optimal.
   `DExpressionMonitor` records D_e's accuracy on real training faces (`summary.json`).
2. `mlp`: `models.relgan_classifier` (frozen G_es + MLP) on expression labels.
3. `cnn_baseline` (optional, `cnn_baseline=True`): the G_es architecture + one FC layer trained
   end to end, the paper's "CNN (baseline)".

Evaluation is subject-independent: the test identities are never seen in any stage.
"""

import json
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from fer_zoo.data import augment as augment_lib
from fer_zoo.data import pairing, protocols
from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.evaluation.aggregate import over_runs
from fer_zoo.recipes.relgan import models
from fer_zoo.recipes.relgan.recipe import (
    RELGAN,
    TRIPLET_KEYS,
    DExpressionMonitor,
    GeneratorPriority,
)
from fer_zoo.training import StageRunner, get_strategy, set_precision
from fer_zoo.training.distribution import write_path
from fer_zoo.training.monitors import GeneratorMonitor, probe_rows

_TRAINING = {
    "learning_rate": 1e-4,
    "d_learning_rate": None,  # None = learning_rate (the paper uses one rate)
    "beta_1": 0.5,
    "mlp_learning_rate": 1e-3,
    "dropout": 0.3,
    "augment": True,
    "loss_weights": None,  # None = the paper's λ1..λ4 = 0.7, 20, 50, 30
    "d_loss_weights": None,
    "adversarial_warmup_steps": 0,  # > 0: ramp the D-based terms of eq. 4 in (short runs)
    # D-only updates before G starts (eq. 1 alone, not in the paper): D_e must classify real
    # expressions before G's L_De (λ3 = 50) can teach G_es anything. 0 = the paper's schedule,
    # where D_e sits in a "half fake" state for the first ~450 steps on KDEF and longer on
    # SynthFER (see GeneratorPriority and docs/relgan.md).
    "d_warmup_steps": 300,
    "monitor_every": 50,  # D_e accuracy on real training images every this many D steps
    "monitor_probe": 8,  # held-out triplets G is run on after every GAN epoch; 0 = no monitor
    "g_steps_after_switch": 2,
    "switch_after_fraction": 0.5,  # switch once this fraction of the GAN steps is done ...
    "d_loss_below": None,  # ... or once D's running loss is below this
    "cnn_baseline": False,
    "test_fraction": 0.2,  # held-out identities when `folds` is None
    "folds": None,  # k-fold by identity (e.g. 10); `fold` picks the test fold
    "fold": 0,
    "seed": 0,
    "triplet_seeds": 4,  # pairings per epoch (each source gets this many random targets)
    "backup_every": 50,
    "verbose": 2,
    "run_eagerly": False,  # debugging / tiny tests: skips graph tracing
    "synthetic": {"identities": 24, "yaws": (-30, 0, 30), "intensities": (0.6, 1.0)},
    "data_kwargs": {},  # forwarded to fer_zoo.data.load_faceset (e.g. poses for KDEF)
    "keep_yaws": None,  # e.g. (0,): keep only these poses (KDEF frontal)
    # -- the SynthFER generator harness ("synthfer64"; off elsewhere) --
    # GASCA's `expression_weight_map` of this strength as per-pixel L1 weights (0: plain L1).
    "pixel_expression_weight": 0.0,
    "cache_dir": None,  # render cache of data="synthetic" (`gasca.train.synthetic_data`); None: render
    # Wall-clock budget of one `train` call in minutes (None: none): the GAN stage stops at the
    # first batch after it (`gasca.train.WallClockBudget`); the stage then counts as done.
    "time_budget_minutes": None,
    "monitor_gradients": 0,  # training triplets for the per-epoch `grad_*` of each G term; 0 = off
    "save_generator": False,  # write generator.keras ({target, source} -> image), expression_encoder.keras
}

CONFIGS = {
    "small": {
        **models.NETWORK_CONFIGS["small"],
        **_TRAINING,
        "batch_size": 16,
        "gan_epochs": 6,
        "mlp_epochs": 20,
    },
    "paper": {
        **models.NETWORK_CONFIGS["paper"],
        **_TRAINING,
        "batch_size": 64,
        "gan_epochs": 300,
        "mlp_epochs": 50,
        "d_loss_below": 1.0,
        "switch_after_fraction": None,
        "synthetic": {"identities": 100, "yaws": (-45, -30, -15, 0, 15, 30, 45), "intensities": (0.5, 0.75, 1.0)},
    },
}
# SynthFER reenactment generator at 64 px grey (preset to be `relgan-generator-synthfer`; gate:
# `python -m fer_zoo.recipes.relgan.synthfer_gate`). [target (identity), source (expression)] ->
# the target identity with the source's expression, trained against SynthFER's exact render of
# it; GAN stage only, to a time budget, sized for one <= 40 min run on 2 CPU cores. The probes
# behind the numbers: docs/relgan.md ("SynthFER 64 px generator").
CONFIGS["synthfer64"] = {
    **models.NETWORK_CONFIGS["synthfer64"],
    **_TRAINING,
    "batch_size": 32,
    "gan_epochs": 400,  # a maximum: the budget ends the stage
    "mlp_epochs": 0,  # no MLP stage: the generator (and G_es for the probe) are the product
    "learning_rate": 5e-4,
    "d_learning_rate": 5e-4,
    "augment": False,  # exact renders: the target and its ground truth stay aligned
    # f(e) = tanh(LayerNorm(Dense(h))), no learned scale/shift: the 30 pre-activations keep unit
    # variance per face. Without it (the shipped intensity-1 network) Adam drove them to |.| ~ 6
    # within the first 100 G steps of the 3-intensity data, every unit saturated with one sign
    # for every face, tanh' ~ 1e-4: f(e) constant, G ignores the source, for good
    # (docs/relgan.md, "Why f(e) died with three intensities").
    "expression_norm": "layer",
    # 210 identities of SynthFER seed 0, frontal, even light, 7 expressions at intensities 0.4,
    # 0.7 and 1, rendered once and cached; 10 identities held out (monitors, reenactment metrics).
    # Several intensities, not just the full one: trained on intensity 1 alone, f(e) read the
    # expression of full-intensity faces perfectly (linear probe 100 % on held-out identities) but
    # not of half-intensity ones (76 % over both), and a user's source face is rarely at full
    # intensity. The ground truth carries the source's intensity (`_match_intensity`).
    "synthetic": {"identities": 210, "yaws": (0,), "intensities": (0.4, 0.7, 1.0)},
    "cache_dir": "/tmp/fer_cache/relgan",
    "test_fraction": 0.05,
    # Sources always from another identity than the target (`pairing.relgan_triplets`);
    # 4 pairings of every source (16,800 triplets, 525 steps per epoch).
    "triplet_seeds": 4,
    "pixel_expression_weight": 4.0,
    # Scales: L_pixel (expression-weighted, mean 1 map) a per-pixel mean in [-1, 1] units; L_adv,
    # L_De, L_Di per-image means in nats. The weighted L1 makes the face (JPEM / FESR); the
    # D-based terms at 1e-4. Unweighted gradient norms on G's weights (32 fixed training
    # triplets; docs/relgan.md, probe 1): at init L1 0.31, L_adv 0.006, L_De 0.015, L_Di 0.008;
    # after 197 G steps (100 D-only first) L1 0.36 vs L_adv 11.3, L_De 13.3, L_Di 17.0: ~1000x up
    # as D sharpens, so at 1e-3 they already pulled 3-5 % of the L1 each and rising. At 1e-4:
    # ~0.3-0.5 % each then. Watch grad_* in the GAN stage's history.csv.
    "loss_weights": {"pixel": 1.0, "adversarial": 1e-4, "expression": 1e-4, "identity": 1e-4},
    "d_warmup_steps": 100,  # D alone first, so D_e/D_i read real faces before G's small terms use them
    "switch_after_fraction": None,  # 1 G update per D update throughout (no re-trace mid-run)
    "monitor_every": 500,
    "monitor_probe": 16,
    "monitor_gradients": 16,
    "time_budget_minutes": 38,
    "backup_every": 200,
    "save_generator": True,
    "verbose": 2,
}


def resolve_config(config="small", **overrides):
    """`CONFIGS[config]` (or a dict) updated with `overrides`; unknown keys raise."""
    if isinstance(config, str):
        if config not in CONFIGS:
            raise ValueError(f"Unknown REL-GAN config {config!r}; choose from {sorted(CONFIGS)}.")
        base = dict(CONFIGS[config])
    else:
        base = {**CONFIGS["small"], **dict(config)}
    unknown = set(overrides) - set(base)
    if unknown:
        raise TypeError(f"Unknown REL-GAN option(s) {sorted(unknown)}; known: {sorted(base)}.")
    base.update(overrides)
    return base


def load_faceset(data, cfg):
    """The FaceSet of `data` ("synthetic", a data spec, an .npz path or a FaceSet) at the config's
    image size and channels."""
    from fer_zoo.data.pipeline import load_faceset as pipeline_load

    size, channels = cfg["image_size"], cfg["channels"]
    if isinstance(data, str) and data == "synthetic" and cfg.get("cache_dir"):
        data = cached_synthetic(cfg)
    elif isinstance(data, str) and data == "synthetic":
        from fer_zoo.data.synthfer import SynthFER

        opts = dict(cfg["synthetic"])
        identities = opts.pop("identities")
        identities = range(identities) if isinstance(identities, int) else identities
        # SynthFER renders at >= 48 px; smaller configs get a resized render.
        renderer = SynthFER(image_size=max(64, size), channels=channels, seed=cfg["seed"])
        data = renderer.faceset(identities=identities, **opts)
    faceset = pipeline_load(data, image_size=size, channels=channels, **cfg.get("data_kwargs", {}))
    if cfg.get("keep_yaws") is not None:
        yaw = np.asarray(faceset.labels.get("yaw", np.full(len(faceset), np.nan)), np.float64)
        keep = np.isin(np.round(yaw, 3), np.round(np.asarray(cfg["keep_yaws"], np.float64), 3))
        if not keep.any():
            raise ValueError(f"keep_yaws={cfg['keep_yaws']}: no image of {faceset.name!r} has those yaws.")
        faceset = faceset.subset(keep)
    return faceset


def cached_synthetic(cfg):
    """The config's SynthFER grid (`synthetic`: identities x 7 expressions x intensities x yaws,
    even light) rendered once at max(48, image_size) px and cached under `cache_dir` by
    `fer_zoo.recipes.gasca.train.synthetic_data` (a subfolder per size, yaws and intensities)."""
    from fer_zoo.recipes.gasca.train import synthetic_data

    opts = dict(cfg["synthetic"])
    identities = opts["identities"]
    if not isinstance(identities, int):
        raise ValueError("cache_dir needs synthetic.identities as a count (identities 0..N-1).")
    size = max(48, cfg["image_size"])
    yaws = tuple(opts.get("yaws", (0,)))
    intensities = tuple(opts.get("intensities", (1.0,)))
    tag = "-".join(str(int(round(100 * v))) for v in intensities)
    yaw_tag = "-".join(str(int(round(v))) for v in yaws)
    folder = pathlib.Path(cfg["cache_dir"]) / f"{size}px_c{cfg['channels']}_yaw{yaw_tag}_int{tag}"
    faces, _ = synthetic_data({
        "synthetic": {"identities": identities, "expressions": tuple(range(len(EXPRESSIONS))), "yaws": yaws,
                      "intensities": intensities, "cache_dir": str(folder)},
        "model": {"image_size": (size, size), "channels": cfg["channels"]},
        "seed": cfg["seed"], "light_copies": 0,
    })
    return faces


def split_by_identity(faceset, cfg):
    """(train indices, test indices) with no identity in both."""
    if cfg["folds"]:
        return protocols.kfold_splits(faceset, cfg["folds"], cfg["seed"])[cfg["fold"]]
    parts = protocols.subject_split(faceset, cfg["test_fraction"], 0.0, cfg["seed"])
    return parts["train"], parts["test"]


def _dense_ids(values):
    """Map arbitrary identity labels to 0..K-1 (D_i's classes)."""
    _, dense = np.unique(np.asarray(values), return_inverse=True)
    return dense.astype(np.int32)


def build_triplets(faceset, seeds=(0,)):
    """Triplet arrays for `RELGAN`: one pairing per seed, concatenated.

    Returns a dict of numpy arrays (`source`, `target`, `ground_truth`, `source_expression`,
    `target_identity` (dense 0..K-1 over the face set's identities), plus the raw labels
    `source_identity`, `target_expression`, `ground_truth_identity`,
    `ground_truth_expression` for checks).
    """
    labels = faceset.labels
    dense_identity = _dense_ids(labels["identity"])
    parts = []
    for seed in seeds:
        src, tgt, truth = pairing.relgan_triplets(faceset, seed=int(seed))
        parts.append((src, tgt, truth))
    if not parts or sum(len(p[0]) for p in parts) == 0:
        raise ValueError(
            f"{faceset.name!r}: no REL-GAN triplets (needs >= 2 identities sharing expressions)."
        )
    src, tgt, truth = (np.concatenate(c) for c in zip(*parts))
    truth = _match_intensity(faceset, src, truth)
    expression = np.asarray(labels["expression"])
    identity = np.asarray(labels["identity"])
    return {
        "source": faceset.images[src],
        "target": faceset.images[tgt],
        "ground_truth": faceset.images[truth],
        "source_expression": expression[src].astype(np.int32),
        "target_identity": dense_identity[tgt],
        "source_identity": identity[src],
        "target_expression": expression[tgt],
        "ground_truth_identity": identity[truth],
        "ground_truth_expression": expression[truth],
    }


def _match_intensity(faceset, sources, truths):
    """Swap each ground truth for the same face at the source's expression intensity when the
    face set has one (`relgan_triplets` matches identity, expression, yaw and session only)."""
    intensity = np.asarray(faceset.labels.get("intensity", np.full(len(faceset), np.nan)), np.float64)
    if not np.isfinite(intensity).any():
        return truths
    keys = [k for k in ("identity", "expression", "yaw", "session", "pitch", "illumination") if k in faceset.labels]
    columns = [np.round(np.asarray(faceset.labels[k], np.float64), 3) for k in keys]
    lookup = {}
    for i in range(len(faceset)):
        lookup.setdefault((*(c[i] for c in columns), round(intensity[i], 3)), i)
    out = truths.copy()
    for n, (s, t) in enumerate(zip(sources, truths)):
        out[n] = lookup.get((*(c[t] for c in columns), round(intensity[s], 3)), t)
    return out


def _augment_triplet(image_size):
    augment = augment_lib.get_augmentation("relgan", image_size)

    def apply(batch):
        out = dict(batch)
        out["source"], _ = augment(batch["source"])
        # One transform for target + ground truth (stacked on channels): the L1 stays aligned.
        channels = batch["target"].shape[-1]
        pair, _ = augment(tf.concat([batch["target"], batch["ground_truth"]], axis=-1))
        out["target"], out["ground_truth"] = pair[..., :channels], pair[..., channels:]
        return out

    return apply


def triplet_dataset(faceset, batch_size=64, seeds=(0,), augment=False, shuffle=True, seed=0):
    """`tf.data.Dataset` of REL-GAN triplet batches from a FaceSet (see `build_triplets`)."""
    arrays = build_triplets(faceset, seeds)
    keys = ("source", "target", "ground_truth", "source_expression", "target_identity")
    ds = tf.data.Dataset.from_tensor_slices({k: arrays[k] for k in keys})
    if shuffle:
        ds = ds.shuffle(len(arrays["source"]), seed=seed, reshuffle_each_iteration=True)
    if augment:
        ds = ds.map(_augment_triplet(faceset.image_shape[0]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def classification_dataset(faceset, batch_size=64, augment=False, shuffle=True, seed=0):
    """`(image, expression)` batches for the MLP / CNN-baseline stages."""
    images = faceset.images.astype(np.float32)
    labels = np.asarray(faceset.labels["expression"]).astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if augment:
        fn = augment_lib.get_augmentation("relgan", faceset.image_shape[0])
        ds = ds.map(lambda x, y: (fn(x)[0], y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def reenactment_metrics(recipe, triplets, batch_size=64):
    """Mean L1 and SSIM (images mapped to [0, 1]) of x̄ against the ground truth x_tg."""
    generated = predict_reenactment(recipe, triplets["source"], triplets["target"], batch_size)
    truth = triplets["ground_truth"]
    ssim = tf.image.ssim((generated + 1) / 2, (truth + 1) / 2, max_val=1.0, filter_size=7)
    return {
        "reenactment_l1": float(np.mean(np.abs(generated - truth))),
        "reenactment_ssim": float(np.mean(ssim)),
        # A trivial reference: the target image itself (right identity, wrong expression).
        "target_copy_l1": float(np.mean(np.abs(triplets["target"] - truth))),
        "target_copy_ssim": float(np.mean(tf.image.ssim((triplets["target"] + 1) / 2, (truth + 1) / 2,
                                                        max_val=1.0, filter_size=7))),
    }


def generator_monitor(recipe, faceset, fallback, cfg):
    """`[GeneratorMonitor]` of x̄ = G(source, target) on up to `monitor_probe` triplets of
    `faceset` (held-out identities; `fallback` when it has no triplet, e.g. one identity), with
    their ground truths as targets; `dead_fraction` counts constant units of f(e) = G_es(source).
    `[]` when `monitor_probe` is 0."""
    size = cfg["monitor_probe"]
    if not size:
        return []
    try:
        triplets = build_triplets(faceset, seeds=(cfg["seed"],))
    except ValueError:
        faceset = fallback
        triplets = build_triplets(faceset, seeds=(cfg["seed"],))
    rows = probe_rows(len(triplets["source"]), size, cfg["seed"])
    probe = {"source": triplets["source"][rows], "target": triplets["target"][rows]}

    def generate(p):
        return recipe.reenact(p["source"], p["target"])

    monitors = [GeneratorMonitor(generate, probe, triplets["ground_truth"][rows],
                                 activations=lambda p: recipe.expression_encoder(p["source"], training=False),
                                 name="relgan G")]
    if cfg.get("save_generator"):
        # One source across the probe's targets (`target_output_spread`: ~0 = G ignores the
        # target), one target across the probe's sources (`source_output_spread`: ~0 = G ignores
        # the source), each beside the spread of the exact faces (`*_target_spread`) when the
        # face set has them (frontal: the target's identity with the source's expression).
        n = len(rows)
        faces = faceset  # the face set the probe's triplets come from
        lookup = {}
        for i, key in enumerate(zip(np.asarray(faces.labels["identity"]).tolist(),
                                    np.asarray(faces.labels["expression"]).tolist())):
            lookup.setdefault(key, i)

        def truths(identities, expressions):
            found = [lookup.get((a, e), -1) for a, e in zip(identities, expressions)]
            return None if min(found) < 0 else faces.images[found]

        t_ids, s_expr = triplets["ground_truth_identity"][rows], triplets["source_expression"][rows]
        monitors.append(GeneratorMonitor(
            generate, {"source": np.repeat(probe["source"][:1], n, 0), "target": probe["target"]},
            truths(t_ids.tolist(), [int(s_expr[0])] * n), name="relgan G across targets", prefix="target_"))
        monitors.append(GeneratorMonitor(
            generate, {"source": probe["source"], "target": np.repeat(probe["target"][:1], n, 0)},
            truths([t_ids[0]] * n, s_expr.tolist()), name="relgan G across sources", prefix="source_"))
    return monitors


def predict_reenactment(recipe, source, target, batch_size=64):
    out = []
    for i in range(0, len(source), batch_size):
        out.append(
            keras.ops.convert_to_numpy(
                recipe.reenact(source[i : i + batch_size], target[i : i + batch_size])
            ).astype(np.float32)
        )
    return np.concatenate(out)


def _accuracy(model, faceset, batch_size=64):
    probs = model.predict(faceset.images, batch_size=batch_size, verbose=0)
    labels = np.asarray(faceset.labels["expression"])
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def train(data="synthetic", out_dir="runs/relgan", config="small", precision=None, strategy="default", **overrides):
    """Train REL-GAN (GAN stage, then the MLP on the frozen G_es; optionally the CNN baseline).

    Args:
        data: `"synthetic"` (SynthFER, options in the config's `synthetic`), a data spec such
            as `"kdef:/data/KDEF"` or `"/tmp/fer_data/kdef_faces_64_grey.npz"`, or a FaceSet.
            Needs `expression` and `identity` labels.
        out_dir: run folder (stages, backups, TensorBoard logs, saved models, summary.json).
            Re-running with the same folder resumes: finished stages are skipped.
        config: `"small"` (CPU, 32 px grey, narrow) or `"paper"` (96 px RGB, section 4.1), or a
            dict of options.
        precision: `None`, `"float32"`, `"mixed"` (mixed_bfloat16 on CPU, mixed_float16 on GPU).
        strategy: `fer_zoo.training.get_strategy` name (`"default"`, `"mirrored"`, ...).
        **overrides: any key of `CONFIGS[config]` (e.g. `gan_epochs=2`, `cnn_baseline=True`,
            `folds=10, fold=3`).

    Returns:
        dict (JSON-serialisable, also written to `out_dir/summary.json`): `config`, `stages`
        (histories), `metrics` (test accuracies on held-out identities, reenactment L1/SSIM),
        `paths` (classifier `.keras`, weights), timings.

    Example:
    ```python
    from fer_zoo.recipes.relgan.train import train
    summary = train("/tmp/fer_data/kdef_faces_64_grey.npz", "runs/relgan_kdef",
                    image_size=64, folds=10, fold=0, cnn_baseline=True)
    summary["metrics"]["relgan_test_accuracy"]
    ```
    """
    summary, _ = run(data, out_dir, config, precision, strategy, **overrides)
    return summary


def run(
    data="synthetic",
    out_dir="runs/relgan",
    config="small",
    precision=None,
    strategy="default",
    **overrides,
):
    """`train`, also returning the live objects: `(summary, {"recipe", "classifier", "train",
    "test"})` (the trained RELGAN, the classifier and the train/test FaceSets)."""
    cfg = resolve_config(config, **overrides)
    # First: "mirrored-cpu:N" must split the CPU before anything initialises TF's devices.
    dist = get_strategy(strategy)
    set_precision(precision)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    keras.utils.set_random_seed(cfg["seed"])

    faceset = load_faceset(data, cfg)
    for key in ("expression", "identity"):
        if key not in faceset.labels or (np.asarray(faceset.labels[key]) < 0).all():
            raise ValueError(f"REL-GAN needs {key!r} labels; data {faceset.name!r} has none.")
    train_idx, test_idx = split_by_identity(faceset, cfg)
    train_fs, test_fs = faceset.subset(train_idx), faceset.subset(test_idx)
    num_identities = len(np.unique(train_fs.labels["identity"]))
    num_classes = len(faceset.class_names) or len(EXPRESSIONS)
    batch = cfg["batch_size"]

    gan_ds = triplet_dataset(
        train_fs, batch, seeds=range(cfg["seed"], cfg["seed"] + cfg["triplet_seeds"]), augment=cfg["augment"], seed=cfg["seed"]
    )
    steps_per_epoch = int(gan_ds.cardinality().numpy())
    network = {k: cfg[k] for k in models.NETWORK_CONFIGS["paper"]}
    pixel_weights = None
    if cfg["pixel_expression_weight"]:
        from fer_zoo.recipes.gasca.train import expression_weight_map

        pixel_weights = expression_weight_map(
            train_fs.images, np.asarray(train_fs.labels["expression"]), cfg["pixel_expression_weight"]
        )

    with dist.scope():
        recipe = RELGAN(
            num_identities=num_identities,
            num_expressions=num_classes,
            loss_weights=cfg["loss_weights"],
            d_loss_weights=cfg["d_loss_weights"],
            adversarial_warmup_steps=cfg["adversarial_warmup_steps"],
            seed=cfg["seed"],
            pixel_weights=pixel_weights,
            **network,
        )
        recipe.compile(
            g_optimizer=keras.optimizers.Adam(cfg["learning_rate"], beta_1=cfg["beta_1"]),
            d_optimizer=keras.optimizers.Adam(
                cfg["d_learning_rate"] or cfg["learning_rate"], beta_1=cfg["beta_1"]
            ),
        )
        recipe.run_eagerly = cfg["run_eagerly"]
    after, warmup = cfg["switch_after_fraction"], cfg["d_warmup_steps"]
    # The fraction counts the adversarial D steps, after the warm-up.
    adversarial_steps = max(0, cfg["gan_epochs"] * steps_per_epoch - warmup)
    schedule = GeneratorPriority(
        g_steps=cfg["g_steps_after_switch"],
        after_steps=None if after is None else warmup + int(after * adversarial_steps),
        d_loss_below=cfg["d_loss_below"],
        d_warmup_steps=warmup,
    )
    # Diagnostic: D_e on (unaugmented) real training faces over the GAN stage.
    probe = np.random.default_rng(cfg["seed"]).permutation(len(train_fs))[:256]
    monitor = DExpressionMonitor(
        train_fs.images[probe].astype(np.float32),
        np.asarray(train_fs.labels["expression"])[probe],
        every=cfg["monitor_every"],
    )
    runner = StageRunner(out_dir, backup_every=cfg["backup_every"], verbose=cfg["verbose"])
    callbacks = [schedule, monitor, *generator_monitor(recipe, test_fs, train_fs, cfg)]
    if cfg["monitor_gradients"]:
        from fer_zoo.recipes.jpem.train import TermGradientMonitor

        fixed = build_triplets(train_fs, seeds=(cfg["seed"] + 1000,))
        rows = probe_rows(len(fixed["source"]), cfg["monitor_gradients"], cfg["seed"])
        callbacks.append(TermGradientMonitor(recipe, {k: fixed[k][rows] for k in TRIPLET_KEYS}))
    budget = None
    if cfg["time_budget_minutes"]:
        from fer_zoo.recipes.gasca.train import WallClockBudget

        budget = WallClockBudget(start + 60 * cfg["time_budget_minutes"])
        callbacks.append(budget)
    was_done, gan_started = runner.is_done("gan"), time.time()
    stages = {"gan": runner.fit("gan", recipe, gan_ds, cfg["gan_epochs"], callbacks=callbacks)}
    gan_stage = {"seconds": 0.0, "steps_this_call": 0, "epochs_run": len(next(iter(stages["gan"].values()), []))}
    if not was_done:
        steps = gan_stage["epochs_run"] * steps_per_epoch
        if budget is not None and budget.stopped_at is not None:
            steps = (gan_stage["epochs_run"] - 1) * steps_per_epoch + budget.stopped_at + 1
        seconds = time.time() - gan_started
        gan_stage.update(seconds=round(seconds, 1), steps_this_call=int(steps),
                         images_per_second=round(steps * batch / max(seconds, 1e-6), 1))
    # Final D_e state (also right after a resume, where the stage itself is skipped).
    monitor.set_model(recipe)
    d_expression_final = monitor.measure()

    classifier = None
    if cfg["mlp_epochs"]:
        cls_ds = classification_dataset(train_fs, batch, augment=cfg["augment"], seed=cfg["seed"])
        with dist.scope():
            classifier = models.relgan_classifier(
                encoder=recipe.expression_encoder,
                num_classes=num_classes,
                mlp_units=cfg["mlp_units"],
                dropout=cfg["dropout"],
            )
            classifier.compile(
                keras.optimizers.Adam(cfg["mlp_learning_rate"]),
                "sparse_categorical_crossentropy",
                metrics=["accuracy"],
                run_eagerly=cfg["run_eagerly"],
            )
        stages["mlp"] = runner.fit("mlp", classifier, cls_ds, cfg["mlp_epochs"])

    metrics = {
        "relgan_test_accuracy": None if classifier is None else _accuracy(classifier, test_fs, batch),
        "train_identities": int(num_identities),
        "test_identities": int(len(np.unique(test_fs.labels["identity"]))),
        "test_images": int(len(test_fs)),
        "chance_accuracy": float(1.0 / num_classes),
        "d_expression_train_accuracy": d_expression_final["accuracy"],
        "d_expression_train_p_fake": d_expression_final["p_fake"],
    }
    if cfg["cnn_baseline"]:
        with dist.scope():
            baseline = models.cnn_baseline(num_classes=num_classes, **network)
            baseline.compile(
                keras.optimizers.Adam(cfg["learning_rate"] * 10, beta_1=0.9),
                "sparse_categorical_crossentropy",
                metrics=["accuracy"],
                run_eagerly=cfg["run_eagerly"],
            )
        baseline_epochs = cfg["gan_epochs"] + cfg["mlp_epochs"]
        stages["cnn_baseline"] = runner.fit("cnn_baseline", baseline, cls_ds, baseline_epochs)
        metrics["cnn_baseline_test_accuracy"] = _accuracy(baseline, test_fs, batch)

    if len(np.unique(test_fs.labels["identity"])) >= 2:
        metrics.update(reenactment_metrics(recipe, build_triplets(test_fs, seeds=(cfg["seed"],)), batch))

    paths = {"generator_weights": str(out_dir / "relgan_gan.weights.h5")}
    if classifier is not None:
        paths["classifier"] = str(out_dir / "relgan_classifier.keras")
        paths["classifier_weights"] = str(out_dir / "relgan_classifier.weights.h5")
        classifier.save(str(write_path(paths["classifier"])))
        classifier.save_weights(str(write_path(paths["classifier_weights"])))
    recipe.save_weights(str(write_path(paths["generator_weights"])))
    if cfg["save_generator"]:
        # {"target": x_t, "source": x_s} -> x̄, and G_es alone (f(e), for the gate's probe).
        paths["generator"] = str(out_dir / "generator.keras")
        paths["expression_encoder"] = str(out_dir / "expression_encoder.keras")
        recipe.generator_model().save(str(write_path(paths["generator"])))
        recipe.expression_encoder.save(str(write_path(paths["expression_encoder"])))
    summary = {
        "recipe": "relgan",
        "data": data if isinstance(data, str) else faceset.name,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
        "precision": keras.config.dtype_policy().name,
        "strategy": strategy,
        "stages": stages,
        "metrics": metrics,
        "paths": paths,
        "gan_stage": gan_stage,
        "train_identities": sorted(int(i) for i in np.unique(train_fs.labels["identity"])),
        "test_identities": sorted(int(i) for i in np.unique(test_fs.labels["identity"])),
        "g_steps_switched_at": schedule.switched_at,
        "d_warmup_ended_at": schedule.warmup_ended_at,
        "d_expression_monitor": monitor.history,
        "seconds": round(time.time() - start, 1),
    }
    write_path(out_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary, {"recipe": recipe, "classifier": classifier, "train": train_fs, "test": test_fs}


def cross_validate(data, out_dir, folds=5, fold_indices=None, config="small", **overrides):
    """Subject-independent k-fold: `train` once per fold (`out_dir/fold<k>`), resumable.

    Returns:
        dict: `folds` (each fold's metrics), `mean` and sample `std` (ddof 1; None for one fold)
        of every numeric metric over the folds run so far (also written to `out_dir/cv_summary.json`).
    """
    out_dir = pathlib.Path(out_dir)
    results = []
    for k in fold_indices if fold_indices is not None else range(folds):
        summary = train(data, str(out_dir / f"fold{k}"), config, folds=folds, fold=k, **overrides)
        results.append({"fold": k, **summary["metrics"], "seconds": summary["seconds"]})
        keys = [key for key, v in results[0].items() if isinstance(v, float) and key != "seconds"]
        stats = over_runs(results, keys)
        report = {
            "folds": results,
            "mean": {key: stat["mean"] for key, stat in stats.items()},
            "std": {key: stat["std"] for key, stat in stats.items()},
        }
        write_path(out_dir / "cv_summary.json").write_text(json.dumps(report, indent=1))
    return report


def linear_probe(train_x, train_y, test_x, test_y, num_classes, epochs=300, seed=0):
    """Test accuracy of a softmax regression (one Dense layer, Keras) on standardised features."""
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    keras.utils.set_random_seed(seed)
    probe = keras.Sequential(
        [
            keras.Input((train_x.shape[1],)),
            keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=keras.regularizers.L2(1e-3)),
        ]
    )
    probe.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    # Full-batch steps inside one epoch: one traced loop instead of `epochs` fit epochs.
    full_batch = tf.data.Dataset.from_tensors(((train_x - mean) / std, train_y.astype(np.int32)))
    probe.fit(full_batch.repeat(epochs), epochs=1, verbose=0)
    pred = np.argmax(probe.predict((test_x - mean) / std, verbose=0), axis=1)
    return float(np.mean(pred == test_y))


def disentanglement_probes(recipe, faceset, seed=0, epochs=300):
    """How much identity / expression linear probes read from f(e) and f(i) of unseen faces.

    * identity probes: train on half the images of every identity, test on the other half
      (chance = 1 / identities); a disentangled f(e) should sit near chance, f(i) well above.
    * expression probes: subject-independent (train on half the identities, test on the rest;
      chance = 1 / classes); f(e) should be well above chance.

    Returns:
        dict `"identity from f(e)"`, `"identity from f(i)"`, `"expression from f(e)"`,
        `"expression from f(i)"` -> `{"accuracy", "chance"}`.
    """
    images = faceset.images
    f_e = keras.ops.convert_to_numpy(recipe.expression_encoder.predict(images, verbose=0)).astype(np.float32)
    f_i = keras.ops.convert_to_numpy(recipe.identity_encoder.predict(images, verbose=0)).astype(np.float32)
    identity = _dense_ids(faceset.labels["identity"])
    expression = np.asarray(faceset.labels["expression"]).astype(np.int32)
    n_ids, n_expr = int(identity.max()) + 1, len(faceset.class_names)
    if n_ids < 2:
        raise ValueError("disentanglement_probes needs at least two identities.")
    rng = np.random.default_rng(seed)
    within = np.zeros(len(images), bool)  # identity probe: half of each identity's images
    for person in range(n_ids):
        members = rng.permutation(np.nonzero(identity == person)[0])
        within[members[: len(members) // 2]] = True
    people = rng.permutation(n_ids)
    across = np.isin(identity, people[: n_ids // 2])  # expression probe: half of the identities
    results = {}
    for code_name, codes in (("f(e)", f_e), ("f(i)", f_i)):
        results[f"identity from {code_name}"] = {
            "accuracy": linear_probe(
                codes[within], identity[within], codes[~within], identity[~within], n_ids, epochs, seed
            ),
            "chance": 1.0 / n_ids,
        }
    for code_name, codes in (("f(e)", f_e), ("f(i)", f_i)):
        results[f"expression from {code_name}"] = {
            "accuracy": linear_probe(
                codes[across], expression[across], codes[~across], expression[~across], n_expr, epochs, seed
            ),
            "chance": 1.0 / n_expr,
        }
    return results


def _face_labels(faceset):
    labels = faceset.labels
    n = len(faceset)
    return (
        np.asarray(labels["identity"]),
        np.asarray(labels["expression"]),
        np.round(np.asarray(labels.get("yaw", np.zeros(n)), np.float64), 3),
        np.round(np.asarray(labels.get("intensity", np.ones(n)), np.float64), 3),
    )


def demo_grid_arrays(recipe, source_faces, target_faces=None, n_sources=5, n_targets=4, seed=0):
    """Sources (distinct expressions, from `source_faces`), targets (identities of
    `target_faces`, default the same set) and, for every pair, x̄ and the exact ground truth
    looked up in the (full-grid) target face set: the target's identity and yaw with the
    source's expression and intensity."""
    target_faces = source_faces if target_faces is None else target_faces
    identity, expression, yaw, intensity = _face_labels(source_faces)
    t_identity, t_expression, t_yaw, t_intensity = _face_labels(target_faces)
    lookup = {}
    for i in range(len(target_faces)):
        lookup.setdefault((t_identity[i], t_expression[i], t_yaw[i], t_intensity[i]), i)
    rng = np.random.default_rng(seed)
    people = [int(p) for p in rng.permutation(np.unique(identity))]
    target_people = [int(p) for p in rng.permutation(np.unique(t_identity)) if p not in people[:n_sources]]
    target_people = target_people[:n_targets]
    wanted = [e for e in (0, 3, 5, 6, 1, 2, 4) if e in set(expression.tolist())][:n_sources]
    frontal = np.abs(yaw) == np.abs(yaw).min()
    sources = []
    for k, expr in enumerate(wanted):
        person = people[k % len(people)]
        pool = np.nonzero((identity == person) & (expression == expr) & frontal)[0]
        pool = pool if len(pool) else np.nonzero(expression == expr)[0]
        sources.append(int(pool[np.argmax(intensity[pool])]))
    neutral = 4 if 4 in set(t_expression.tolist()) else t_expression.min()
    yaws_present = sorted(set(t_yaw.tolist()), key=abs)
    targets = []
    for k, person in enumerate(target_people):
        want_yaw = yaws_present[k % len(yaws_present)]
        pool = np.nonzero((t_identity == person) & (t_expression == neutral) & (t_yaw == want_yaw))[0]
        pool = pool if len(pool) else np.nonzero(t_identity == person)[0]
        targets.append(int(pool[0]))
    src_img, tgt_img = source_faces.images[sources], target_faces.images[targets]
    generated = np.stack([predict_reenactment(recipe, np.repeat(src_img[i : i + 1], len(targets), 0), tgt_img)
                          for i in range(len(sources))])
    truths = np.stack(
        [
            np.stack(
                [
                    target_faces.images[lookup.get((t_identity[t], expression[s], t_yaw[t], intensity[s]), t)]
                    for t in targets
                ]
            )
            for s in sources
        ]
    )
    names = [source_faces.class_names[expression[s]] for s in sources]
    return src_img, tgt_img, generated, truths, names


DEMO_OVERRIDES = {
    "image_size": 32,
    "channels": 1,
    "batch_size": 16,
    "gan_epochs": 16,  # 896 D steps: 600 of D warm-up, then 296 adversarial
    "mlp_epochs": 20,
    # SynthFER's expressions move few pixels: this D needs ~400-600 steps to read them.
    "d_warmup_steps": 600,
    "monitor_every": 25,
    "learning_rate": 5e-4,
    "d_learning_rate": 2e-3,  # D must learn the (subtle) expressions within a few hundred steps
    "mlp_learning_rate": 3e-3,
    "adversarial_warmup_steps": 150,
    "augment": False,
    "triplet_seeds": 2,
    "synthetic": {"identities": 40, "yaws": (0,), "intensities": (0.5, 1.0)},
    "test_fraction": 0.2,
    "switch_after_fraction": None,  # the switch re-traces the step (~30 s on a CPU); see KDEF runs
    "backup_every": "epoch",
    "verbose": 0,
}


def demo(out_dir="runs/relgan_demo", smoke=False, **overrides):
    """2-5 minute CPU REL-GAN run on SynthFER with the paper-style figures.

    Trains the small network (32 px) on 32 SynthFER identities (8 more held out), then writes
    `relgan_reenactment.png` (Fig. 3 style: sources from held-out identities x targets from
    training identities, each x̄ next to the exact render) and `relgan_probes.png` (linear
    probes of f(e) / f(i) on the held-out identities). `metrics["reenactment_l1"]` is measured
    on triplets whose source *and* target identities are held out.

    Returns:
        dict: `paths` (figures, run folder), `metrics` (reenactment L1/SSIM on held-out
        identities, grid L1/SSIM, MLP accuracy) and `disentanglement` (probe accuracies and
        chance levels).
    """
    from fer_zoo.recipes.relgan import figures

    out_dir = pathlib.Path(out_dir)
    cfg = {**DEMO_OVERRIDES, **overrides}
    if smoke:  # seconds-long, same code path (CI)
        cfg.update(gan_epochs=1, mlp_epochs=1, d_warmup_steps=2, adversarial_warmup_steps=1,
                   synthetic={"identities": 8, "yaws": (0,), "intensities": (1.0,)})
        cfg.update(overrides)
    summary, live = run("synthetic", str(out_dir / "relgan_run"), "small", **cfg)
    recipe, test = live["recipe"], live["test"]
    sources, targets, generated, truths, names = demo_grid_arrays(
        recipe, test, live["train"], seed=cfg.get("seed", 0)
    )
    grid_l1 = float(np.mean(np.abs(generated - truths)))
    grid_ssim = float(
        np.mean(tf.image.ssim((generated + 1) / 2, (truths + 1) / 2, max_val=1.0, filter_size=7))
    )
    grid = figures.reenactment_grid(
        sources, targets, generated, truths, out_dir / "relgan_reenactment.png",
        title=f"REL-GAN, held-out SynthFER sources onto training identities: L1 {grid_l1:.3f}, "
        f"SSIM {grid_ssim:.3f}",
        row_labels=names,
    )
    probes = disentanglement_probes(recipe, test, seed=cfg.get("seed", 0))
    chart = figures.probe_chart(probes, out_dir / "relgan_probes.png")
    metrics = dict(summary["metrics"])
    metrics.update({"grid_l1": grid_l1, "grid_ssim": grid_ssim, "seconds": summary["seconds"]})
    result = {
        "paths": {"reenactment_grid": grid, "probes": chart, "run": str(out_dir / "relgan_run")},
        "metrics": metrics,
        "disentanglement": probes,
        "headline": {
            "done": f"trained REL-GAN from scratch on {cfg['synthetic']['identities']} SynthFER identities",
            "lines": [
                f"reenactment of held-out faces: SSIM {metrics['reenactment_ssim']:.2f} to the exact render "
                f"(copying the target face: {metrics['target_copy_ssim']:.2f})",
                f"frozen encoder + MLP expression accuracy: {100 * metrics.get('relgan_test_accuracy', float('nan')):.1f} % "
                f"(chance {100 / 7:.1f} %)",
            ],
            "figures": [str(grid), str(chart)],
        },
    }
    (out_dir / "relgan_demo.json").write_text(json.dumps(result, indent=1))
    return result
