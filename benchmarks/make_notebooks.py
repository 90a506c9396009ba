"""Writes the Colab-ready notebooks in notebooks/ (run `python -m benchmarks.make_notebooks`).

Each notebook: an install cell (only acts on Colab), a `parameters` cell (papermill tag) whose
`FER_ZOO_NOTEBOOK_SMOKE=1` branch is the seconds-long setting CI executes
(tests/test_notebooks.py), then the walkthrough. Outputs are not stored.
"""

import pathlib
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO_URL = "git+https://github.com/fer-zoo/fer_zoo"
NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"

INSTALL = f'''import sys

if "google.colab" in sys.modules:  # on Colab: install fer_zoo (elsewhere it is assumed installed)
    %pip install -q "fer_zoo @ {REPO_URL}"'''

SETUP = '''import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from IPython.display import Image as ShowImage
from IPython.display import display'''


def colab_badge(name):
    url = f"https://colab.research.google.com/github/fer-zoo/fer_zoo/blob/main/notebooks/{name}.ipynb"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def parameters(body):
    cell = new_code_cell(body)
    cell.metadata["tags"] = ["parameters"]
    return cell


def notebook(name, title, intro, params, cells):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["colab"] = {"provenance": []}
    nb.cells = [
        new_markdown_cell(f"# {title}\n\n{colab_badge(name)}\n\n{intro}"),
        new_code_cell(INSTALL),
        new_markdown_cell("Parameters (papermill `parameters` cell). `FER_ZOO_NOTEBOOK_SMOKE=1` selects the "
                          "seconds-long setting that CI executes; the default is the real (minutes) setting."),
        parameters(params),
        new_code_cell(SETUP),
    ]
    for cell in cells:
        if isinstance(cell, tuple):
            nb.cells.append(new_markdown_cell(cell[1]))
        else:
            nb.cells.append(new_code_cell(cell))
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating an unchanged notebook changes nothing
        cell["id"] = f"{name}-{i:02d}"
    return nb


def md(text):
    return ("md", text)


PHOTO_HELPER = '''import numpy as np
from fer_zoo.data.synthfer import SynthFER


def synthfer_photo(identity, expression, seed=0, size=(240, 320), face_size=128):
    """A licence-free "photo": a frontal SynthFER face pasted on a textured background (uint8 RGB)."""
    rng = np.random.default_rng(seed + identity)
    face = SynthFER(image_size=face_size, channels=3, seed=seed).render(identity=identity, expression=expression)
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    canvas = 0.25 + 0.3 * xx / size[1] + 0.15 * yy / size[0]
    canvas = np.clip(canvas[..., None] + rng.normal(0, 0.04, (*size, 3)), 0, 1)
    top, left = rng.integers(0, size[0] - face_size), rng.integers(0, size[1] - face_size)
    canvas[top:top + face_size, left:left + face_size] = (face + 1) / 2
    return (canvas * 255).astype(np.uint8)'''


SHIPPED_FACES = '''import numpy as np
from PIL import Image

import fer_zoo
from fer_zoo.data.synthfer import SynthFER
from fer_zoo.zoo.synthesizer import to_uint8  # [-1, 1] renders -> uint8, no range guessing

# SynthFER seed 1: people the shipped presets never saw (they were trained on seed 0)
renderer = SynthFER(image_size=64, channels=1, seed=1)


def show(grid, name):
    path = pathlib.Path(OUT_DIR) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    display(ShowImage(filename=str(path)))'''


def shipped(preset, what, code):
    """Cells that run the recipe's shipped SynthFER preset before any training."""
    return [
        md(f"## The shipped generator first (no training)\n`{preset}` {what} Its card gives the "
           "gate it passed (or not) on held-out identities; the training below is a short demo run, "
           "far smaller than the preset's."),
        SHIPPED_FACES,
        code,
    ]


QUICKSTART = notebook(
    "00_quickstart",
    "fer_zoo quickstart: load a model, recognise expressions in photos, export for serving",
    "Loads a zoo classifier, runs face detection + alignment + expression recognition on "
    "SynthFER \"photos\" (licence-free synthetic faces composited on a background), draws the "
    "result, and exports a TF Serving SavedModel (and a TFLite file).",
    '''import os

SMOKE = os.environ.get("FER_ZOO_NOTEBOOK_SMOKE") == "1"
OUT_DIR = os.environ.get("FER_ZOO_NOTEBOOK_OUT", "runs/notebooks/00_quickstart")
PRESET = "gasca2"          # any name from fer_zoo.list_models(task="classification")
N_PHOTOS = 2 if SMOKE else 6
EXPORT_TFLITE = not SMOKE''',
    [
        md("## The zoo\nEvery preset carries its metadata (input size, channels, class names, preprocessing, "
           "training data, licence)."),
        '''import fer_zoo

print(fer_zoo.list_models())
classifiers = fer_zoo.list_models(task="classification")
name = PRESET if PRESET in classifiers else classifiers[0]
info = fer_zoo.model_info(name)
print(name, info.get("metadata", info).get("description"))''',
        md("## Load it\nPretrained weights are SHA-256 verified. A preset whose weights are not published yet "
           "is loaded with random weights here (its predictions are then meaningless, the pipeline is the same)."),
        '''from fer_zoo.zoo.loading import WeightsError

try:
    model = fer_zoo.load(name)
except WeightsError as error:
    print("No pretrained weights:", error)
    model = fer_zoo.load(name, weights=None)
model.fer_zoo_metadata["class_names"], model.fer_zoo_metadata["input_size"]''',
        md("## Photos\nSynthFER faces with known expressions, pasted at random places on a background."),
        PHOTO_HELPER,
        '''expressions = ["happy", "surprise", "sad", "angry", "neutral", "fear"][:N_PHOTOS]
photos = [synthfer_photo(i, e) for i, e in enumerate(expressions)]
len(photos), photos[0].shape''',
        md("## Detect, align, classify\n`Recognizer` finds every face (OpenCV), aligns it as the model was "
           "trained, and classifies all faces of all photos in one batched call."),
        '''from PIL import Image

recognizer = fer_zoo.Recognizer(model)
results = recognizer.predict(photos)
for truth, result in zip(expressions, results):
    print(truth, [(face.label, round(face.score, 2), face.box) for face in result.faces])
annotated = recognizer.annotate(photos[0], results[0])
out = pathlib.Path(OUT_DIR)
out.mkdir(parents=True, exist_ok=True)
Image.fromarray(annotated).save(out / "annotated.png")
display(ShowImage(filename=str(out / "annotated.png")))''',
        md("## Export for TF Serving / TFLite\nThe SavedModel takes encoded image bytes (`serving_default`) or "
           "pixel arrays (`predict_images`); resizing and scaling happen inside the graph."),
        '''import cv2
import tensorflow as tf

paths = fer_zoo.export(model, out / "serving", name=name, tflite=EXPORT_TFLITE, overwrite=True)
print(paths)
served = tf.saved_model.load(paths["saved_model"])
face = results[0].faces[0].box if results[0].faces else (0, 0, 128, 128)
x, y, w, h = face
crop = cv2.imencode(".png", cv2.cvtColor(photos[0][y:y + h, x:x + w], cv2.COLOR_RGB2BGR))[1].tobytes()
answer = served.signatures["serving_default"](image_bytes=tf.constant([crop]))
print(answer["classes"].numpy(), answer["probabilities"].numpy().round(2))''',
    ],
)


GASCA = notebook(
    "01_gasca",
    "GASCA: pose + illumination normalisation with stacked adversarial autoencoders",
    "Trains GASCA2 (Ruiz-Garcia et al., IJCNN 2020) on SynthFER: four greedy layer-wise "
    "adversarial autoencoder stages (Algorithm 1), fine-tuning of the stacks, then the CNN2a "
    "classifier initialised from the encoder. Shows the Fig. 3-style frontalisation figure, "
    "the per-pose accuracy and the confusion matrix, and exports the classifier.",
    '''import os

SMOKE = os.environ.get("FER_ZOO_NOTEBOOK_SMOKE") == "1"
OUT_DIR = os.environ.get("FER_ZOO_NOTEBOOK_OUT", "runs/notebooks/01_gasca")
if SMOKE:  # seconds: tiny networks, 4 identities, 1 epoch per stage, no stack fine-tuning
    OVERRIDES = {"gan_epochs": 1, "finetune_epochs": 0, "classifier_epochs": 1, "batch_size": 32,
                 "synthetic": {"identities": 4, "yaws": (-30, 0, 30)},
                 "model": {"filters": (4, 8, 8, 8), "shifting_units": 16}, "light_copies": 1, "verbose": 0}
else:      # the demo setting: a few CPU minutes
    OVERRIDES = {"gan_epochs": 2, "finetune_epochs": 1, "classifier_epochs": 3,
                 "synthetic": {"identities": 10}, "verbose": 0}''',
    [
        *shipped("gasca2-normalizer-synthfer", "turns a face seen from up to 60 degrees, under harsh light, "
                 "into the frontal, evenly lit face of the same person and expression.",
                 '''rng = np.random.default_rng(0)
requests = [("happy", 45.0), ("sad", -30.0), ("surprise", 30.0), ("angry", -45.0)]
faces = np.stack([renderer.render(identity=i, expression=e, yaw=y, light=renderer.sample_light(rng, harsh=True))
                  for i, (e, y) in enumerate(requests)])
normalizer = fer_zoo.Synthesizer("gasca2-normalizer-synthfer")
show(normalizer.grid(to_uint8(faces), cropped=True), "shipped_normalizer.png")  # rows: input | output'''),
        md("## Train (Algorithm 1 + classifier)\nEvery stage is resumable: re-running the cell skips finished "
           "stages."),
        '''from fer_zoo.recipes.gasca import train as gasca

out = pathlib.Path(OUT_DIR)
summary = gasca.train("synthetic", out_dir=out / "run", config="small", variant="gasca2", **OVERRIDES)
print("reconstruction MAE per input yaw:", summary.get("reconstruction"))
print("classifier accuracy (held-out identities):", summary["classifier"]["accuracy"])
print("per yaw:", summary["classifier"]["per_yaw"])''',
        md("## Fig. 3: inputs at +60..0 degrees under harsh light, and their frontal reconstructions"),
        '''from fer_zoo.recipes.gasca.figures import confusion_plot, figure3
from fer_zoo.recipes.gasca.models import GASCANetworks

cfg = gasca.resolve_config("small", **OVERRIDES)
nets = GASCANetworks(**cfg["model"])
generator = nets.stacked_generator()
generator.load_weights(summary["normalizer_weights"])
display(ShowImage(filename=str(figure3(generator, out / "gasca_fig3.png", cfg, harsh=True))))
report = summary["classifier"]
display(ShowImage(filename=str(confusion_plot(report["confusion"], report["class_names"], out / "confusion.png"))))''',
        md("## Export the expression classifier (CNN2a) for TF Serving"),
        '''import fer_zoo

classifier = nets.classifier("cnn2a")
classifier.load_weights(summary["classifier_weights"])
print(fer_zoo.export(classifier, out / "serving", name="my_gasca2", overwrite=True))''',
    ],
)


JPEM = notebook(
    "02_jpem",
    "JPEM: joint pose and expression modeling",
    "Trains JPEM (Zhang et al., CVPR 2018) on SynthFER: the conditional adversarial "
    "autoencoder (G_enc, G_dec, D_att, D_i) jointly with the expression classifier C_exp, then "
    "C_exp on real + generated faces. Shows the Fig. 6-style expression x pose grid of an unseen "
    "identity next to the exact SynthFER renders, and exports the classifier.",
    '''import os

SMOKE = os.environ.get("FER_ZOO_NOTEBOOK_SMOKE") == "1"
OUT_DIR = os.environ.get("FER_ZOO_NOTEBOOK_OUT", "runs/notebooks/02_jpem")
YAWS = (-30.0, 0.0, 30.0)
if SMOKE:
    OVERRIDES = {"gan_epochs": 1, "classifier_epochs": 1, "batch_size": 16,
                 "synthetic": {"identities": 4, "yaws": YAWS, "seed": 0}, "verbose": 0}
    GENERATED_RATIO = []   # no C_exp-on-generated stage
else:
    OVERRIDES = {"gan_epochs": 25, "classifier_epochs": 5,
                 "synthetic": {"identities": 12, "yaws": YAWS, "seed": 0}, "verbose": 0}
    GENERATED_RATIO = [0, 5]''',
    [
        *shipped("jpem-generator-synthfer", "gives a neutral frontal face any expression, turned to "
                 "-45, 0 or +45 degrees.",
                 '''faces = np.stack([renderer.render(identity=i) for i in range(2)])   # neutral, frontal
generator = fer_zoo.Synthesizer("jpem-generator-synthfer")
# rows: input | output (happy, frontal) | the seven expressions (frontal) | happy at the three yaws
show(generator.grid(to_uint8(faces), cropped=True, expression="happy", yaw=0.0), "shipped_jpem.png")'''),
        md("## Train the GAN stage and the classifiers"),
        '''from fer_zoo.recipes.jpem import train as jpem

out = pathlib.Path(OUT_DIR)
summary = jpem.train("synthetic", out_dir=out / "run", config="small", generated_ratio=GENERATED_RATIO, **OVERRIDES)
metrics = summary["metrics"]
print("joint C_exp per pose:", metrics["joint_classifier"]["per_pose"])
for ratio, result in metrics["classifier"].items():
    print(f"C_exp with {ratio} generated faces:", result["per_pose"])''',
        md("## Fig. 6: one unseen face rendered at every expression x pose (with the exact renders)"),
        '''import keras

from fer_zoo.data import EXPRESSIONS
from fer_zoo.recipes.jpem import figures

generator = keras.saving.load_model(summary["artifacts"]["generator"], safe_mode=True)
grids = figures.grid_evidence(generator, summary["test_identities"][:1], list(YAWS),
                              image_size=summary["config"]["image_size"])
g = grids[0]
path = figures.expression_pose_grid(out / "jpem_grid.png", g["input"], g["generated"], g["truth"], EXPRESSIONS,
                                    [f"{y:g}" for y in YAWS], g["l1"], g["ssim"])
display(ShowImage(filename=str(path)))
series = {"joint": metrics["joint_classifier"]["per_pose"], **{k: v["per_pose"] for k, v in metrics["classifier"].items()}}
display(ShowImage(filename=str(figures.accuracy_bars(out / "jpem_accuracy.png", series))))''',
        md("## Export the classifier"),
        '''import fer_zoo

best = summary["artifacts"].get("classifier_5N") or summary["artifacts"]["joint_classifier"]
classifier = keras.saving.load_model(best, safe_mode=True)
print(fer_zoo.export(classifier, out / "serving", name="my_jpem", overwrite=True))''',
    ],
)


FESR = notebook(
    "03_fesr",
    "FESR: joint facial expression synthesis and recognition",
    "Trains FESR (Yan et al., IEEE TMM 2020) on SynthFER: the identity network (a Light CNN "
    "fallback trained on the training identities), FESGAN pre-training, then the joint stage "
    "where the recogniser R learns from real and generated faces (RDBP). Shows the Fig. 6/7-style "
    "intensity sweep and random faces, and exports the recogniser.",
    '''import os

SMOKE = os.environ.get("FER_ZOO_NOTEBOOK_SMOKE") == "1"
OUT_DIR = os.environ.get("FER_ZOO_NOTEBOOK_OUT", "runs/notebooks/03_fesr")
COMMON = {"image_size": 32, "synthetic_intensities": (1.0,), "light_cnn_widths": (8, 16, 24, 16, 16),
          "light_cnn_blocks": (1, 1, 1, 1), "embedding_dim": 64}
if SMOKE:
    OVERRIDES = {**COMMON, "synthetic_identities": 6, "identity_epochs": 1, "pretrain_epochs": 1,
                 "joint_epochs": 1, "steps_per_epoch": 2, "embedding_dim": 32}
else:
    OVERRIDES = {**COMMON, "synthetic_identities": 16, "identity_epochs": 3, "pretrain_epochs": 6,
                 "joint_epochs": 1}''',
    [
        *shipped("fesr-generator-synthfer", "sets an expression on a given face at a continuous "
                 "intensity in [0, 1].",
                 '''faces = np.stack([renderer.render(identity=i) for i in range(2)])   # neutral, frontal
editor = fer_zoo.Synthesizer("fesr-generator-synthfer")
# rows: input | output (surprise at 0.6) | the seven expressions | surprise at intensity 0 .. 1
show(editor.grid(to_uint8(faces), cropped=True, expression="surprise", intensity=0.6), "shipped_fesr.png")'''),
        md("## Train (Algorithm 1)"),
        '''from fer_zoo.recipes.fesr import train as fesr

out = pathlib.Path(OUT_DIR)
summary, recipe = fesr.run(data="synthetic", out_dir=out / "run", config="small", variant="JL", verbose=0,
                           **OVERRIDES)
print("accuracy on held-out identities:", summary["accuracy"])
print("synthesis PSNR / SSIM:", summary["synthesis"])''',
        md("## Fig. 6 / Fig. 7: intensity sweep of a held-out face, and faces decoded from random codes"),
        '''from fer_zoo.recipes.fesr import figures

sweep = figures.intensity_sweep_figure(recipe, out / "fesr_intensity_sweep.png",
                                       identity=summary["test_identities"][0])
display(ShowImage(filename=str(sweep["path"])))
display(ShowImage(filename=str(figures.random_faces_figure(recipe, out / "fesr_random_faces.png"))))''',
        md("## Export the recogniser"),
        '''import fer_zoo
import keras

artifacts = summary.get("artifacts", summary)  # paths of the saved recogniser / generator
recognizer = keras.saving.load_model(artifacts["recognizer"], safe_mode=True)
print(fer_zoo.export(recognizer, out / "serving", name="my_fesr", overwrite=True))''',
    ],
)


RELGAN = notebook(
    "04_relgan",
    "REL-GAN: reenactment-based expression representation learning",
    "Trains REL-GAN on SynthFER triplets: the reenactment GAN transfers the expression of a "
    "source face onto a target identity; its expression encoder, frozen, feeds an MLP "
    "classifier. Shows the Fig. 3-style reenactment grid (with the exact renders) and linear "
    "probes of the expression / identity codes, and exports the classifier.",
    '''import os

SMOKE = os.environ.get("FER_ZOO_NOTEBOOK_SMOKE") == "1"
OUT_DIR = os.environ.get("FER_ZOO_NOTEBOOK_OUT", "runs/notebooks/04_relgan")
if SMOKE:  # seconds: 8 identities, one pairing, one epoch per stage
    OVERRIDES = {"gan_epochs": 1, "mlp_epochs": 1, "triplet_seeds": 1, "adversarial_warmup_steps": 0,
                 "synthetic": {"identities": 8, "yaws": (0,), "intensities": (1.0,)}, "test_fraction": 0.25}
else:      # the recipe's demo setting (a few CPU minutes)
    OVERRIDES = {}''',
    [
        *shipped("relgan-generator-synthfer", "puts the expression of a source face on a target person.",
                 '''targets = np.stack([renderer.render(identity=i) for i in range(4)])   # neutral
sources = np.stack([renderer.render(identity=10 + i, expression=e)
                    for i, e in enumerate(["happy", "surprise", "sad", "angry"])])
reenactor = fer_zoo.Synthesizer("relgan-generator-synthfer")
# rows: target | source | output (the target with the source's expression)
show(reenactor.grid(to_uint8(targets), expression_from=to_uint8(sources), cropped=True), "shipped_relgan.png")'''),
        md("## Train (reenactment GAN, then the MLP on the frozen expression encoder) and draw the figures\n"
           "`demo` runs `train` on SynthFER with the recipe's demo settings (updated by `OVERRIDES`) and "
           "writes the paper-style figures."),
        '''from fer_zoo.recipes.relgan import train as relgan

out = pathlib.Path(OUT_DIR)
result = relgan.demo(out, **OVERRIDES)
print({k: round(v, 3) for k, v in result["metrics"].items() if isinstance(v, float)})''',
        md("## Fig. 3: held-out sources reenacted onto target identities, next to the exact renders; "
           "linear probes of the expression code f(e) and identity code f(i)"),
        '''display(ShowImage(filename=str(result["paths"]["reenactment_grid"])))
display(ShowImage(filename=str(result["paths"]["probes"])))''',
        md("## Export the expression classifier (frozen G_es + MLP)"),
        '''import fer_zoo
import keras

classifier = keras.saving.load_model(pathlib.Path(result["paths"]["run"]) / "relgan_classifier.keras", safe_mode=True)
print(fer_zoo.export(classifier, out / "serving", name="my_relgan", overwrite=True))''',
    ],
)


BYOD = notebook(
    "05_bring_your_own_data",
    "Bring your own data: folders or a CSV, a subject-independent split, train, evaluate",
    "Your images as `<root>/<expression>/*.png` folders or a CSV of `path,expression,identity`. "
    "Here the \"own data\" is written from SynthFER so the notebook runs anywhere; point "
    "`DATA_SPEC` at your folder (`folder:/path`) or CSV (`csv:/path/labels.csv`) instead.",
    '''import os

SMOKE = os.environ.get("FER_ZOO_NOTEBOOK_SMOKE") == "1"
OUT_DIR = os.environ.get("FER_ZOO_NOTEBOOK_OUT", "runs/notebooks/05_bring_your_own_data")
IDENTITIES = 6 if SMOKE else 20
IMAGE_SIZE = 32 if SMOKE else 48
EPOCHS = 2 if SMOKE else 30
DATA_SPEC = None   # e.g. "folder:/data/my_faces" or "csv:/data/my_faces/labels.csv"; None = write a demo set''',
    [
        md("## A data set on disk (skip when you have your own)\nFolders by expression and a CSV that also "
           "carries the identity of each face (needed for a subject-independent split)."),
        '''import csv

import numpy as np
from PIL import Image

from fer_zoo.data import EXPRESSIONS
from fer_zoo.data.synthfer import SynthFER

out = pathlib.Path(OUT_DIR)
root = out / "my_faces"
if DATA_SPEC is None:
    renderer = SynthFER(image_size=64, channels=3, seed=0)
    rows = []
    for identity in range(IDENTITIES):
        for e, expression in enumerate(EXPRESSIONS):
            for yaw in (-20.0, 0.0, 20.0):
                face = renderer.render(identity=identity, expression=expression, yaw=yaw)
                path = root / expression / f"person{identity:02d}_{int(yaw):+d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(((face + 1) * 127.5).round().astype(np.uint8)).save(path)
                rows.append({"path": str(path.relative_to(root)), "expression": expression,
                             "identity": f"person{identity:02d}", "yaw": yaw})
    with open(root / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    DATA_SPEC = f"csv:{root / 'labels.csv'}"
print(DATA_SPEC)''',
        md("## Load: the adapter returns a `FaceSet` (images in [-1, 1], label arrays)"),
        '''import fer_zoo.data as data

faces = data.load_faceset(DATA_SPEC, image_size=IMAGE_SIZE, channels=1)
print(faces.name, faces.images.shape, sorted(faces.labels))
folder_faces = data.load_faceset(f"folder:{root}", image_size=IMAGE_SIZE, channels=1) if root.exists() else None
print("same images through the folder adapter:", None if folder_faces is None else len(folder_faces))''',
        md("## Subject-independent split: no person is in both training and test"),
        '''from fer_zoo.data.protocols import subject_split

split = subject_split(faces, test_fraction=0.25, seed=0)
train, test = faces.subset(split["train"]), faces.subset(split["test"])
assert not set(train.labels["identity"]) & set(test.labels["identity"])
len(train), len(test)''',
        md("## Train a classifier on it, evaluate per expression on unseen people\n"
           "(The recipes train on the same `FaceSet`: e.g. `fer_zoo.recipes.relgan.train.train(data=faces)` "
           "or `fer-zoo train relgan --data csv:/path/labels.csv`.)"),
        '''import keras

keras.utils.set_random_seed(0)
inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1))
x = inputs
for filters in (16, 32, 64):
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
x = keras.layers.GlobalAveragePooling2D()(x)
outputs = keras.layers.Dense(len(EXPRESSIONS), activation="softmax")(x)
model = keras.Model(inputs, outputs, name="my_classifier")
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(train.images, train.labels["expression"], epochs=EPOCHS, batch_size=32, verbose=0,
                    validation_data=(test.images, test.labels["expression"]))
predicted = model.predict(test.images, verbose=0).argmax(-1)
truth = test.labels["expression"]
print("test accuracy (unseen people):", float((predicted == truth).mean()))
for k, name in enumerate(EXPRESSIONS):
    print(f"{name:9s}", float((predicted[truth == k] == k).mean()))''',
        md("## Export it like any zoo model"),
        '''import fer_zoo

print(fer_zoo.export(model, out / "serving", name="my_classifier", overwrite=True))''',
    ],
)


ALL = {
    "00_quickstart": QUICKSTART,
    "01_gasca": GASCA,
    "02_jpem": JPEM,
    "03_fesr": FESR,
    "04_relgan": RELGAN,
    "05_bring_your_own_data": BYOD,
}


def main(argv=None):
    NOTEBOOKS.mkdir(exist_ok=True)
    names = (argv if argv is not None else sys.argv[1:]) or list(ALL)
    for name in names:
        nb = ALL[name]
        nbformat.validate(nb)
        path = NOTEBOOKS / f"{name}.ipynb"
        nbformat.write(nb, str(path))
        print(path)


if __name__ == "__main__":
    main()
