"""GASCA experiments behind docs/gasca.md: SynthFER reconstruction per yaw (GASCA2 vs a plain
autoencoder of the same size vs GASCA1 under harsh light), CNN2a vs the same net from scratch,
and figures for finished runs.

Run: `python -m fer_zoo.recipes.gasca.evaluate synthfer OUT_DIR` (minutes on a CPU).
"""

import json
import pathlib
import sys

import keras
import numpy as np

from fer_zoo.recipes.gasca import figures
from fer_zoo.recipes.gasca.models import GASCANetworks
from fer_zoo.recipes.gasca.train import _resize, resolve_config, synthfer_renderer, train

YAWS = (0, 15, 30, 45, 60)


def render_eval_set(cfg, identities, harsh, seed=123):
    """Val faces of `identities` x 7 expressions x `YAWS` (even or harsh light), the exact frontal
    evenly lit target of each, and their yaws."""
    from fer_zoo.data.synthfer import EVEN_LIGHT

    renderer = synthfer_renderer(cfg)
    rng = np.random.default_rng(seed)
    rows = [(i, e, y) for i in identities for e in range(7) for y in YAWS]
    ids, exps, yaws = (list(c) for c in zip(*rows))
    n = len(rows)
    lights = [renderer.sample_light(rng, harsh=True) if harsh else EVEN_LIGHT for _ in range(n)]
    size = cfg["model"]["image_size"]
    inputs = _resize(renderer.render_batch(ids, exps, [1.0] * n, [float(y) for y in yaws], [0.0] * n, lights), size)
    targets = _resize(renderer.render_batch(ids, exps, [1.0] * n, [0.0] * n, [0.0] * n, [EVEN_LIGHT] * n), size)
    return inputs, targets, np.asarray(yaws, float), np.asarray(exps)


def mae_by_yaw(generator, inputs, targets, yaws):
    outputs = np.concatenate([np.asarray(generator(inputs[i:i + 256], training=False)) for i in range(0, len(inputs), 256)])
    err = np.abs(outputs - targets).reshape(len(inputs), -1).mean(1)
    return {int(y): round(float(err[yaws == y].mean()), 4) for y in YAWS}


def accuracy_by_yaw(classifier, inputs, labels, yaws):
    predicted = np.concatenate([np.asarray(classifier(inputs[i:i + 256], training=False)).argmax(-1) for i in range(0, len(inputs), 256)])
    correct = predicted == labels
    return {int(y): round(float(correct[yaws == y].mean()), 4) for y in YAWS} | {"all": round(float(correct.mean()), 4)}


def _generator(cfg, weights):
    generator = GASCANetworks(**cfg["model"]).stacked_generator()
    generator.load_weights(weights)
    return generator


def _classifier(cfg, weights, name):
    classifier = GASCANetworks(**cfg["model"]).classifier(name)
    classifier.load_weights(weights)
    return classifier


def plain_autoencoder(cfg, summary, epochs, data_seed=0):
    """The same stacked G trained end to end with L1 only (no GANGGLW, no discriminator) on the
    same (input -> frontal evenly lit) pairs."""
    from fer_zoo.recipes.gasca.train import lit_inputs, load_data, stage_pairs

    base = load_data("synthetic", cfg)
    train_set = base.subset(np.isin(base.labels["identity"], summary["train_identities"]))
    inputs, source = lit_inputs(train_set, "gasca2", cfg, "synthetic", np.random.default_rng(data_seed))
    rows, tgt = stage_pairs(train_set, source, 0.0)
    generator = GASCANetworks(**cfg["model"]).stacked_generator()
    generator.compile(optimizer=keras.optimizers.Adam(cfg["g_learning_rates"][0]), loss="mae")
    generator.fit(inputs[rows], train_set.images[tgt], batch_size=cfg["batch_size"], epochs=epochs, verbose=2)
    return generator


def synthfer_experiments(out_dir="/tmp/fer_runs/gasca/synthfer", fig_dir=None, **overrides):
    """All SynthFER experiments; returns (and writes `results.json`) the measured tables."""
    out_dir = pathlib.Path(out_dir)
    results = {}
    runs = {
        "gasca2": dict(variant="gasca2"),
        "gasca1": dict(variant="gasca1"),
        "scratch": dict(variant="gasca2", pretrain=False),
    }
    summaries = {name: train("synthetic", out_dir=out_dir / name, config="small", **kw, **overrides) for name, kw in runs.items()}
    cfg = resolve_config("small", **overrides)
    val_ids = summaries["gasca2"]["val_identities"]
    even = render_eval_set(cfg, val_ids, harsh=False)
    harsh = render_eval_set(cfg, val_ids, harsh=True)
    g2 = _generator(cfg, summaries["gasca2"]["normalizer_weights"])
    g1 = _generator(cfg, summaries["gasca1"]["normalizer_weights"])
    g_epochs = cfg["gan_epochs"] * 4 + cfg["finetune_epochs"] * 3
    plain = plain_autoencoder(cfg, summaries["gasca2"], g_epochs)
    results["reconstruction_mae"] = {
        "gasca2_even": mae_by_yaw(g2, *even[:3]),
        "gasca2_harsh": mae_by_yaw(g2, *harsh[:3]),
        "plain_ae_even": mae_by_yaw(plain, *even[:3]),
        "plain_ae_harsh": mae_by_yaw(plain, *harsh[:3]),
        "gasca1_even": mae_by_yaw(g1, *even[:3]),
        "gasca1_harsh": mae_by_yaw(g1, *harsh[:3]),
    }
    c2 = _classifier(cfg, summaries["gasca2"]["classifier_weights"], "cnn2a")
    c0 = _classifier(cfg, summaries["scratch"]["classifier_weights"], "cnn2a")
    results["accuracy"] = {
        "cnn2a_even": accuracy_by_yaw(c2, even[0], even[3], even[2]),
        "cnn2a_harsh": accuracy_by_yaw(c2, harsh[0], harsh[3], harsh[2]),
        "scratch_even": accuracy_by_yaw(c0, even[0], even[3], even[2]),
        "scratch_harsh": accuracy_by_yaw(c0, harsh[0], harsh[3], harsh[2]),
    }
    results["val_identities"] = val_ids
    results["seconds"] = {name: s["seconds"] for name, s in summaries.items()}
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    fig_dir = pathlib.Path(fig_dir or out_dir)
    figures.figure3(g2, fig_dir / "gasca_synthfer_fig3.png", cfg, harsh=True)
    rec = results["reconstruction_mae"]
    figures.bar_plot({k: rec[k] for k in ("gasca2_harsh", "plain_ae_harsh", "gasca1_harsh")},
                     fig_dir / "gasca_synthfer_mae_by_yaw.png", "SynthFER: MAE to exact frontal target by input yaw (harsh light)")
    acc = results["accuracy"]
    figures.bar_plot({"CNN2a": {k: v for k, v in acc["cnn2a_even"].items()}, "scratch": acc["scratch_even"]},
                     fig_dir / "gasca_synthfer_accuracy_by_yaw.png", "SynthFER: expression accuracy by yaw (held-out ids)", y_max=1.0)
    return results


def kdef_figures(run_dir, fig_dir, name):
    """Confusion-matrix and per-pose plots of a finished KDEF run (plots only, no faces)."""
    summary = json.loads((pathlib.Path(run_dir) / "summary.json").read_text())
    report = summary["classifier"]
    figures.confusion_plot(report["confusion"], report["class_names"], pathlib.Path(fig_dir) / f"gasca_{name}_confusion.png",
                           title=f"KDEF held-out ids, {name}: {report['accuracy'] * 100:.1f}% (rows = truth, %)")
    return summary


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "synthfer":
        print(json.dumps(synthfer_experiments(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None), indent=1))
    else:
        print(__doc__)
