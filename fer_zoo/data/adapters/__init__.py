"""Data set adapters: each turns a data set's own folder layout into a `FaceSet`.

Every loader takes `(root, image_size=..., channels=..., ...)` and returns a
`fer_zoo.data.faceset.FaceSet` with images in [-1, 1], labels mapped onto `EXPRESSIONS` and
a `report` attribute (`bad` unreadable files when `skip_bad=True`, `missing`, `methods`).
See each module's docstring for the exact layout it expects.
"""

from fer_zoo.data.adapters.affectnet import load_affectnet
from fer_zoo.data.adapters.bu3dfe import load_bu3dfe
from fer_zoo.data.adapters.ckplus import load_ckplus
from fer_zoo.data.adapters.common import LayoutError
from fer_zoo.data.adapters.fer2013 import load_fer2013
from fer_zoo.data.adapters.generic import load_csv, load_folder
from fer_zoo.data.adapters.jaffe import load_jaffe
from fer_zoo.data.adapters.kdef import load_kdef
from fer_zoo.data.adapters.multipie import load_multipie
from fer_zoo.data.adapters.oulu import load_oulu_casia
from fer_zoo.data.adapters.rafdb import load_rafdb
from fer_zoo.data.adapters.sfew import load_sfew

# Spec prefix -> loader (used by `fer_zoo.data.load_faceset("<prefix>:<path>")`).
ADAPTERS = {
    "kdef": load_kdef,
    "akdef": load_kdef,
    "multipie": load_multipie,
    "ckplus": load_ckplus,
    "oulu": load_oulu_casia,
    "jaffe": load_jaffe,
    "bu3dfe": load_bu3dfe,
    "sfew": load_sfew,
    "fer2013": load_fer2013,
    "rafdb": load_rafdb,
    "affectnet": load_affectnet,
    "folder": load_folder,
    "csv": load_csv,
}

__all__ = ["ADAPTERS", "LayoutError"] + sorted({f.__name__ for f in ADAPTERS.values()})
