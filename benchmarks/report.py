"""Markdown tables from the suite's results dict."""

from benchmarks.common import fmt, markdown_table

TARGET_IMAGES_PER_S = 100.0  # issue target: every small config at 64x64 on the CPU


def _peak(results):
    """Best float32 matmul FLOP/s seen (suite start/end and each training process): under load
    every measurement is low, so the best one is the closest to the machine's real peak."""
    found = [results.get("matmul_peak"), results.get("matmul_peak_end")]
    found += [r.get("matmul_peak") for r in results.get("training", [])]
    peaks = [p.get("best_flops_per_s", p["flops_per_s"]) for p in found if p]
    return max(peaks) if peaks else None


def _peak_per_cpu(results):
    """Best matmul FLOPs per CPU-second of the process (load-independent; x cores = idle peak)."""
    found = [results.get("matmul_peak"), results.get("matmul_peak_end")]
    found += [r.get("matmul_peak") for r in results.get("training", [])]
    peaks = [p["flops_per_cpu_s"] for p in found if p and p.get("flops_per_cpu_s")]
    return max(peaks) if peaks else None


def machine_section(results):
    m = results["machine"]
    peak = _peak(results)
    lines = [
        f"* CPU: {m['cpu']}, {m['cores']} cores available; GPUs: {', '.join(m['gpu_names']) or 'none'}",
        f"* TensorFlow {m['tensorflow']}, Keras {m['keras']}, Python {m['python']}",
        f"* load average at start {m.get('load_average')}, at end {m.get('load_average_end')}",
        f"* float32 matmul peak (best of the large-matmul runs, 2048-4096 square): {fmt(peak / 1e9 if peak else None)} GFLOP/s",
        f"* matmul FLOPs per CPU-second of the process: {fmt(_peak_per_cpu(results) / 1e9 if _peak_per_cpu(results) else None)} "
        f"GFLOP/cpu-s (x {m['cores']} cores = the idle-machine peak estimate)",
        f"* command: `{results['command']}` ({results.get('seconds', 0) / 60:.1f} min, {m['time_utc']} UTC)",
    ]
    return "\n".join(lines)


def _cell(result, key):
    if result is None:
        return "not run"
    if result.get("status") != "ok":
        return "failed"
    return fmt(result.get(key), 2)


def _throughput(result):
    """`median (best)` images/s: on a shared machine the best step shows the attainable speed."""
    if result is None or result.get("status") != "ok":
        return _cell(result, "images_per_s")
    best = result["batch_size"] / result["step_min_s"] if result.get("step_min_s") else None
    return f"{fmt(result['images_per_s'])} ({fmt(best)})"


def training_section(results):
    rows = {}
    peak = _peak(results)
    failures = []
    for r in results.get("training", []):
        if r.get("status") != "ok":
            failures.append(r)
            if "label" not in r:
                continue
        key = (r["recipe"], r["label"])
        row = rows.setdefault(key, {"recipe": r["recipe"], "label": r["label"]})
        row.setdefault("modes", {})[r["mode"]] = r
        if r.get("status") == "ok" and r["mode"] == "float32":
            row.update({k: r.get(k) for k in ("image_shape", "batch_size", "params", "train_flops",
                                              "forward_flops", "achieved_flops_per_s", "flops_uncounted_ops")})
    headers = ["recipe", "config", "input", "batch", "params", "fp32 img/s median (best)", "fp32 first step s",
               "XLA img/s median (best)", "XLA first step s", "GFLOP/step train (fwd)", "GFLOP/s (best)",
               "% of peak (CPU-time basis)", "idle estimate img/s", "img/s if at peak",
               ">= 100 img/s (fp32 median)"]
    mixed_modes = [m for m in ("mixed_float16", "mixed_bfloat16")
                   if any(m in row.get("modes", {}) for row in rows.values())]
    for offset, mode in enumerate(mixed_modes):
        headers.insert(9 + offset, f"{mode} img/s median (best)")
    table = []
    peak_cpu = _peak_per_cpu(results)
    cores = results["machine"]["cores"]
    peak_idle = max(peak_cpu * cores, peak or 0) if peak_cpu else peak
    for (recipe, label), row in rows.items():
        modes = row["modes"]
        fp32_cpu = modes.get("float32") if modes.get("float32", {}).get("status") == "ok" else {}
        shape = row.get("image_shape")
        flops = row.get("train_flops")
        achieved = row.get("achieved_flops_per_s")
        best_flops = flops / modes["float32"]["step_min_s"] \
            if flops and modes.get("float32", {}).get("step_min_s") else None
        target = "-"
        if label.endswith("@64") or (shape and shape[0] == 64 and label.startswith("small")):
            # Judged on the default precision (float32, no XLA), median step.
            median = fp32_cpu.get("images_per_s") or 0
            target = ("yes" if median >= TARGET_IMAGES_PER_S else "**no**") if median else "-"
        cells = [
            recipe, label, "x".join(str(s) for s in shape) if shape else "-", row.get("batch_size", "-"),
            fmt((row.get("params") or 0) / 1e6, 2) + "M" if row.get("params") else "-",
            _throughput(modes.get("float32")), _cell(modes.get("float32"), "first_step_s"),
            _throughput(modes.get("xla")), _cell(modes.get("xla"), "first_step_s"),
            f"{flops / 1e9:.2f} ({row['forward_flops'] / 1e9:.2f})" if flops else "-",
            f"{fmt(achieved / 1e9 if achieved else None)} ({fmt(best_flops / 1e9 if best_flops else None)})",
            fmt(100 * fp32_cpu["flops_per_cpu_s"] / peak_cpu if fp32_cpu.get("flops_per_cpu_s") and peak_cpu else None),
            # Batch over CPU-seconds per step, times the cores: the rate an idle machine would
            # reach if the step kept every core busy.
            fmt(row["batch_size"] * cores / fp32_cpu["step_cpu_s"] if fp32_cpu.get("step_cpu_s") else None),
            # Roofline-style bound: the (idle-estimated) matmul peak spent entirely on this step's FLOPs.
            fmt(peak_idle * row["batch_size"] / flops if flops and peak_idle else None),
            target,
        ]
        for offset, mode in enumerate(mixed_modes):
            cells.insert(9 + offset, _throughput(modes.get(mode)))
        table.append(cells)
    text = markdown_table(headers, table)
    notes = []
    for r in failures:
        notes.append(f"* {r.get('recipe')} {r.get('label', '')} {r.get('mode', '')}: {r.get('error')}")
    uncounted = sorted({op for row in rows.values() for op in (row.get("flops_uncounted_ops") or [])})
    if uncounted:
        notes.append(f"* FLOP counts are lower bounds: the profiler does not count {', '.join(uncounted)}.")
    if notes:
        text += "\n\nFailures and caveats:\n\n" + "\n".join(notes)
    return text


def pipeline_section(results):
    p = results.get("pipeline") or {}
    rows = []
    for s in p.get("synthfer", []):
        if "error" in s:
            rows.append([f"SynthFER render {s['image_size']} px", "failed: " + s["error"][:80], "-"])
        else:
            rows.append([f"SynthFER render {s['image_size']} px ({s['channels']} ch)", fmt(s["images_per_s"]),
                         fmt(s["cold_images_per_s"])])
    pre = p.get("preprocessing") or {}
    if "error" in pre:
        rows.append(["decode + align + augment", "failed: " + pre["error"][:80], "-"])
    elif pre:
        shape = "x".join(str(v) for v in pre["photo_shape"][:2])
        rows += [
            [f"JPEG decode ({shape} photos)", fmt(pre["decode_photos_per_s"]), "-"],
            [f"Haar detection + eye alignment -> {pre['face_size']} px", fmt(pre["detect_align_photos_per_s"]), "-"],
            ["standard_augment (tf.data, AUTOTUNE)", fmt(pre["augment_faces_per_s"]), "-"],
            ["decode + align + augment, end to end", fmt(pre["end_to_end_faces_per_s"]), "-"],
        ]
        if pre.get("faces_found") is not None:
            rows.append([f"faces found in {pre['photos']} photos", str(pre["faces_found"]), "-"])
    return markdown_table(["stage", "images/s", "cold images/s (new identities)"], rows)


def _find(entries, batch):
    return next((e for e in entries if e["batch"] == batch), None)


def inference_section(results):
    inf = results.get("inference") or {}
    rows = []
    for p in inf.get("presets", []):
        if "error" in p:
            rows.append([p["preset"], "failed: " + p["error"][:100]] + ["-"] * 10)
            continue
        cells = [p["preset"], p["weights"], "x".join(str(v) for v in p["input"]), fmt(p["params"] / 1e6, 2) + "M"]
        for kind in ("keras", "saved_model", "tflite"):
            entries = p.get(kind) or []
            one = _find(entries, 1)
            cells.append(fmt(one["latency_ms"], 2) if one else ("export failed" if "export_error" in p and kind != "keras" else "-"))
            for batch in (32, 256):
                e = _find(entries, batch)
                cells.append(fmt(e["images_per_s"]) if e else "-")
        rows.append(cells)
    headers = ["preset", "weights", "input", "params",
               "Keras b1 ms", "Keras b32 img/s", "Keras b256 img/s",
               "SavedModel b1 ms", "SavedModel b32 img/s", "SavedModel b256 img/s",
               "TFLite b1 ms", "TFLite b32 img/s", "TFLite b256 img/s"]
    text = markdown_table(headers, rows) if rows else "No classification preset is registered yet."
    errors = [f"* {p['preset']}: export failed: {p['export_error']}" for p in inf.get("presets", []) if "export_error" in p]
    if errors:
        text += "\n\n" + "\n".join(errors)
    return text


def per_photo_section(results):
    inf = results.get("inference") or {}
    rows = []

    def found(r):
        return f"{r['faces_found']} in {r.get('photos_with_face', '?')}/{r['photos']}"

    def accuracy(r):
        return fmt(100 * r["accuracy"]) + " %" if "accuracy" in r else "-"

    for r in inf.get("recognizer", []):
        if "error" in r:
            rows.append([f"fer_zoo.Recognizer({r['preset']})", "failed: " + r["error"][:100]] + ["-"] * 5)
            continue
        rows.append([f"fer_zoo.Recognizer({r['preset']!r}) [{r['weights']}]", fmt(r["ms_per_photo"]),
                     fmt(r.get("ms_per_face")), fmt(r["photos_per_s"]), fmt(r["detect_align_ms_per_photo"]),
                     found(r), accuracy(r)])
    fer = inf.get("fer")
    if fer and "error" not in fer:
        rows.append(["fer.FER(mtcnn=False) (mini-Xception, Haar)", fmt(fer["ms_per_photo"]), fmt(fer.get("ms_per_face")),
                     fmt(fer["photos_per_s"]), "-", found(fer), accuracy(fer)])
    elif fer:
        rows.append(["fer.FER(mtcnn=False)", "failed: " + fer["error"][:100]] + ["-"] * 5)
    text = markdown_table(["pipeline (one face per photo)", "ms / photo", "ms / face found", "photos/s",
                           "of which detect+align ms", "faces found (in photos)",
                           "expression accuracy on these photos"], rows)
    if fer and "classify_ms_per_face" in fer:
        text += f"\n\n`fer` classification alone (box given, detector skipped): {fmt(fer['classify_ms_per_face'], 2)} ms/face."
    f13 = inf.get("fer2013")
    if f13:
        if "error" in f13:
            text += f"\n\nFER2013 accuracy: failed ({f13['error']})."
        else:
            text += (f"\n\nFER2013 ({f13['images']} images of {f13['path']}): `fer` accuracy "
                     f"{fmt(100 * f13['fer_accuracy'] if 'fer_accuracy' in f13 else None)} %")
            if "preset_accuracy" in f13:
                text += f", {f13['preset']} {fmt(100 * f13['preset_accuracy'])} %"
            else:
                text += " (no fer2013 preset registered: ours not measured)"
            text += "."
    return text


def markdown(results):
    parts = ["# fer_zoo benchmark results", "", machine_section(results)]
    if "training" in results:
        parts += ["", "## Training throughput (train_step, images = batch items per second)", "",
                  training_section(results)]
    if "pipeline" in results:
        parts += ["", "## Input pipeline alone", "", pipeline_section(results)]
    if "inference" in results:
        parts += ["", "## Inference per preset (batch 1 latency, batch 32 / 256 throughput)", "",
                  inference_section(results), "", "## Per photo: detection + alignment + classification", "",
                  per_photo_section(results)]
    return "\n".join(parts) + "\n"


def merge(parts):
    """Combine runs made in parts (e.g. recipes split across processes): the first full results
    dict gives the machine / pipeline / inference sections, every `training` list is concatenated
    (a bare list, or a single case dict, is taken as training results; a later result of the same
    recipe / config / mode replaces an earlier one, so a re-run case wins). Commands are kept in
    `commands`."""
    merged, commands = None, []
    training = []
    for part in parts:
        if isinstance(part, dict) and "recipe" in part and "mode" in part:
            part = [part]
        if isinstance(part, list):
            training += part
            continue
        commands.append(part.get("command", ""))
        training += part.get("training", [])
        if merged is None:
            merged = dict(part)
        else:
            for key in ("pipeline", "inference"):
                if key in part and key not in merged:
                    merged[key] = part[key]
            merged["seconds"] = merged.get("seconds", 0) + part.get("seconds", 0)
    if merged is None:
        raise ValueError("merge needs at least one full results.json (with the machine section).")
    latest = {}
    for result in training:
        latest[(result.get("recipe"), result.get("label"), result.get("mode"))] = result
    merged["training"] = sorted(latest.values(), key=lambda r: ("gasca", "jpem", "fesr", "relgan").index(r["recipe"])
                                if r.get("recipe") in ("gasca", "jpem", "fesr", "relgan") else 9)
    merged["commands"] = [c for c in commands if c]
    merged["command"] = " ; ".join(merged["commands"])
    return merged


def main(argv=None):
    """`python -m benchmarks.report results.json [more.json ...] --out DIR`: (re)write
    results.md (and a merged results.json when several parts are given)."""
    import argparse
    import json
    import pathlib

    parser = argparse.ArgumentParser(description="Markdown tables from benchmark results (merging parts).")
    parser.add_argument("parts", nargs="+", help="results.json files, or JSON lists of training results")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    parts = [json.loads(pathlib.Path(p).read_text()) for p in args.parts]
    results = merge(parts) if len(parts) > 1 else parts[0]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "results.md").write_text(markdown(results))
    print(out / "results.md")


if __name__ == "__main__":
    main()
