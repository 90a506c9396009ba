"""`fer-zoo`: list, inspect, train, evaluate, run and export the fer_zoo models.

TensorFlow is imported only by the commands that need it, so `fer-zoo --help` is instant.
"""

import argparse
import json
import os
import pathlib
import sys

EPILOG = """\
examples:
  fer-zoo list
  fer-zoo info gasca2
  fer-zoo predict gasca2 photo1.jpg photo2.png --json
  fer-zoo predict gasca2 group.jpg --annotate annotated/
  fer-zoo video gasca2 clip.mp4 --out clip_annotated.mp4 --every-n 2
  fer-zoo evaluate gasca2 --data kdef:/data/KDEF --out eval/
  fer-zoo export gasca2 serving/ --tflite --onnx
  fer-zoo train gasca2 --data synthetic --out runs/gasca2 --config small --set epochs=2
  fer-zoo data preview kdef:/data/KDEF --out kdef.png
  fer-zoo demo --recipes gasca,jpem --out demo/
  fer-zoo bench

Add --debug before the command to see full tracebacks. Docs: docs/cli.md.
"""


class CommandError(Exception):
    """A user error reported as one line; `exit_code` 2 for bad names/arguments."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def _parse_overrides(pairs):
    # Imported here: `fer_zoo.training` loads TensorFlow, and `fer-zoo --help` should not.
    from fer_zoo.training.overrides import parse_overrides

    try:
        return parse_overrides(pairs)
    except ValueError as error:
        raise CommandError(str(error), exit_code=2) from None


def _weights_arg(value):
    return None if value in ("none", "None", "random") else value


_DEBUG = False


def _quiet_tensorflow():
    """Import TensorFlow with its C++ start-up log lines (CUDA probing, oneDNN) silenced.

    Those lines go straight to file descriptor 2 before any Python logging is set up, so the
    descriptor is pointed at /dev/null for the import only. `--debug` keeps them.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _DEBUG or "tensorflow" in sys.modules:
        return
    try:
        saved = os.dup(2)
    except OSError:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow

        tensorflow.config.list_physical_devices()  # the CUDA probe logs here, still silenced
        # Python-side warnings (e.g. tf.function retracing notices) are not for the user either.
        tensorflow.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _zoo():
    _quiet_tensorflow()
    import fer_zoo.zoo

    return fer_zoo.zoo


def _print_table(rows, headers, file=None):
    file = file or sys.stdout
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip(), file=file)


# ---------------------------------------------------------------------------------------------
# Commands.


def cmd_list(args):
    zoo = _zoo()
    from fer_zoo.zoo import registry

    names = zoo.list_models(task=args.task, include_architectures=args.all)
    if args.json:
        print(json.dumps(names))
        return 0
    if not names:
        print("No models registered.")
        return 0
    rows = []
    for name in names:
        info = registry.model_info(name)
        size = info.get("input_size")
        rows.append([
            name,
            info.get("task", "architecture") if name in registry.presets() else "architecture",
            f"{size[0]}x{size[1]}x{info.get('channels')}" if size else "-",
            "yes" if info["pretrained"] else "no",
            (info.get("description") or "")[:60],
        ])
    _print_table(rows, ["name", "task", "input", "weights", "description"])
    return 0


def cmd_info(args):
    zoo = _zoo()
    info = zoo.model_info(args.name)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for key in sorted(info):
        value = info[key]
        if isinstance(value, dict | list):
            value = json.dumps(value, default=str)
        print(f"{key}: {value}")
    if args.card:
        if not info.get("card_path"):
            raise CommandError(f"{args.name!r} has no model card.")
        print()
        print(pathlib.Path(info["card_path"]).read_text(encoding="utf-8"))
    return 0


def cmd_train(args):
    from fer_zoo.recipes import RECIPES, get_trainer

    if args.recipe not in RECIPES:
        raise CommandError(
            f"Unknown recipe {args.recipe!r}. Available: {', '.join(RECIPES)}.", exit_code=2
        )
    overrides = _parse_overrides(args.set)
    _quiet_tensorflow()
    trainer = get_trainer(args.recipe)
    summary = trainer(
        data=args.data, out_dir=args.out, config=args.config, precision=args.precision,
        strategy=args.strategy, **overrides,
    )
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _load_model(zoo, name, weights):
    return zoo.load(name, weights=_weights_arg(weights))


def cmd_evaluate(args):
    zoo = _zoo()
    import numpy as np

    from fer_zoo.zoo import loading

    try:
        from fer_zoo.data import load_faceset, split_indices
    except ImportError as error:
        raise CommandError(f"Data loading is unavailable: {error}") from error
    import inspect

    overrides = _parse_overrides(args.set)
    # --set keys of split_indices (test_fraction, validation_fraction, seed) go to the split;
    # the rest to the data set adapter (e.g. poses=["S"] for KDEF).
    split_keys = set(inspect.signature(split_indices).parameters) - {"faceset", "split"}
    split_options = {k: overrides.pop(k) for k in list(overrides) if k in split_keys}
    if split_options and not args.split:
        raise CommandError(f"--set {', '.join(split_options)} needs --split.", exit_code=2)
    if _adapter_takes_skip_bad(args.data):
        # Unreadable files are skipped and reported (exit 1 at the end); --strict stops at the
        # first one instead.
        overrides.setdefault("skip_bad", not args.strict)
    model = _load_model(zoo, args.model, args.weights)
    metadata = model.fer_zoo_metadata
    # Faces are cropped at the model's size and channels; photo adapters cache the crops.
    faceset = load_faceset(
        args.data, image_size=int(metadata["input_size"][0]), channels=int(metadata["channels"]),
        cache_dir=str(loading.cache_dir() / "faces"), **overrides,
    )
    bad = [(str(path), " ".join(str(reason).split()))
           for path, reason in (getattr(faceset, "report", None) or {}).get("bad", [])]
    if args.split:
        split_options = {"protocol": args.protocol, "fold": args.fold, **split_options}
        faceset = faceset.subset(split_indices(faceset, args.split, **split_options))
    class_names = [str(c) for c in metadata["class_names"]]
    data_names = [str(c) for c in faceset.class_names]
    unknown = sorted(set(data_names) - set(class_names))
    if unknown:
        raise CommandError(
            f"Data classes {unknown} are not classes of {args.model!r} ({', '.join(class_names)})."
        )
    labels = np.asarray(faceset.labels["expression"])
    keep = labels >= 0
    if not keep.any():
        raise CommandError(f"{args.data!r} has no expression labels to evaluate against.")
    # Map the data set's label indices to the model's class order (by name).
    to_model = np.array([class_names.index(n) for n in data_names])
    truth = to_model[labels[keep]]
    inputs = loading.to_model_input(faceset.images[keep], metadata, source_range=(-1.0, 1.0))
    predicted = loading.predict_probabilities(model, inputs, metadata).argmax(axis=-1)
    report = evaluation_report(truth, predicted, class_names)
    report.update(model=args.model, data=args.data, split=args.split, protocol=args.protocol,
                  fold=args.fold, samples=int(keep.sum()),
                  bad_files=[{"path": path, "error": reason} for path, reason in bad])
    if args.out:
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        report["confusion_png"] = str(out / "confusion.png")
        save_confusion_png(np.asarray(report["confusion"]), class_names, report["confusion_png"],
                           title=f"{args.model} on {faceset.name}: {report['accuracy']:.1%}")
        (out / "metrics.json").write_text(json.dumps(report, indent=2))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.model} on {args.data}: accuracy {report['accuracy']:.4f} "
              f"({report['samples']} faces)")
        _print_table(
            [[c, f"{report['per_class'][c]['recall']:.4f}", report["per_class"][c]["support"]]
             for c in class_names],
            ["class", "recall", "support"],
        )
        if args.out:
            print(f"confusion matrix: {report['confusion_png']}")
        for path, reason in bad:
            print(f"skipped unreadable file: {path} ({reason})")
    return _report_failures([(path, _short_reason(reason, path)) for path, reason in bad], None,
                            "files", "unreadable, skipped")


def _adapter_takes_skip_bad(spec):
    """Whether the data set adapter of `spec` reads image files one by one (has `skip_bad`)."""
    import inspect

    try:
        from fer_zoo.data import ADAPTERS, parse_spec

        kind, _ = parse_spec(spec)
    except Exception:  # an unknown spec is reported by load_faceset itself
        return False
    loader = ADAPTERS.get(kind)
    return loader is not None and "skip_bad" in inspect.signature(loader).parameters


def _report_failures(failed, total, noun="images", what="failed"):
    """For `(source, reason)` pairs: one summary line on stderr and exit code 1; 0 if none."""
    if not failed:
        return 0
    shown = "; ".join(f"{source} ({reason})" for source, reason in failed[:5])
    if len(failed) > 5:
        shown += f"; and {len(failed) - 5} more"
    count = f"{len(failed)} of {total}" if total is not None else str(len(failed))
    print(f"fer-zoo: {count} {noun} {what}: {shown}", file=sys.stderr)
    return 1


def _short_reason(error, source):
    """`ImageResult.error` without the file name, which the summary line gives already."""
    reason = " ".join(error.replace(source, "").split()).strip(" :")
    return reason or error


def evaluation_report(truth, predicted, class_names):
    """Accuracy, per-class recall/precision/support and the confusion matrix (rows = truth)."""
    import numpy as np

    from fer_zoo.evaluation.aggregate import confusion_matrix

    confusion = confusion_matrix(truth, predicted, len(class_names))
    support = confusion.sum(axis=1)
    predicted_count = confusion.sum(axis=0)
    diagonal = np.diag(confusion)
    per_class = {
        name: {
            "recall": float(diagonal[i] / support[i]) if support[i] else float("nan"),
            "precision": float(diagonal[i] / predicted_count[i]) if predicted_count[i] else float("nan"),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float(diagonal.sum() / max(1, confusion.sum())),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "class_names": list(class_names),
    }


def save_confusion_png(confusion, class_names, path, title=""):
    """Row-normalised confusion matrix as a PNG (Pillow; no matplotlib needed)."""
    import numpy as np
    from PIL import Image, ImageDraw

    k = len(class_names)
    cell, left, top = 56, 90, 40
    image = Image.new("RGB", (left + k * cell + 10, top + k * cell + 70), "white")
    draw = ImageDraw.Draw(image)
    rows = confusion / np.maximum(1, confusion.sum(axis=1, keepdims=True))
    draw.text((10, 10), title, fill="black")
    for i in range(k):
        draw.text((5, top + i * cell + cell // 2 - 5), class_names[i][:12], fill="black")
        draw.text((left + i * cell + 4, top + k * cell + 8 + 12 * (i % 2)), class_names[i][:8],
                  fill="black")
        for j in range(k):
            shade = int(255 * (1 - rows[i, j]))
            box = (left + j * cell, top + i * cell, left + (j + 1) * cell - 1, top + (i + 1) * cell - 1)
            draw.rectangle(box, fill=(shade, shade, 255), outline="grey")
            draw.text((box[0] + 6, box[1] + cell // 2 - 5), f"{rows[i, j]:.2f}",
                      fill="black" if shade > 120 else "white")
    draw.text((left, top + k * cell + 40), "rows: true class, columns: predicted", fill="black")
    image.save(path)


def cmd_predict(args):
    zoo = _zoo()
    model = _load_model(zoo, args.model, args.weights)
    recognizer = zoo.Recognizer(model, detector="cropped" if args.cropped else None)
    # Every file gets a result (unreadable ones an error record) and the exit code is 1 at the
    # end if any failed; --strict stops at the first unreadable file.
    results = recognizer.predict(list(args.images), on_error="raise" if args.strict else "record")
    failed = [(r.source, _short_reason(r.error, r.source)) for r in results if r.error is not None]
    if args.annotate:
        import cv2

        out = pathlib.Path(args.annotate)
        out.mkdir(parents=True, exist_ok=True)
        used = set()
        for result in results:
            if result.error is not None:
                continue
            stem = pathlib.Path(result.source).stem
            name, n = f"{stem}_annotated.png", 1
            while name in used:  # same file name from different folders
                n += 1
                name = f"{stem}_{n}_annotated.png"
            used.add(name)
            annotated = recognizer.annotate(result.source, result)
            cv2.imwrite(str(out / name), cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for result in results:
            if result.error is not None:
                print(f"{result.source}: error: {result.error}")
            elif result.no_face:
                print(f"{result.source}: no face found")
            for face in result:
                print(f"{result.source}: face {face.index} at {list(face.box)}: {face.label} "
                      f"({face.score:.2f}){' [whole image as a face crop]' if face.cropped else ''}")
    return _report_failures(failed, len(results))


def cmd_video(args):
    zoo = _zoo()
    model = _load_model(zoo, args.model, args.weights)
    source = int(args.input) if args.input.isdigit() else args.input
    summary = zoo.Recognizer(model).predict_video(
        source, args.out, every_n=args.every_n, progress=not args.quiet, max_frames=args.max_frames
    )
    print(json.dumps(summary, indent=2))
    return 0


def cmd_export(args):
    zoo = _zoo()
    model = _load_model(zoo, args.model, args.weights)
    paths = zoo.export(
        model, args.dir, name=args.name, version=args.version, tflite=args.tflite,
        onnx=args.onnx, overwrite=args.overwrite,
    )
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def cmd_synthesize(args):
    zoo = _zoo()
    import cv2

    from fer_zoo.zoo.synthesizer import AlignedFaces, to_uint8

    syn = zoo.Synthesizer(_load_model(zoo, args.model, args.weights))
    expression = args.expression
    if expression is not None and expression.strip().isdigit():
        expression = int(expression)
    controls = {k: v for k, v in (("expression", expression), ("intensity", args.intensity),
                                  ("yaw", args.yaw), ("light", args.light),
                                  ("expression_from", args.expression_from)) if v is not None}
    unsupported = [k for k in controls if k not in syn.controls]
    if unsupported:
        flags = ", ".join("--" + k.replace("_", "-") for k in unsupported)
        takes = ", ".join("--" + k.replace("_", "-") for k in syn.controls) or "no controls"
        raise CommandError(f"{args.model} does not take {flags}; it takes {takes}.", exit_code=2)
    out = pathlib.Path(args.out)
    failed, written = [], []
    if syn.takes_faces:
        if not args.images or args.sample is not None:
            raise CommandError(f"{args.model} edits faces: give IMAGE files (no --sample).",
                               exit_code=2)
        # Each photo on its own, so that one without a face (or unreadable) is reported and the
        # others still written; exit 1 at the end (--strict: stop at the first).
        parts = []
        for path in args.images:
            try:
                parts.append(syn.align(path, cropped=args.cropped))
            except (OSError, ValueError) as error:
                if args.strict:
                    raise
                failed.append((path, _short_reason(" ".join(str(error).split()), path)))
        faces = AlignedFaces.concatenate(parts) if parts else None
        options = {"cropped": args.cropped}
        stems = [pathlib.Path(source).stem for source in faces.sources] if faces else []
    else:
        if args.images:
            raise CommandError(
                f"{args.model} cannot edit a given face (a decoder without encoder): use "
                "--sample N [--seed S] to render new identities.", exit_code=2)
        faces, options = None, {"num": args.sample or 1, "seed": args.seed}
        stems = [f"sample_{i}" for i in range(options["num"])]
    if faces is not None or not syn.takes_faces:
        images = to_uint8(syn.generate(faces, **options, **controls))
        out.mkdir(parents=True, exist_ok=True)
        used = set()
        for stem, image, source in zip(stems, images, faces.sources if faces else stems):
            name, n = f"{stem}_synth.png", 1
            while name in used:  # same file name from different folders
                n += 1
                name = f"{stem}_{n}_synth.png"
            used.add(name)
            if image.shape[-1] == 3:
                image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(out / name), image[..., 0] if image.shape[-1] == 1 else image)
            written.append(out / name)
            print(f"{source} -> {out / name}")
        if args.grid:
            grid = syn.grid(faces, cell=args.cell, **options, **controls)
            cv2.imwrite(str(out / "grid.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
            print(f"grid: {out / 'grid.png'}")
    return _report_failures(failed, len(args.images), what="not synthesized")


def cmd_data_preview(args):
    _quiet_tensorflow()
    try:
        from fer_zoo.data.preview import preview
    except ImportError as error:
        raise CommandError(f"Data preview is unavailable: {error}") from error
    result = preview(args.spec, args.out, **_parse_overrides(args.set))
    print(result if result is not None else args.out)
    return 0




def cmd_demo(args):
    import os
    import time

    from fer_zoo.recipes import DEMOS, TRAINING_DEMOS, get_demo

    if args.recipes:
        names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    else:
        names = [n for n in DEMOS if args.train or n not in TRAINING_DEMOS]
    unknown = [n for n in names if n not in DEMOS]
    if unknown:
        raise CommandError(
            f"Unknown demo(s) {', '.join(unknown)}. Available: {', '.join(DEMOS)}.", exit_code=2
        )
    smoke = args.smoke or os.environ.get("FER_ZOO_DEMO_SMOKE", "") not in ("", "0")
    if not args.debug:
        # Grappler / oneDNN notices logged from C++ while training are noise in a demo.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _quiet_tensorflow()
    failed, blocks, started = [], [], time.time()
    for step, name in enumerate(names, 1):
        out_dir = pathlib.Path(args.out) / name
        out_dir.mkdir(parents=True, exist_ok=True)
        print(f"[{step}/{len(names)}] {name}: running{' (smoke size)' if smoke else ''} ...",
              file=sys.stderr, flush=True)
        began = time.time()
        try:
            result = get_demo(name)(str(out_dir), smoke=smoke) or {}
        except Exception as error:
            if args.debug:
                raise
            failed.append(name)
            blocks.append((name, None, f"FAILED: {type(error).__name__}: {error}"[:300]))
            print(f"[{step}/{len(names)}] {name}: failed after {time.time() - began:.0f} s",
                  file=sys.stderr, flush=True)
            continue
        seconds = time.time() - began
        headline = result.pop("headline", None) or {}
        metrics, figures = _split_demo_result(result)
        figures = headline.get("figures") or figures
        (out_dir / "demo_summary.json").write_text(json.dumps(
            {"seconds": round(seconds, 1), "smoke": smoke, "headline": headline, "metrics": metrics,
             "figures": figures}, indent=2))
        blocks.append((name, {**headline, "figures": figures, "seconds": seconds}, None))
        print(f"[{step}/{len(names)}] {name}: done in {seconds:.0f} s", file=sys.stderr, flush=True)
    # One short block per recipe for a person; every number is in <out>/<recipe>/demo_summary.json.
    for name, headline, failure in blocks:
        print(f"\n{name}")
        if failure:
            print(f"  {failure}")
            continue
        print(f"  {headline.get('done', 'ran')} ({headline['seconds']:.0f} s)")
        for line in headline.get("lines", [])[:3]:
            print(f"  {line}")
        for figure in headline["figures"][:2]:
            print(f"  figure: {figure}")
    print(f"\nall numbers: {pathlib.Path(args.out)}/<recipe>/demo_summary.json "
          f"({time.time() - started:.0f} s in all)")
    if smoke:
        print("smoke size: a few training steps through the same code; the numbers mean nothing")
    elif any(name in TRAINING_DEMOS for name, _, _ in blocks):
        print("the recipe blocks are runs of under a minute from scratch: compare each number with its "
              "baseline; their generated faces are not yet usable (docs/synthesis.md)")
    else:
        print("shipped presets only; `fer-zoo demo --train` also trains each recipe briefly from scratch")
    if failed:
        raise CommandError(f"demo failed for: {', '.join(failed)}")
    return 0




def _split_demo_result(result):
    """Scalar metrics (rounded) and figure paths from a demo's returned dict (any nesting)."""
    metrics, figures = {}, []

    def visit(prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                visit(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                visit(f"{prefix}[{index}]" if len(value) > 1 else prefix, item)
        elif isinstance(value, str | os.PathLike) and str(value).lower().endswith((".png", ".jpg", ".gif", ".mp4")):
            figures.append(str(value))
        elif isinstance(value, bool | int | float) or type(value).__name__.startswith(("float", "int")):
            metrics[prefix] = round(float(value), 4) if not isinstance(value, bool) else value

    visit("", result)
    return metrics, figures


def cmd_bench(args):
    import importlib.machinery
    import subprocess

    # `python -m benchmarks` resolves from the working directory (a source checkout), which a
    # console script's own sys.path does not include.
    spec = importlib.machinery.PathFinder.find_spec("benchmarks", [os.getcwd(), *sys.path])
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not any((pathlib.Path(p) / "__main__.py").exists() for p in locations):
        raise CommandError(
            "No runnable benchmarks package here: run `fer-zoo bench` from the fer_zoo source "
            "tree, where `python -m benchmarks` works."
        )
    return subprocess.call([sys.executable, "-m", "benchmarks", *args.bench_args])


# ---------------------------------------------------------------------------------------------
# Parser.


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fer-zoo",
        description="Pose- and illumination-invariant facial expression recognition model zoo "
        "(GASCA, JPEM, FESR, REL-GAN recipes on Keras 3).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, help, func, example):
        sub = commands.add_parser(
            name, help=help, description=help, epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(func=func)
        return sub

    sub = add("list", "list the registered models", cmd_list, "fer-zoo list --task classification")
    sub.add_argument("--task", choices=("classification", "generation", "normalization"))
    sub.add_argument("--all", action="store_true", help="also list bare architectures")
    sub.add_argument("--json", action="store_true", help="print a JSON list of names")

    sub = add("info", "show a model's metadata (classes, input, data, accuracy, licence)",
              cmd_info, "fer-zoo info gasca2 --json")
    sub.add_argument("name")
    sub.add_argument("--json", action="store_true")
    sub.add_argument("--card", action="store_true", help="also print the model card")

    sub = add("train", "train a recipe (gasca1, gasca2, jpem, fesr, relgan)", cmd_train,
              "fer-zoo train gasca2 --data kdef:/data/KDEF --out runs/gasca2 --config paper "
              "--precision mixed_float16 --set epochs=5")
    sub.add_argument("recipe")
    sub.add_argument("--data", default="synthetic", help="data spec (default: synthetic)")
    sub.add_argument("--out", required=True, help="run directory (checkpoints, logs, figures)")
    sub.add_argument("--config", default="small", help="small (quick) or paper (paper settings)")
    sub.add_argument("--precision", default=None, help="e.g. float32, mixed_float16, mixed_bfloat16")
    sub.add_argument("--strategy", default="default",
                     help="default, auto, mirrored, mirrored-cpu:N, multiworker (cluster from "
                     "TF_CONFIG; run the same command on every worker, --out on a shared file "
                     "system; docs/distributed.md) or tpu")
    sub.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="override a config entry (JSON values; repeatable)")

    sub = add("evaluate", "accuracy, per-class recall and confusion matrix on a data set",
              cmd_evaluate, "fer-zoo evaluate gasca2 --data kdef:/data/KDEF --split test --out eval/")
    sub.add_argument("model")
    sub.add_argument("--data", required=True, help="data spec, as for `fer_zoo.data.load_faceset`")
    sub.add_argument("--split", default=None, choices=("train", "validation", "test"),
                     help="evaluate one split only (default: all faces)")
    sub.add_argument("--protocol", default=None,
                     help="protocol for --split (e.g. kdef, ckplus; default: the data set's own "
                     "split, else a subject-independent holdout)")
    sub.add_argument("--fold", type=int, default=0, help="fold of a k-fold protocol")
    sub.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="data set option (e.g. 'poses=[\"S\"]') or split option "
                     "(test_fraction, validation_fraction, seed); repeatable")
    sub.add_argument("--weights", default="default", help="default, none, a file, URL or preset")
    sub.add_argument("--out", default=None, help="directory for confusion.png and metrics.json")
    sub.add_argument("--json", action="store_true")
    sub.add_argument("--strict", action="store_true",
                     help="stop at the first unreadable image file (default: skip and list them, "
                     "exit 1 at the end)")

    sub = add("predict", "detect and classify every face in photos", cmd_predict,
              "fer-zoo predict gasca2 a.jpg b.png --json --annotate out/")
    sub.add_argument("model")
    sub.add_argument("images", nargs="+", metavar="IMAGE")
    sub.add_argument("--json", action="store_true", help="print results as JSON")
    sub.add_argument("--annotate", metavar="DIR", help="write annotated copies into DIR")
    sub.add_argument("--cropped", action="store_true", help="images are face crops: skip detection")
    sub.add_argument("--strict", action="store_true",
                     help="stop at the first unreadable image (default: report it, classify the "
                     "others, exit 1 at the end)")
    sub.add_argument("--weights", default="default")

    sub = add("video", "annotate every face of a video file or camera (index) as mp4",
              cmd_video, "fer-zoo video gasca2 clip.mp4 --out clip_annotated.mp4 --every-n 2")
    sub.add_argument("model")
    sub.add_argument("input", help="video file, or camera index such as 0")
    sub.add_argument("--out", required=True, help="annotated .mp4 to write")
    sub.add_argument("--every-n", type=int, default=1, help="analyse every n-th frame")
    sub.add_argument("--max-frames", type=int, default=None)
    sub.add_argument("--quiet", action="store_true", help="no progress line")
    sub.add_argument("--weights", default="default")

    sub = add("export", "write a TF Serving SavedModel (DIR/NAME/VERSION), optionally TFLite/ONNX",
              cmd_export, "fer-zoo export gasca2 serving/ --version 2 --tflite --onnx")
    sub.add_argument("model")
    sub.add_argument("dir")
    sub.add_argument("--name", default=None, help="served model name (default: MODEL)")
    sub.add_argument("--version", type=int, default=1)
    sub.add_argument("--tflite", action="store_true")
    sub.add_argument("--onnx", action="store_true")
    sub.add_argument("--overwrite", action="store_true")
    sub.add_argument("--weights", default="default")

    sub = add("synthesize", "generate faces with a generator preset (expression, intensity, pose, "
              "reenactment, normalisation): one PNG per input, optionally a sweep grid",
              cmd_synthesize, "fer-zoo synthesize jpem-generator face.jpg --out synth/ "
              "--expression happy --yaw 0 --grid\n  fer-zoo synthesize fesr-generator --sample 4 "
              "--expression surprise --intensity 0.5 --out synth/ --grid")
    sub.add_argument("model")
    sub.add_argument("images", nargs="*", metavar="IMAGE",
                     help="photos (the largest face of each is used) or, with --cropped, face crops")
    sub.add_argument("--out", required=True, help="directory for <stem>_synth.png (and grid.png)")
    sub.add_argument("--expression", default=None, help="target expression: class name or index")
    sub.add_argument("--intensity", type=float, default=None, help="expression intensity, 0..1")
    sub.add_argument("--yaw", type=float, default=None,
                     help="target yaw in degrees (snapped to the poses the model was trained on)")
    sub.add_argument("--light", type=float, default=None, help="target light (models that take it)")
    sub.add_argument("--expression-from", default=None, metavar="IMAGE",
                     help="face whose expression is copied (reenactment models)")
    sub.add_argument("--cropped", action="store_true",
                     help="images (and --expression-from) are face crops: skip detection")
    sub.add_argument("--grid", action="store_true",
                     help="also write grid.png: input | output | a sweep over each control")
    sub.add_argument("--cell", type=int, default=64, help="pixels per image in the grid")
    sub.add_argument("--sample", type=int, default=None, metavar="N",
                     help="decoders without encoder (fesr-generator): render N new identities")
    sub.add_argument("--seed", type=int, default=0, help="seed of --sample's identities")
    sub.add_argument("--strict", action="store_true",
                     help="stop at the first photo without a face or unreadable file (default: "
                     "report it, write the others, exit 1 at the end)")
    sub.add_argument("--weights", default="default")

    sub = add("data", "data set tools", None, "fer-zoo data preview kdef:/data/KDEF --out kdef.png")
    data_commands = sub.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    preview = data_commands.add_parser(
        "preview", help="grid of faces of a data set with their labels",
        description="Render a grid of faces from a data spec with their labels.",
    )
    preview.set_defaults(func=cmd_data_preview)
    preview.add_argument("spec")
    preview.add_argument("--out", required=True, help="PNG to write")
    preview.add_argument("--set", action="append", metavar="KEY=VALUE",
                         help="extra keyword for preview() (repeatable)")

    sub = add("demo", "run the recipes' quick SynthFER demos and summarise them", cmd_demo,
              "fer-zoo demo --recipes gasca,jpem --out demo/")
    sub.add_argument("--recipes", default=None,
                     help="comma-separated demo names (default: the shipped presets' demos)")
    sub.add_argument("--train", action="store_true",
                     help="also train each recipe briefly from scratch (about a minute each)")
    sub.add_argument("--out", default="fer_zoo_demo")
    sub.add_argument("--smoke", action="store_true",
                     help="a few steps per recipe through the same code (CI; also FER_ZOO_DEMO_SMOKE=1)")

    sub = add("bench", "run the benchmarks (forwards to `python -m benchmarks`)", cmd_bench,
              "fer-zoo bench --help")
    sub.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    global _DEBUG
    _DEBUG = args.debug
    if getattr(args, "func", None) is None:
        if args.command == "data":
            parser.parse_args(["data", "--help"])
        parser.print_help()
        return 2 if args.command else 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("fer-zoo: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        # By name: importing fer_zoo.zoo here would pull in TensorFlow just to report an error.
        unknown_name = type(error).__name__ == "UnknownModelError"
        code = getattr(error, "exit_code", 2 if unknown_name else 1)
        message = " ".join(str(error).split()) or type(error).__name__
        notes = getattr(error, "__notes__", None)
        if notes:
            message += f" ({'; '.join(notes)})"
        print(f"fer-zoo: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
