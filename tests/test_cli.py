"""The `fer-zoo` command: parsing, one-line errors, and each command's wiring (tiny models)."""

import json
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest

from fer_zoo import cli
from fer_zoo.zoo import _testing

MODEL = "cli_test_tiny"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    with _testing.registered_tiny_model(MODEL, tmp_path_factory.mktemp("cli")) as model:
        yield model


@pytest.fixture(scope="module")
def face_png(tmp_path_factory):
    from fer_zoo.data.synthfer import SynthFER

    face = SynthFER(image_size=96, channels=3, seed=0).render(identity=4, expression="happy")
    path = tmp_path_factory.mktemp("images") / "face.png"
    rgb = np.round((face + 1.0) * 127.5).astype(np.uint8)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def _help_without_tensorflow(argv):
    """Runs `fer-zoo ARGV` (a --help) in a fresh interpreter, asserts it exits 0 without importing
    TensorFlow or Keras, and returns the completed process."""
    script = (
        "import sys\n"
        "from fer_zoo import cli\n"
        f"try:\n    cli.main({list(argv)!r})\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def test_help_is_fast_and_does_not_import_tensorflow():
    result = _help_without_tensorflow(["--help"])
    for text in ("examples:", "fer-zoo predict", "fer-zoo export", "--debug", "evaluate"):
        assert text in result.stdout


def test_subcommand_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "--tflite" in out


def test_list_and_info(tiny_model, capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert MODEL in out and "16x16x1" in out
    assert cli.main(["list", "--json"]) == 0
    assert MODEL in json.loads(capsys.readouterr().out)
    assert cli.main(["info", MODEL, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["class_names"] == list(_testing.EXPRESSIONS) and info["pretrained"]


def test_unknown_model_is_one_line_exit_2(tiny_model, capsys):
    assert cli.main(["info", "cli_test_tinyy"]) == 2
    err = _one_line_error(capsys)
    assert err.startswith("fer-zoo: error: Unknown model 'cli_test_tinyy'")
    assert MODEL in err  # lists what is available
    with pytest.raises(KeyError):  # --debug re-raises (UnknownModelError) with the traceback
        cli.main(["--debug", "info", "cli_test_tinyy"])


def test_missing_image_is_one_line_exit_1(tiny_model, capsys, tmp_path):
    assert cli.main(["predict", MODEL, str(tmp_path / "nope.jpg")]) == 1
    assert "nope.jpg" in _one_line_error(capsys)


def test_predict_json_and_annotate(tiny_model, face_png, tmp_path, capsys):
    assert cli.main(["predict", MODEL, str(face_png), "--json", "--annotate", str(tmp_path)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["source"] == str(face_png) and record["no_face"] is False
    (face,) = record["faces"]
    assert face["label"] in _testing.EXPRESSIONS
    assert face["score"] == pytest.approx(max(face["probabilities"].values()), abs=1e-6)
    annotated = cv2.imread(str(tmp_path / "face_annotated.png"))
    assert annotated is not None and annotated.shape == (96, 96, 3)
    assert cli.main(["predict", MODEL, str(face_png)]) == 0
    assert f"{face_png}: face 0 at" in capsys.readouterr().out


def test_export_command(tiny_model, tmp_path, capsys):
    assert cli.main(["export", MODEL, str(tmp_path), "--name", "served", "--version", "2"]) == 0
    assert (tmp_path / "served" / "2" / "saved_model.pb").exists()
    assert "saved_model:" in capsys.readouterr().out


def test_train_forwards_options_and_overrides(monkeypatch, tmp_path, capsys):
    import fer_zoo.recipes

    calls = []

    def fake_trainer(name):
        def train(**kwargs):
            calls.append((name, kwargs))
            return {"accuracy": 0.5}

        return train

    monkeypatch.setattr(fer_zoo.recipes, "get_trainer", fake_trainer)
    argv = ["train", "gasca2", "--data", "synthetic", "--out", str(tmp_path), "--config", "paper",
            "--precision", "mixed_float16", "--set", "epochs=2", "--set", "lr=1e-3",
            "--set", "tag=run one"]
    assert cli.main(argv) == 0
    assert calls == [("gasca2", {
        "data": "synthetic", "out_dir": str(tmp_path), "config": "paper",
        "precision": "mixed_float16", "strategy": "default", "epochs": 2, "lr": 0.001,
        "tag": "run one",
    })]
    assert json.loads(capsys.readouterr().out) == {"accuracy": 0.5}
    assert cli.main(["train", "gasca9", "--out", str(tmp_path)]) == 2
    assert "gasca2" in _one_line_error(capsys)
    assert cli.main(["train", "jpem", "--out", str(tmp_path), "--set", "novalue"]) == 2
    assert "key=value" in _one_line_error(capsys)


def test_evaluate_maps_classes_by_name_and_writes_confusion(tiny_model, monkeypatch, tmp_path,
                                                            capsys):
    import fer_zoo.data
    from fer_zoo.data.faceset import FaceSet

    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (40, 16, 16, 1)).astype(np.float32)
    # The data set lists the classes in reverse order: labels must be mapped by name.
    reversed_names = tuple(reversed(_testing.EXPRESSIONS))
    labels = rng.integers(0, 7, 40)
    identities = np.repeat(np.arange(10), 4)
    faceset = FaceSet(images, {"expression": labels, "identity": identities}, reversed_names, "toy")
    seen = {}

    def load_faceset(spec, **kwargs):
        seen.update(spec=spec, **kwargs)
        return faceset

    monkeypatch.setattr(fer_zoo.data, "load_faceset", load_faceset, raising=False)
    argv = ["evaluate", MODEL, "--data", "toy:spec", "--split", "test", "--out", str(tmp_path),
            "--json", "--set", 'poses=["S"]', "--set", "test_fraction=0.3"]
    assert cli.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert (seen["spec"], seen["image_size"], seen["channels"]) == ("toy:spec", 16, 1)
    assert seen["poses"] == ["S"] and "test_fraction" not in seen  # adapter vs split options

    from fer_zoo.data import split_indices

    test = split_indices(faceset, "test", test_fraction=0.3)
    assert 0 < len(test) < 40 and report["samples"] == len(test)
    predicted = tiny_model.predict(images[test], verbose=0).argmax(-1)
    truth = np.array([_testing.EXPRESSIONS.index(reversed_names[i]) for i in labels[test]])
    assert report["accuracy"] == pytest.approx(float(np.mean(predicted == truth)))
    assert np.asarray(report["confusion"]).sum() == len(test)
    assert np.trace(np.asarray(report["confusion"])) == int(np.sum(predicted == truth))
    assert cv2.imread(str(tmp_path / "confusion.png")) is not None
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] == report["accuracy"]


def test_demo_summary_is_short_and_failures_exit_1(monkeypatch, tmp_path, capsys):
    import fer_zoo.recipes

    calls = []

    def fake_demo(name):
        def demo(out_dir, smoke=False):
            calls.append((name, smoke))
            if name == "fesr":
                raise RuntimeError("boom")
            return {"figures": [f"{out_dir}/fig.png"], "metrics": {"accuracy": 0.91234567, **{f"m{i}": i for i in range(40)}},
                    "headline": {"done": f"trained {name}", "lines": ["SSIM 0.80 (copying the input: 0.40)"],
                                 "figures": [f"{out_dir}/fig.png"]}}

        return demo

    monkeypatch.setattr(fer_zoo.recipes, "get_demo", fake_demo)
    assert cli.main(["demo", "--recipes", "gasca,jpem", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    block = captured.out.split("\ngasca\n")[1].split("\n\n")[0].splitlines()
    assert block[0].startswith("  trained gasca (") and block[1] == "  SSIM 0.80 (copying the input: 0.40)"
    assert block[2] == f"  figure: {tmp_path}/gasca/fig.png" and len(block) == 3  # at most ~6 lines a recipe
    assert "m39" not in captured.out  # the rest goes to the json
    assert "[1/2] gasca: running" in captured.err and "[2/2] jpem: done in" in captured.err
    summary = json.loads((tmp_path / "jpem" / "demo_summary.json").read_text())
    assert summary["metrics"]["metrics.accuracy"] == 0.9123 and summary["metrics"]["metrics.m39"] == 39
    assert summary["figures"] == [f"{tmp_path}/jpem/fig.png"] and summary["smoke"] is False
    assert calls == [("gasca", False), ("jpem", False)]
    assert cli.main(["demo", "--recipes", "gasca,fesr", "--out", str(tmp_path), "--smoke"]) == 1
    captured = capsys.readouterr()
    assert "FAILED: RuntimeError: boom" in captured.out
    assert captured.err.strip().splitlines()[-1] == "fer-zoo: error: demo failed for: fesr"
    assert calls[-1] == ("fesr", True)
    monkeypatch.setenv("FER_ZOO_DEMO_SMOKE", "1")
    assert cli.main(["demo", "--recipes", "jpem", "--out", str(tmp_path)]) == 0
    assert calls[-1] == ("jpem", True)
    assert cli.main(["demo", "--recipes", "nope"]) == 2


def test_demo_runs_the_shipped_presets_by_default_and_trains_only_when_asked(monkeypatch, tmp_path, capsys):
    import fer_zoo.recipes

    calls = []
    monkeypatch.setattr(fer_zoo.recipes, "get_demo",
                        lambda name: lambda out_dir, smoke=False: calls.append(name) or {})
    assert cli.main(["demo", "--out", str(tmp_path)]) == 0
    shipped = [n for n in fer_zoo.recipes.DEMOS if n not in fer_zoo.recipes.TRAINING_DEMOS]
    assert calls == shipped and "jpem-generator" in shipped
    assert "--train" in capsys.readouterr().out
    calls.clear()
    assert cli.main(["demo", "--train", "--out", str(tmp_path)]) == 0
    assert calls == list(fer_zoo.recipes.DEMOS)


def test_data_preview_forwards(monkeypatch, tmp_path, capsys):
    calls = []
    fake = types.ModuleType("fer_zoo.data.preview")
    fake.preview = lambda spec, out_path, **kw: calls.append((spec, out_path, kw)) or out_path
    monkeypatch.setitem(sys.modules, "fer_zoo.data.preview", fake)
    out = str(tmp_path / "p.png")
    assert cli.main(["data", "preview", "synthetic", "--out", out, "--set", "rows=3"]) == 0
    assert calls == [("synthetic", out, {"rows": 3})]
    assert capsys.readouterr().out.strip() == out


def test_predict_reports_a_bad_file_and_classifies_the_others(tiny_model, face_png, tmp_path,
                                                              capsys):
    other = tmp_path / "other.png"
    other.write_bytes(face_png.read_bytes())
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    files = [str(face_png), str(bad), str(other)]
    annotated = tmp_path / "annotated"
    assert cli.main(["predict", MODEL, *files, "--json", "--annotate", str(annotated)]) == 1
    captured = capsys.readouterr()
    records = json.loads(captured.out)
    assert [r["source"] for r in records] == files
    assert "bad.jpg" in records[1]["error"] and records[1]["faces"] == []
    for record in (records[0], records[2]):
        assert "error" not in record and len(record["faces"]) == 1
        assert record["faces"][0]["label"] in _testing.EXPRESSIONS
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("fer-zoo: 1 of 3 images failed: ") and f"{bad} (" in err
    assert sorted(p.name for p in annotated.iterdir()) == ["face_annotated.png", "other_annotated.png"]

    # Text output: a line for every file, the bad one saying why.
    assert cli.main(["predict", MODEL, *files]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"{bad}: error: ") and "decode" in lines[1].lower()
    assert lines[0].startswith(f"{face_png}: face 0 at") and lines[2].startswith(f"{other}: face 0")

    # --strict: stops at the first bad file with today's one-line error.
    assert cli.main(["predict", MODEL, *files, "--json", "--strict"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("fer-zoo: error: ") and "bad.jpg" in err


def test_predict_classifies_a_small_crop_whole(tiny_model, face_png, tmp_path, capsys):
    crop = cv2.imread(str(face_png))[24:72, 24:72]  # too tight for the detector: no face found
    path = tmp_path / "crop.png"
    cv2.imwrite(str(path), crop)
    assert cli.main(["predict", MODEL, str(path), "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["no_face"] is False
    assert record["faces"][0]["cropped"] is True and record["faces"][0]["box"] == [0, 0, 48, 48]
    assert cli.main(["predict", MODEL, str(face_png), "--json", "--cropped"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["faces"][0]["cropped"] is True and record["faces"][0]["box"] == [0, 0, 96, 96]


def test_evaluate_skips_bad_files_and_exits_1_unless_strict(tiny_model, monkeypatch, capsys):
    import fer_zoo.data
    from fer_zoo.data.faceset import FaceSet

    rng = np.random.default_rng(1)
    faceset = FaceSet(rng.uniform(-1, 1, (8, 16, 16, 1)).astype(np.float32),
                      {"expression": rng.integers(0, 7, 8)}, _testing.EXPRESSIONS, "toy")
    faceset.report = {"bad": [("/data/broken.jpg", "Cannot decode image file: /data/broken.jpg")]}
    seen = []

    def load_faceset(spec, **kwargs):
        seen.append(kwargs.get("skip_bad"))
        if kwargs.get("skip_bad") is False:
            raise ValueError("Cannot decode image file: /data/broken.jpg")
        return faceset

    monkeypatch.setattr(fer_zoo.data, "load_faceset", load_faceset, raising=False)
    assert cli.main(["evaluate", MODEL, "--data", "folder:/data", "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["samples"] == 8 and report["bad_files"][0]["path"] == "/data/broken.jpg"
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "/data/broken.jpg" in err
    assert cli.main(["evaluate", MODEL, "--data", "folder:/data", "--strict"]) == 1
    assert "broken.jpg" in _one_line_error(capsys)
    assert seen == [True, False]
    # Adapters without skip_bad (synthetic, .npz) get no such option; a clean run exits 0.
    faceset.report = {"bad": []}
    assert cli.main(["evaluate", MODEL, "--data", "synthetic", "--json"]) == 0
    assert seen[-1] is None and json.loads(capsys.readouterr().out)["bad_files"] == []


@pytest.fixture(scope="module")
def tiny_generators(tmp_path_factory):
    """Tiny generator presets with the JPEM and FESR-decoder layouts (fer_zoo.zoo.synthesizer_test)."""
    import contextlib

    from fer_zoo.zoo.synthesizer_test import registered_tiny_generator

    with contextlib.ExitStack() as stack:
        for i, kind in enumerate(("jpem", "fesr_decoder")):
            stack.enter_context(registered_tiny_generator(
                f"cli_test_{kind}", tmp_path_factory.mktemp(kind), kind=kind, seed=i))
        yield {"jpem": "cli_test_jpem", "fesr_decoder": "cli_test_fesr_decoder"}


def test_synthesize_writes_a_png_per_input_and_a_grid(tiny_generators, face_png, tmp_path, capsys):
    jpem, decoder = tiny_generators["jpem"], tiny_generators["fesr_decoder"]
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 260, 3), 128, np.uint8))
    out = tmp_path / "out"
    # A photo without a face is reported on one line (exit 1); the others are written.
    assert cli.main(["synthesize", jpem, str(face_png), str(blank), "--out", str(out),
                     "--expression", "happy", "--yaw", "45", "--grid", "--cell", "20"]) == 1
    captured = capsys.readouterr()
    assert "face_synth.png" in captured.out
    assert len(captured.err.strip().splitlines()) == 1 and "blank.png" in captured.err
    written = cv2.imread(str(out / "face_synth.png"), cv2.IMREAD_UNCHANGED)
    assert written.shape == (16, 16) and written.dtype == np.uint8
    grid = cv2.imread(str(out / "grid.png"))
    assert grid.shape == (16 + 20, 14 * 20 + 3 * 6, 3)  # input | output | 7 expressions | 5 yaws
    assert cli.main(["synthesize", jpem, str(face_png), "--out", str(out), "--expression", "sad"]) == 0
    assert not np.array_equal(cv2.imread(str(out / "face_synth.png"), cv2.IMREAD_UNCHANGED), written)
    capsys.readouterr()

    # A control the model does not take: one line naming the ones it does, exit 2.
    assert cli.main(["synthesize", jpem, str(face_png), "--out", str(out),
                     "--intensity", "0.5"]) == 2
    err = _one_line_error(capsys)
    assert "--intensity" in err and "--expression, --yaw" in err
    assert cli.main(["synthesize", jpem, str(face_png), "--out", str(out),
                     "--expression", "joy"]) == 1
    assert "angry, disgust" in _one_line_error(capsys)

    # A decoder without encoder renders --sample new identities and refuses photos.
    samples = tmp_path / "samples"
    assert cli.main(["synthesize", decoder, "--sample", "3", "--seed", "1", "--expression",
                     "surprise", "--intensity", "0.5", "--out", str(samples), "--grid"]) == 0
    assert sorted(p.name for p in samples.iterdir()) == [
        "grid.png", "sample_0_synth.png", "sample_1_synth.png", "sample_2_synth.png"]
    capsys.readouterr()
    assert cli.main(["synthesize", decoder, str(face_png), "--out", str(samples)]) == 2
    assert "cannot edit a given face" in _one_line_error(capsys)


def test_synthesize_help_does_not_import_tensorflow():
    result = _help_without_tensorflow(["synthesize", "--help"])
    assert "--expression-from" in result.stdout and "example:" in result.stdout
