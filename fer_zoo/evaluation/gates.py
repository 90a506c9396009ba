"""What the SynthFER gates of the generative recipes share: their command line and their files.

A gate (e.g. `fer_zoo.recipes.jpem.synthfer_gate`) measures a generator and two baselines on
held-out SynthFER identities with the expression judge (`fer_zoo.evaluation.judge`) and writes
`gate.json` (every number), `gate.md` (the table) and `gate_examples.png` (a figure).
"""

import argparse
import json
import pathlib

import numpy as np


def gate_parser(description, model_option, model_help):
    """An `ArgumentParser` with the options every gate takes: `model_option` (required: the
    weights or model file to gate), `--judge`, `--out`, `--heldout-seed`, `--identities`,
    `--train-identities` (the identities averaged for the mean-face baseline)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(model_option, required=True, help=model_help)
    parser.add_argument("--judge", required=True, help="folder (or .keras file) of fer_zoo.evaluation.judge")
    parser.add_argument("--out", required=True)
    parser.add_argument("--heldout-seed", type=int, default=1, help="SynthFER seed of the held-out identities")
    parser.add_argument("--identities", type=int, default=20, help="held-out identities 0..N-1")
    parser.add_argument("--train-identities", type=int, default=None,
                        help="mean-face identities 0..N-1 (default: the run's training identities, else 200)")
    return parser


def by_cell(values, cells):
    """Mean of `values` per cell name (`cells`: one name per value), in first-seen order."""
    cells = np.asarray(cells)
    return {c: float(np.mean(values[cells == c])) for c in dict.fromkeys(cells.tolist())}


def candidate_metrics(images, targets, expected, judge, cells):
    """A gate's numbers for one candidate (a generator's outputs or a baseline): SSIM to the
    `targets` (`fer_zoo.recipes.gasca.synthfer_gate.ssim`, on [0, 1]-mapped images), per-pixel
    mean L1 (in [-1, 1] units) and the share the `judge` labels with the `expected` expression,
    overall and `by_cell` of the cell names `cells`; and the std across images (averaged over
    pixels), ~0 for a generator that ignores its input."""
    from fer_zoo.recipes.gasca.synthfer_gate import ssim

    s = ssim(images, targets)
    l1 = np.abs(images - targets).reshape(len(images), -1).mean(1)
    correct = (judge.predict(images) == np.asarray(expected)).astype(np.float32)
    return {
        "ssim": float(s.mean()), "l1": float(l1.mean()), "judge_accuracy": float(correct.mean()),
        "ssim_by_cell": by_cell(s, cells), "judge_by_cell": by_cell(correct, cells), "l1_by_cell": by_cell(l1, cells),
        "output_std_across_inputs": float(np.asarray(images).std(0).mean()),
    }


def metrics_table(results, names, cell_header):
    """Markdown rows: per cell, the SSIM then the judge accuracy (%) of each candidate in
    `names` (keys of `results`, each a `candidate_metrics` dict), and a bold overall row."""
    lines = [f"| {cell_header} | " + " | ".join(f"SSIM {n}" for n in names) + " | "
             + " | ".join(f"judge {n}" for n in names) + " |", "|---" * (1 + 2 * len(names)) + "|"]
    for cell in results[names[0]]["ssim_by_cell"]:
        lines.append(f"| {cell} | " + " | ".join(f"{results[n]['ssim_by_cell'][cell]:.3f}" for n in names) + " | "
                     + " | ".join(f"{100 * results[n]['judge_by_cell'][cell]:.1f}" for n in names) + " |")
    lines.append("| **all** | " + " | ".join(f"**{results[n]['ssim']:.3f}**" for n in names) + " | "
                 + " | ".join(f"**{100 * results[n]['judge_accuracy']:.1f}**" for n in names) + " |")
    return lines


def write_gate(out, results, table, figure):
    """Write `out/gate.json` (`results`) and `out/gate.md` (`table`), then `figure(path)` draws
    `out/gate_examples.png`; returns `results` with `table` and `figure` (its path) added."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gate.json").write_text(json.dumps(results, indent=1))
    (out / "gate.md").write_text(table + "\n")
    results["figure"] = str(figure(out / "gate_examples.png"))
    results["table"] = table
    return results


def print_gate(results):
    """The table and the figure's path, as the gates' command lines print them."""
    print(results["table"])
    print("figure:", results["figure"])
