"""Contact sheets of SynthFER faces (identities x poses x lights down, expressions across)."""

import pathlib

import cv2
import numpy as np

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.data.synthfer.renderer import EVEN_LIGHT, Light, SynthFER

HARSH_LEFT = Light(azimuth=-80.0, elevation=15.0, strength=1.15, ambient=0.08)
HARSH_RIGHT = Light(azimuth=80.0, elevation=15.0, strength=1.15, ambient=0.08)


def _light_name(light):
    if isinstance(light, str):
        return light
    if light == EVEN_LIGHT:
        return "even"
    return f"az{light.azimuth:+.0f} s{light.strength:.1f}"


def contact_sheet(path, identities=(0, 1, 2), expressions=EXPRESSIONS, yaws=(-60, 0, 30), lights=("even", HARSH_RIGHT),
                  image_size=64, channels=3, seed=0, intensity=1.0, pitch=0.0, scale=2, renderer=None):
    """Write a labelled PNG grid and return its path.

    Rows are every (identity, yaw, light) combination, labelled on the left; columns are the
    expressions, labelled on top. Tiles are upscaled `scale` times with nearest-neighbour
    interpolation, so the sheet shows the true training pixels.

    Args:
        path: output `.png` path (parent folders are created).
        identities, expressions, yaws, lights: the factor values to show (`lights` items are
            `Light`s or "even").
        image_size, channels, seed: passed to `SynthFER` (ignored when `renderer` is given).
        intensity, pitch: held for every tile.
        scale: integer upscaling of the tiles.
        renderer: an existing `SynthFER` to use.
    """
    renderer = renderer or SynthFER(image_size=image_size, channels=channels, seed=seed)
    size = renderer.image_size * scale
    expressions = [renderer.expression_index(e) for e in expressions]
    rows = [(i, y, light) for i in identities for y in yaws for light in lights]
    label_w, label_h = 150, 24
    sheet = np.full((label_h + len(rows) * size, label_w + len(expressions) * size, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for c, e in enumerate(expressions):
        cv2.putText(sheet, EXPRESSIONS[e], (label_w + c * size + 4, label_h - 7), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for r, (identity, yaw, light) in enumerate(rows):
        top = label_h + r * size
        text = [f"id {identity}", f"yaw {yaw:+.0f}", _light_name(light)]
        for k, line in enumerate(text):
            cv2.putText(sheet, line, (6, top + 18 + 17 * k), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        faces = renderer.render_batch(identity, expressions, intensity, yaw, pitch, light)
        for c, face in enumerate(faces):
            tile = np.round((face + 1) * 127.5).astype(np.uint8)
            tile = np.repeat(np.repeat(tile, scale, 0), scale, 1)
            if tile.shape[-1] == 1:
                tile = np.repeat(tile, 3, -1)
            sheet[top:top + size, label_w + c * size:label_w + (c + 1) * size] = tile
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"contact_sheet: could not write {path}.")
    return path


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Write a SynthFER contact sheet PNG.")
    parser.add_argument("path", nargs="?", default="docs/figures/synthfer_contact_sheet.png")
    parser.add_argument("--identities", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--yaws", type=float, nargs="+", default=[-60, 0, 30])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(contact_sheet(args.path, identities=args.identities, yaws=args.yaws, image_size=args.image_size,
                        channels=args.channels, seed=args.seed))


if __name__ == "__main__":
    main()
