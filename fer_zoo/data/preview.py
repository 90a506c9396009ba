"""Sample sheets: a PNG grid of faces from a `FaceSet` or data spec (`fer-zoo data preview`)."""

import logging
import pathlib

import cv2
import numpy as np

from fer_zoo.data.preprocessing import from_model_range

logger = logging.getLogger("fer_zoo.data")

# Label keys that identify "the same face" across the rows of a sheet.
_COLUMN_KEYS = ("identity", "session", "expression", "intensity", "illumination")


def _to_uint8(face, cell):
    image = from_model_range(face)
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.shape[0] != cell:
        interp = cv2.INTER_NEAREST if image.shape[0] < cell else cv2.INTER_AREA
        image = cv2.resize(image, (cell, cell), interpolation=interp)
    return image


def sample_sheet(
    faceset, path, rows_by="yaw", columns=10, cell=None, seed=0, max_rows=12, title=None
):
    """Writes a PNG grid of faces and returns its path.

    With `rows_by` (a label with at most `max_rows` distinct known values, e.g. "yaw"), each row
    shows one value and each column one face (same identity/session/expression/... in every row
    where such an image exists; cells without one stay black), so alignment across poses is
    easy to judge. Otherwise a random `max_rows x columns` grid. Rows are labelled on the left.

    Args:
        faceset: a `FaceSet`.
        path: output PNG path (folders are created).
        rows_by: label key for rows, or None.
        columns: faces per row.
        cell: pixel size of each face (default: the image size, at least 64).
        seed: which faces are drawn.
        title: optional text at the top.
    """
    rng = np.random.default_rng(seed)
    n = len(faceset)
    if n == 0:
        raise ValueError(f"{faceset.name!r} is empty: nothing to preview.")
    cell = int(cell or max(64, faceset.image_shape[0]))
    labels = faceset.labels
    row_values, grid = None, None
    if rows_by is not None and rows_by in labels:
        values = np.asarray(labels[rows_by], np.float64)
        known = np.unique(values[np.isfinite(values) & (values != -1)])
        if 1 <= len(known) <= max_rows:
            row_values = known
    if row_values is not None:
        values = np.asarray(labels[rows_by], np.float64)
        keys = [k for k in _COLUMN_KEYS if k in labels and k != rows_by]
        column_key = (
            np.stack([np.asarray(labels[k], np.float64) for k in keys], 1)
            if keys
            else np.arange(n)[:, None]
        )
        column_key = np.where(np.isfinite(column_key), np.round(column_key, 3), -9999.0)
        column_key = [tuple(r.tolist()) for r in column_key]
        cells = {}
        for i in range(n):
            cells.setdefault((column_key[i], float(values[i])), i)
        groups = sorted(
            {c for c, _ in cells}, key=lambda g: -sum((g, v) in cells for v in row_values.tolist())
        )
        complete = [
            g for g in groups if all((g, v) in cells for v in row_values.tolist())
        ] or groups
        chosen = [complete[i] for i in rng.permutation(len(complete))[:columns]]
        grid = [[cells.get((g, v)) for g in chosen] for v in row_values.tolist()]
        row_names = [f"{rows_by} {v:g}" for v in row_values.tolist()]
    else:
        order = rng.permutation(n)[: max_rows * columns]
        grid = [
            list(order[r * columns : (r + 1) * columns])
            for r in range(int(np.ceil(len(order) / columns)))
        ]
        row_names = [""] * len(grid)
    margin = 90 if any(row_names) else 0
    top = 28 if title else 0
    width = margin + columns * cell
    sheet = np.zeros((top + len(grid) * cell, width, 3), np.uint8)
    if title:
        cv2.putText(
            sheet,
            str(title),
            (4, 20),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.55,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    for r, row in enumerate(grid):
        y = top + r * cell
        if row_names[r]:
            cv2.putText(
                sheet,
                row_names[r],
                (4, y + cell // 2),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
        for c, index in enumerate(row):
            if index is not None:
                sheet[y : y + cell, margin + c * cell : margin + (c + 1) * cell] = _to_uint8(
                    faceset.images[index], cell
                )
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise OSError(f"Could not write {path}")
    return path


def preview(spec, out_path, image_size=64, channels=3, rows_by="yaw", columns=10, seed=0, **kwargs):
    """`fer-zoo data preview SPEC --out PNG`: loads `spec` and writes its sample sheet.

    For `"synthetic..."` specs it delegates to `fer_zoo.data.synthfer.preview.contact_sheet`
    (SynthFER's own factor sheet) with `out_path`, `image_size`, `channels`, `seed` and
    `**kwargs` (e.g. `identities=(0, 1)`, `yaws=(-60, 0, 60)`); `"synthetic:..."` specs with
    options are rendered with `SynthFER.faceset` and shown as a sample sheet like any data set.
    """
    if isinstance(spec, str) and spec.split(":", 1)[0].lower() == "synthetic" and ":" not in spec:
        from fer_zoo.data.synthfer import preview as synth_preview  # noqa: PLC0415

        return synth_preview.contact_sheet(
            out_path, image_size=image_size, channels=channels, seed=seed, **kwargs
        )
    from fer_zoo.data.pipeline import load_faceset  # noqa: PLC0415

    faceset = load_faceset(spec, image_size=image_size, channels=channels, **kwargs)
    title = (
        f"{faceset.name}: {len(faceset)} faces, {faceset.image_shape[0]}x{faceset.image_shape[1]}"
    )
    return sample_sheet(faceset, out_path, rows_by=rows_by, columns=columns, seed=seed, title=title)
