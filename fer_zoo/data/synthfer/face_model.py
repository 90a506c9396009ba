"""Procedural head model of SynthFER: identity parameters, canonical surface, albedo, expressions.

The head is a star-shaped surface sampled on a tensor grid of canonical angles: azimuth `theta`
(0 = straight ahead, positive towards the subject's left, which is image right in a frontal
view) and elevation `phi` (positive up). A grid point sits at `radius(theta, phi) * dir(theta,
phi)` with `dir = (cos(phi) sin(theta), sin(phi), cos(phi) cos(theta))`; x is image right, y up,
z towards the camera. The radius is a super-ellipsoid skull (narrower jaw, deeper back) plus
Gaussian relief: brow ridge, eye sockets and lids, nose ridge/tip/wings, cheekbones, lips, chin,
ears and hair volume. Albedo (skin, lips, brows, lash lines, nostrils, hair, inner ears) is
attached to the grid, so it moves with the skin.

Expressions are *skin motion*: each control (e.g. `mouth_corner_up`) is a field of angular
displacements `(d_theta, d_phi)` and radial relief `d_r` over the face region. Eye and mouth
openings are "slit" motions: skin above the eyelid line / lip line moves up, skin below moves
down, and the gap shows the eyeballs and the mouth cavity (with teeth), which are separate
surfaces behind the lids and lips. Every field is linear in its control and the controls of an
expression are scaled by the intensity, so intensity 0 is exactly the neutral face.

Every identity is left-right symmetric, so a face at yaw `+a` is the mirror image of the same face
at yaw `-a` under a light that is itself symmetric (azimuth 0).
"""

import dataclasses

import numpy as np

from fer_zoo.data.faceset import EXPRESSIONS

# Control values of each expression at intensity 1 (FACS-like: brows, lids, lips, cheeks, nose).
EXPRESSION_CONTROLS = {
    "angry": {
        "brow_inner_up": -1.3,
        "brow_outer_up": 0.25,
        "brow_knit": 1.0,
        "eye_open": 0.15,
        "lip_press": 1.0,
        "chin_raise": 0.6,
        "mouth_corner_up": -0.35,
        "mouth_stretch": -0.2,
        "nose_wrinkle": 0.25,
    },
    "disgust": {
        "nose_wrinkle": 1.0,
        "upper_lip_raise": 1.0,
        "brow_inner_up": -0.8,
        "brow_knit": 0.6,
        "eye_open": -0.45,
        "cheek_raise": 0.6,
        "mouth_corner_up": -0.6,
        "chin_raise": 0.5,
    },
    "fear": {
        "brow_inner_up": 1.1,
        "brow_outer_up": 0.3,
        "brow_knit": 0.8,
        "eye_open": 1.0,
        "mouth_stretch": 1.0,
        "mouth_corner_up": -0.45,
        "mouth_open": 0.5,
    },
    "happy": {
        "mouth_corner_up": 1.25,
        "mouth_stretch": 0.7,
        "mouth_open": 0.45,
        "upper_lip_raise": 0.3,
        "cheek_raise": 1.0,
        "eye_open": -0.45,
    },
    "neutral": {},
    "sad": {
        "brow_inner_up": 1.1,
        "brow_outer_up": -0.6,
        "brow_knit": 0.6,
        "eye_open": -0.4,
        "mouth_corner_up": -1.2,
        "chin_raise": 0.9,
        "mouth_stretch": -0.15,
    },
    "surprise": {
        "brow_inner_up": 1.1,
        "brow_outer_up": 1.2,
        "eye_open": 1.0,
        "mouth_open": 1.0,
        "mouth_stretch": -0.65,
    },
}
assert tuple(sorted(EXPRESSION_CONTROLS)) == EXPRESSIONS

HAIR_COLOURS = np.array(
    [
        [0.07, 0.06, 0.05],  # black
        [0.18, 0.12, 0.08],  # dark brown
        [0.34, 0.23, 0.14],  # brown
        [0.70, 0.57, 0.36],  # blond
        [0.58, 0.57, 0.55],  # grey
        [0.50, 0.22, 0.10],  # red
    ],
    dtype=np.float32,
)
HAIR_PROBS = np.array([0.3, 0.25, 0.2, 0.1, 0.08, 0.07])
IRIS_COLOURS = np.array(
    [[0.22, 0.13, 0.07], [0.10, 0.07, 0.05], [0.25, 0.38, 0.55], [0.30, 0.40, 0.25]],
    dtype=np.float32,
)
LIGHT_SKIN = np.array([0.94, 0.78, 0.67], dtype=np.float32)
DARK_SKIN = np.array([0.36, 0.23, 0.16], dtype=np.float32)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Layout of the rendered crop, in head units (skull half-height = 1).
VIEW_HALF_HEIGHT = 1.0  # the image spans 2 head units
VIEW_CENTRE_Y = -0.15  # head-space y at the image centre (shows a little neck, cuts the crown)
VIEW_CENTRE_Z = 0.6  # this head-space depth stays centred when the head turns (face-centred crops)


def sample_identity(seed, identity):
    """Identity parameters, deterministic from `(seed, identity)` (both non-negative ints)."""
    rng = np.random.default_rng([int(seed), int(identity), 0x5F3D])
    u = rng.uniform
    p = {}
    p["head_w"] = u(0.66, 0.78)
    p["head_d_front"] = u(0.80, 0.92)
    p["head_d_back"] = u(0.98, 1.08)
    p["head_b_low"] = u(0.92, 1.0)
    p["jaw_taper"] = u(0.22, 0.36)
    p["boxiness"] = u(2.0, 2.6)
    p["jut"] = u(0.1, 0.18)
    p["eye_phi"] = u(0.0, 0.07)
    p["eye_theta"] = u(0.33, 0.40)
    p["eye_w"] = u(0.125, 0.155)
    p["eye_up0"] = u(0.055, 0.07)  # neutral upper-lid lift (rad)
    p["eye_down0"] = u(0.032, 0.042)
    p["brow_gap"] = u(0.15, 0.2)
    p["brow_arch"] = u(0.0, 0.045)
    p["brow_thick"] = u(0.03, 0.045)
    p["brow_dark"] = u(0.55, 0.95)
    p["brow_len"] = u(0.19, 0.25)
    p["nose_phi"] = p["eye_phi"] - u(0.36, 0.44)
    p["nose_h"] = u(0.12, 0.19)
    p["nose_w"] = u(0.075, 0.11)
    p["mouth_phi"] = p["nose_phi"] - u(0.18, 0.24)
    p["mouth_w"] = u(0.22, 0.28)
    p["lip_up"] = u(0.022, 0.035)
    p["lip_low"] = u(0.03, 0.045)
    p["chin_phi"] = p["mouth_phi"] - u(0.27, 0.33)
    p["chin_h"] = u(0.03, 0.07)
    p["cheek_h"] = u(0.02, 0.06)
    p["ear_size"] = u(0.85, 1.2)
    tone = rng.beta(1.6, 1.6)
    p["skin"] = (1 - tone) * LIGHT_SKIN + tone * DARK_SKIN + rng.normal(0, 0.02, 3).astype(np.float32)
    p["hair"] = HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), p=HAIR_PROBS)] * u(0.85, 1.15)
    p["iris"] = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))]
    p["lip_tint"] = u(0.0, 1.0)
    p["bald"] = rng.random() < 0.08
    p["hairline_front"] = u(0.48, 0.72)
    p["fringe"] = u(0.0, 0.2) if rng.random() < 0.3 else 0.0
    p["hair_side"] = u(-0.35, 0.3)  # hairline over the ears; < ~0 covers them
    p["hair_back"] = u(-0.9, -0.45)
    p["hair_vol"] = u(0.03, 0.1)
    p["beard"] = u(0.25, 0.6) if rng.random() < 0.12 else 0.0
    p["hair_phase"] = u(0, 2 * np.pi, 3)
    p["background"] = np.clip(u(0.3, 0.85) + rng.normal(0, 0.04, 3), 0, 1).astype(np.float32)
    return p


def make_axes(image_size):
    """Canonical angle axes, sampled densely enough (>= ~1.7 points per pixel) for splatting."""
    n_theta = int(round(4.2 * image_size / 2)) * 2
    n_phi = int(round(2.2 * image_size))
    theta = (-np.pi + (np.arange(n_theta) + 0.5) * 2 * np.pi / n_theta).astype(np.float32)
    phi = np.linspace(-1.52, 1.52, n_phi, dtype=np.float32)
    return theta, phi


def directions(theta, phi):
    """Unit vectors `(..., 3)` for broadcastable angle arrays."""
    cos_phi = np.cos(phi)
    return np.stack(np.broadcast_arrays(cos_phi * np.sin(theta), np.sin(phi), cos_phi * np.cos(theta)), axis=-1)


def jut(p, dx, dy, dz):
    """Forward (z) shift of the lower front face, from unit-direction components.

    A plain ellipsoid recedes far too quickly below the nose (a "bird" profile); real mouths and
    chins sit almost as far forward as the brow.
    """
    cos_theta = dz / np.sqrt(dx * dx + dz * dz + 1e-12)
    return p["jut"] * _smoothstep(-dy, 0.25, 0.8) * _smoothstep(cos_theta, 0.3, 1.0)


def surface_points(p, radius, theta, phi):
    """`[x, y, z]` float32 arrays of surface points at canonical angles with the given radius."""
    d = directions(theta, phi)
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    return [(radius * dx).astype(np.float32), (radius * dy).astype(np.float32),
            (radius * dz + jut(p, dx, dy, dz)).astype(np.float32)]


def _gauss(x, x0, sigma):
    return np.exp(-0.5 * ((x - x0) / sigma) ** 2)


def _sym_gauss(theta, theta0, sigma):
    # Two mirror-image bumps at +-theta0: symmetric by construction.
    return _gauss(theta, theta0, sigma) + _gauss(theta, -theta0, sigma)


def _smoothstep(x, edge0, edge1):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _lens(theta, centre, half_width, power=0.5):
    # Opening profile of a slit (eye, mouth): 1 in the middle, 0 at the corners.
    return np.clip(1 - ((theta - centre) / half_width) ** 2, 0, 1) ** power


def skull_radius(p, theta, phi):
    d = directions(theta, phi)
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    # Widest at the temples, narrowing to the jaw and chin; boxier (flatter) crown.
    a = p["head_w"] * (1 + 0.06 * _smoothstep(dy, -0.1, 0.4) - p["jaw_taper"] * _smoothstep(-dy, 0.2, 1.0))
    b = np.where(dy > 0, 1.0, p["head_b_low"])
    c = p["head_d_front"] + (p["head_d_back"] - p["head_d_front"]) * _smoothstep(-dz, -0.3, 0.3)
    e = p["boxiness"] + 0.6 * _smoothstep(dy, 0.2, 0.8)
    r = (np.abs(dx / a) ** e + np.abs(dy / b) ** e + np.abs(dz / c) ** e) ** (-1 / e)
    return r.astype(np.float32)


def hair_mask(p, theta, phi):
    """Soft hair coverage (1 = hair) from a hairline that drops from the forehead to the nape."""
    if p["bald"]:
        line = np.interp(np.abs(theta), [0, 1.0, 1.6, 2.4, np.pi], [1.05, 0.9, 0.45, 0.2, 0.2])
    else:
        front = p["hairline_front"] - p["fringe"]
        line = np.interp(
            np.abs(theta),
            [0.0, 0.55, 1.05, 1.62, 2.3, np.pi],
            [front, p["hairline_front"] - 0.02, 0.35, p["hair_side"], p["hair_back"], p["hair_back"]],
        )
    return 1 / (1 + np.exp(-(phi - line) / 0.025))


@dataclasses.dataclass
class FaceBox:
    """Index box of the grid that expressions may move (rows = phi, cols = theta)."""

    rows: slice
    cols: slice


# The region of the canonical grid where face features and expression motion live, the same for
# every identity (it covers the extreme feature positions of `sample_identity` with margin).
FACE_THETA = 1.0
FACE_PHI = (-1.45, 0.75)


def face_box(theta, phi):
    cols = np.nonzero(np.abs(theta) < FACE_THETA)[0]
    rows = np.nonzero((phi > FACE_PHI[0]) & (phi < FACE_PHI[1]))[0]
    if not len(rows) or not len(cols):
        return None
    return FaceBox(slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))


class _Canvas:
    """A `(phi, theta)` grid given by sorted 1-D axes; features are evaluated only inside their
    own window (3-4 sigma), which keeps building an identity cheap."""

    def __init__(self, theta, phi, out):
        self.theta, self.phi, self.out = np.atleast_1d(theta), np.atleast_1d(phi), out

    def _window(self, th_range, ph_range):
        c0, c1 = np.searchsorted(self.theta, th_range)
        r0, r1 = np.searchsorted(self.phi, ph_range)
        return (slice(r0, r1), slice(c0, c1)), self.theta[c0:c1][None, :], self.phi[r0:r1][:, None]

    def add(self, th_range, ph_range, fn):
        index, th, ph = self._window(th_range, ph_range)
        if th.size and ph.size:
            self.out[index] += fn(th, ph)

    def mix(self, th_range, ph_range, colour, weight_fn):
        index, th, ph = self._window(th_range, ph_range)
        if th.size and ph.size:
            w = np.clip(weight_fn(th, ph), 0, 1).astype(np.float32)[..., None]
            sub = self.out[index]
            sub *= 1 - w
            sub += np.asarray(colour, np.float32) * w


def relief(p, theta, phi, regions=("face", "ear")):
    """Radial relief (head units) on the `(phi, theta)` grid of sorted 1-D axes: the features
    of `regions` plus hair volume."""
    h = np.zeros((len(phi), len(theta)), np.float32)
    canvas = _Canvas(theta, phi, h)
    if "face" in regions:
        _face_relief(p, canvas)
    if "ear" in regions:
        _ear_relief(p, canvas)
    rows = phi > _lowest_hair(p) - 0.15
    h[rows] += p["hair_vol"] * hair_mask(p, theta[None, :], phi[rows][:, None])
    return h


def point_radius(p, theta, phi):
    """Surface radius at one point (scalar angles)."""
    theta, phi = np.float32(theta), np.float32(phi)
    h = relief(p, np.atleast_1d(theta), np.atleast_1d(phi))[0, 0]
    return float(skull_radius(p, theta, phi) + h)


def _lowest_hair(p):
    return 0.1 if p["bald"] else min(p["hair_back"], p["hair_side"], p["hairline_front"] - p["fringe"])


def _ear_relief(p, c):
    size, pe = p["ear_size"], p["eye_phi"]
    for lo, hi in ((1.3, 1.95), (-1.95, -1.3)):
        c.add((lo, hi), (pe - 0.12 - 0.6 * size, pe - 0.12 + 0.6 * size),
              lambda th, ph: 0.13 * size * _sym_gauss(th, 1.62, 0.075) * _gauss(ph, pe - 0.12, 0.17 * size))


def _face_relief(p, c):
    te, pe = p["eye_theta"], p["eye_phi"]
    pb = pe + p["brow_gap"]
    pn, pm, wm = p["nose_phi"], p["mouth_phi"], p["mouth_w"]
    # Brow ridge and forehead.
    c.add((-0.76, 0.76), (pb - 0.23, pb + 0.19),
          lambda th, ph: 0.04 * _gauss(ph, pb - 0.02, 0.06) * _smoothstep(-np.abs(th), -0.75, -0.45))
    # Eye sockets, then the lids wrapping the eyeball.
    c.add((-te - 0.53, te + 0.53), (pe - 0.35, pe + 0.35),
          lambda th, ph: -0.075 * _sym_gauss(th, te, 0.15) * _gauss(ph, pe, 0.1))
    c.add((-te - 0.35, te + 0.35), (pe - 0.2, pe + 0.2),
          lambda th, ph: 0.035 * _sym_gauss(th, te, 0.1) * _gauss(ph, pe, 0.055))
    # Nose: ridge growing from the bridge to the tip, tip bulb, wings.
    start = pe + 0.05

    def ridge(th, ph):
        t = np.clip((start - ph) / (start - pn), 0, 1)
        height = np.where(ph < pn, _gauss(ph, pn, 0.045), t**1.4) * p["nose_h"]
        return height * _gauss(th, 0, 0.035 + (0.5 * p["nose_w"] - 0.035) * t)

    c.add((-0.3, 0.3), (pn - 0.17, start + 0.01), ridge)
    c.add((-0.18, 0.18), (pn - 0.13, pn + 0.15), lambda th, ph: 0.035 * _gauss(th, 0, 0.05) * _gauss(ph, pn + 0.01, 0.04))
    wing = 0.6 * p["nose_w"]
    c.add((-wing - 0.13, wing + 0.13), (pn - 0.14, pn + 0.11),
          lambda th, ph: 0.06 * _sym_gauss(th, wing, 0.035) * _gauss(ph, pn - 0.015, 0.035))
    # Cheekbones, chin, philtrum ridge.
    c.add((-1.0, 1.0), (pe - 0.77, pe + 0.23),
          lambda th, ph: p["cheek_h"] * _sym_gauss(th, 0.43, 0.16) * _gauss(ph, pe - 0.27, 0.14))
    c.add((-0.6, 0.6), (p["chin_phi"] - 0.35, p["chin_phi"] + 0.35),
          lambda th, ph: p["chin_h"] * _gauss(th, 0, 0.17) * _gauss(ph, p["chin_phi"], 0.1))
    c.add((-0.21, 0.21), (pm - 0.05, pm + 0.23),
          lambda th, ph: 0.015 * _gauss(th, 0, 0.06) * _gauss(ph, pm + 0.09, 0.04))
    # Lips.
    lu, ll = p["lip_up"], p["lip_low"]
    c.add((-1.8 * wm, 1.8 * wm), (pm - 3.2 * ll, pm + 3.2 * lu),
          lambda th, ph: np.exp(-((th / wm) ** 4)) * (0.035 * _gauss(ph, pm + lu, 0.6 * lu) + 0.045 * _gauss(ph, pm - ll, 0.6 * ll)))
    c.add((-wm - 0.14, wm + 0.14), (pm - 0.14, pm + 0.14),
          lambda th, ph: -0.015 * _sym_gauss(th, wm, 0.04) * _gauss(ph, pm, 0.04))


def albedo(p, theta, phi, regions=("face", "ear")):
    """RGB albedo `(phi, theta, 3)` of the skin surface (eyeballs and mouth are separate)."""
    a = np.empty((len(phi), len(theta), 3), np.float32)
    a[:] = np.asarray(p["skin"], np.float32)
    canvas = _Canvas(theta, phi, a)
    if "face" in regions:
        _face_albedo(p, canvas)
    if "ear" in regions:
        _ear_albedo(p, canvas)
    # Hair with vertical strand texture (symmetric in theta), only on rows that can hold hair.
    ph1, ph2, ph3 = (float(v) for v in p["hair_phase"])  # python floats keep the math float32
    first = int(np.searchsorted(phi, _lowest_hair(p) - 0.15))  # rows below never hold hair
    th, ph = np.abs(theta)[None, :], phi[first:, None]
    w = hair_mask(p, th, ph).astype(np.float32)
    strands = 0.85 + 0.15 * np.sin(th * 41 + ph1 + 2.5 * np.sin(ph * 7 + ph2)) * np.sin(th * 13 + ph3)
    hair = a[first:]
    hair *= (1 - w)[..., None]
    hair += np.asarray(p["hair"], np.float32) * (strands * w).astype(np.float32)[..., None]
    return np.clip(a, 0, 1)


def _ear_albedo(p, c):
    pe = p["eye_phi"]
    for lo, hi in ((1.5, 1.8), (-1.8, -1.5)):
        c.mix((lo, hi), (pe - 0.42, pe + 0.18), np.asarray(p["skin"]) * 0.55,
              lambda th, ph: 0.6 * _sym_gauss(th, 1.64, 0.03) * _gauss(ph, pe - 0.12, 0.08))


def _face_albedo(p, c):
    skin = np.asarray(p["skin"], np.float32)
    te, pe, we = p["eye_theta"], p["eye_phi"], p["eye_w"]
    pm, wm, pn = p["mouth_phi"], p["mouth_w"], p["nose_phi"]
    # Rosy cheeks, darker eye surroundings.
    c.mix((-0.9, 0.9), (pe - 0.65, pe + 0.05), skin * np.array([1.05, 0.82, 0.8]),
          lambda th, ph: 0.35 * _sym_gauss(th, 0.42, 0.13) * _gauss(ph, pe - 0.3, 0.1))
    c.mix((-te - 0.42, te + 0.42), (pe - 0.25, pe + 0.25), skin * 0.72,
          lambda th, ph: 0.45 * _sym_gauss(th, te, 0.12) * _gauss(ph, pe, 0.07))
    # Beard / stubble.
    if p["beard"] > 0:
        c.mix((-0.95, 0.95), (-1.6, pm + 0.1), p["hair"],
              lambda th, ph: p["beard"] * _smoothstep(-ph, -(pm + 0.1), -(pm - 0.05)) * _smoothstep(-np.abs(th), -0.95, -0.6))
    # Lips: redder and darker, with a dark contact line that the mouth opening splits.
    lip_colour = skin * np.array([0.85, 0.58, 0.58]) * (0.8 + 0.2 * p["lip_tint"]) + np.array([0.06, 0.0, 0.0])
    lu, ll = p["lip_up"], p["lip_low"]

    def lips(th, ph):
        across = _smoothstep(-np.abs(th), -wm * 1.02, -wm * 0.8)
        inside = ((ph > pm) & (ph < pm + 2.1 * lu)) | ((ph < pm) & (ph > pm - 2.1 * ll))
        return 0.95 * across * inside

    c.mix((-wm * 1.03, wm * 1.03), (pm - 2.2 * ll, pm + 2.2 * lu), lip_colour, lips)
    c.mix((-wm * 1.03, wm * 1.03), (pm - 0.03, pm + 0.03), lip_colour * 0.35,
          lambda th, ph: _smoothstep(-np.abs(th), -wm * 1.02, -wm * 0.8) * _gauss(ph, pm, 0.008))
    # Nostrils (on the underside of the nose).
    c.mix((-0.09, 0.09), (pn - 0.11, pn - 0.02), [0.05, 0.03, 0.03],
          lambda th, ph: 0.8 * _sym_gauss(th, 0.032, 0.014) * _gauss(ph, pn - 0.065, 0.012))
    # Eyebrows: arcs, thick at the inner end.
    lb, pb = p["brow_len"], pe + p["brow_gap"]

    def brows(th, ph):
        u = (np.abs(th) - te) / lb
        centre = pb + p["brow_arch"] * (1 - u**2)
        thick = p["brow_thick"] * (1 - 0.35 * np.clip(u, -1, 1))
        return p["brow_dark"] * np.exp(-(((ph - centre) / thick) ** 4)) * _smoothstep(1.15 - np.abs(u), 0, 0.25)

    c.mix((-te - 1.2 * lb, te + 1.2 * lb), (pb - 0.12, pb + p["brow_arch"] + 0.12), np.asarray(p["hair"]) * 0.8, brows)
    # Lash lines at the lid margins (they move with the lids).
    def lens(th):
        return np.maximum(_lens(th, te, we * 1.1), _lens(th, -te, we * 1.1)) > 0

    span = (-te - 1.1 * we, te + 1.1 * we)
    c.mix(span, (pe, pe + 0.022), [0.04, 0.03, 0.03], lambda th, ph: 0.95 * lens(th) * (ph >= pe) * (ph < pe + 0.022))
    c.mix(span, (pe - 0.012, pe), skin * 0.5, lambda th, ph: 0.6 * lens(th) * (ph < pe) * (ph > pe - 0.012))


@dataclasses.dataclass
class ExpressionFields:
    """Skin motion of one expression at intensity 1 over the face box."""

    d_theta: np.ndarray  # continuous motion (used for normals and positions)
    d_phi: np.ndarray
    d_r: np.ndarray
    slit_d_phi: np.ndarray  # slit (eyelid / lip) motion: opens gaps, leaves normals unchanged


def _slit(theta, phi, centre_theta, half_width, line_phi, up, down, sigma_up, sigma_down, power=0.5):
    """Vertical motion opening a slit on `line_phi`: points above move up, below move down."""
    across = _lens(theta, centre_theta, half_width, power)
    dist = phi - line_phi
    above = np.where(dist >= 0, np.exp(-0.5 * (dist / sigma_up) ** 2), 0.0)
    below = np.where(dist < 0, np.exp(-0.5 * (dist / sigma_down) ** 2), 0.0)
    return across * (up * above - down * below)


def eye_slit(p, theta, phi, opening):
    """Lid motion for a given `opening` (1 = neutral); both eyes."""
    field = 0.0
    for side in (1, -1):
        field = field + _slit(
            theta, phi, side * p["eye_theta"], p["eye_w"], p["eye_phi"],
            p["eye_up0"] * opening, p["eye_down0"] * opening, 0.07, 0.045,
        )
    return field


def expression_fields(p, controls, theta, phi):
    """Sum the control fields of an expression (a dict of control values) on the box axes."""
    th, ph = theta[None, :], phi[:, None]
    shape = (len(phi), len(theta))
    d_theta = np.zeros(shape, np.float32)
    d_phi = np.zeros(shape, np.float32)
    d_r = np.zeros(shape, np.float32)
    slit = np.zeros(shape, np.float32)
    c = {k: float(v) for k, v in controls.items()}
    te, pe, pm, wm, pn = p["eye_theta"], p["eye_phi"], p["mouth_phi"], p["mouth_w"], p["nose_phi"]
    pb = pe + p["brow_gap"]
    sign = np.sign(th)
    ath = np.abs(th)
    if "brow_inner_up" in c:
        d_phi += 0.1 * c["brow_inner_up"] * _sym_gauss(th, te - 0.11, 0.1) * _gauss(ph, pb, 0.1)
    if "brow_outer_up" in c:
        d_phi += 0.08 * c["brow_outer_up"] * _sym_gauss(th, te + 0.12, 0.1) * _gauss(ph, pb, 0.1)
    if "brow_knit" in c:
        d_theta -= 0.06 * c["brow_knit"] * sign * _sym_gauss(th, te - 0.07, 0.11) * _gauss(ph, pb - 0.02, 0.09)
        d_r += 0.012 * c["brow_knit"] * _sym_gauss(th, 0.1, 0.05) * _gauss(ph, pb - 0.03, 0.05)
        d_r -= 0.012 * c["brow_knit"] * _sym_gauss(th, 0.035, 0.012) * _gauss(ph, pb - 0.03, 0.05)
    if "eye_open" in c:
        gain = np.where(c["eye_open"] > 0, 1.0, 0.9)
        slit += eye_slit(p, th, ph, gain * c["eye_open"])
    if "cheek_raise" in c:
        bump = _sym_gauss(th, 0.42, 0.15) * _gauss(ph, pe - 0.27, 0.12)
        d_phi += 0.06 * c["cheek_raise"] * bump
        d_r += 0.04 * c["cheek_raise"] * bump
        # Lower lids pushed up (the smiling squint) and deepened nasolabial folds.
        slit += 0.4 * c["cheek_raise"] * np.where(ph < pe, -eye_slit(p, th, ph, 1.0), 0)
        fold = _gauss(ath, 0.13 + 0.5 * (pn - ph), 0.02) * ((ph < pn) & (ph > pm - 0.02))
        d_r -= 0.02 * c["cheek_raise"] * fold
    if "mouth_corner_up" in c:
        d_phi += 0.12 * c["mouth_corner_up"] * _sym_gauss(th, wm * 0.95, 0.09) * _gauss(ph, pm, 0.09)
        d_phi += 0.03 * c["mouth_corner_up"] * _sym_gauss(th, wm, 0.2) * _gauss(ph, pm, 0.16)
    if "mouth_stretch" in c:
        d_theta += 0.08 * c["mouth_stretch"] * sign * _sym_gauss(th, wm, 0.11) * _gauss(ph, pm, 0.09)
    if "mouth_open" in c:
        o = c["mouth_open"]
        slit += _slit(th, ph, 0, wm, pm, 0.045 * o, 0.13 * o, 0.05, 0.12, power=0.6)
        # The jaw drops as a whole; the motion fades out under the chin and towards the ears.
        jaw = _smoothstep(pm - ph, 0.0, 0.14) * _smoothstep(ph, p["chin_phi"] - 0.35, p["chin_phi"] - 0.05)
        jaw = jaw * _smoothstep(-ath, -0.85, -0.35)
        d_phi -= 0.11 * o * jaw
    if "upper_lip_raise" in c:
        slit += _slit(th, ph, 0, wm, pm, 0.06 * c["upper_lip_raise"], 0.0, 0.06, 0.05, power=0.9)
        d_phi += 0.025 * c["upper_lip_raise"] * _gauss(th, 0, 0.12) * _gauss(ph, pn, 0.05)
    if "lip_press" in c:
        across = np.exp(-((th / wm) ** 4))
        d_phi -= 0.02 * c["lip_press"] * across * _gauss(ph, pm + 0.04, 0.03) * (ph > pm)
        d_phi += 0.025 * c["lip_press"] * across * _gauss(ph, pm - 0.05, 0.035) * (ph < pm)
        d_r -= 0.02 * c["lip_press"] * across * _gauss(ph, pm, 0.05)
    if "chin_raise" in c:
        d_phi += 0.035 * c["chin_raise"] * _gauss(th, 0, 0.25) * _gauss(ph, pm - 0.12, 0.1) * (ph < pm)
        d_r += 0.015 * c["chin_raise"] * _gauss(th, 0, 0.12) * _gauss(ph, p["chin_phi"] + 0.05, 0.08)
    if "nose_wrinkle" in c:
        region = _gauss(th, 0, 0.09) * _gauss(ph, pe - 0.06, 0.05)
        d_r += 0.014 * c["nose_wrinkle"] * np.sin(2 * np.pi * (ph - pe) / 0.045) * region
        d_phi += 0.03 * c["nose_wrinkle"] * _gauss(th, 0, 0.14) * _gauss(ph, pn, 0.07)
        d_r += 0.012 * c["nose_wrinkle"] * _sym_gauss(th, 0.07, 0.04) * _gauss(ph, pn, 0.04)
    return ExpressionFields(d_theta, d_phi, d_r, slit.astype(np.float32))


def grid_normals(x, y, z, wrap_theta):
    """Unit normals `(nx, ny, nz)` of a point grid given as component arrays `(rows, cols)`."""

    def d_cols(a):
        if wrap_theta:
            return np.roll(a, -1, axis=1) - np.roll(a, 1, axis=1)
        d = np.empty_like(a)
        d[:, 1:-1] = a[:, 2:] - a[:, :-2]
        d[:, 0] = a[:, 1] - a[:, 0]
        d[:, -1] = a[:, -1] - a[:, -2]
        return d

    def d_rows(a):
        d = np.empty_like(a)
        d[1:-1] = a[2:] - a[:-2]
        d[0] = a[1] - a[0]
        d[-1] = a[-1] - a[-2]
        return d

    cx, cy, cz = d_cols(x), d_cols(y), d_cols(z)
    rx, ry, rz = d_rows(x), d_rows(y), d_rows(z)
    # Columns run to +theta, rows to +phi: d_col x d_row points outwards.
    nx, ny, nz = cy * rz - cz * ry, cz * rx - cx * rz, cx * ry - cy * rx
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    degenerate = norm < 1e-9
    if degenerate.any():  # the poles: fall back to the radial direction
        radial = np.sqrt(x * x + y * y + z * z) + 1e-12
        nx, ny, nz = (np.where(degenerate, a / radial, b) for a, b in ((x, nx), (y, ny), (z, nz)))
        norm = np.where(degenerate, 1.0, norm)
    inv = 1.0 / norm
    return (nx * inv).astype(np.float32), (ny * inv).astype(np.float32), (nz * inv).astype(np.float32)


def eyeball_points(p, radius_at_eye, image_size):
    """Two eyeball caps (points, normals, rgb albedo) behind the lid slits, gaze straight ahead."""
    rho = 0.115
    n_alpha = max(8, int(0.25 * image_size))
    n_beta = max(16, int(0.7 * image_size))
    alpha = np.linspace(0, 1.35, n_alpha, dtype=np.float32)[:, None]
    beta = np.linspace(0, 2 * np.pi, n_beta, endpoint=False, dtype=np.float32)[None, :]
    local = np.stack(
        np.broadcast_arrays(np.sin(alpha) * np.cos(beta), np.sin(alpha) * np.sin(beta), np.cos(alpha)), -1
    ).reshape(-1, 3)
    alpha = np.broadcast_to(alpha, (n_alpha, n_beta)).reshape(-1)
    rgb = np.tile(np.array([0.93, 0.91, 0.87], np.float32), (len(alpha), 1))
    iris = alpha < 0.55
    rgb[iris] = p["iris"]
    rgb[(alpha > 0.47) & iris] *= 0.6
    rgb[alpha < 0.25] = [0.03, 0.03, 0.03]
    points, normals, colours = [], [], []
    for side in (1, -1):
        d = directions(side * p["eye_theta"], p["eye_phi"])
        centre = d * (radius_at_eye - 0.02 - rho) + np.array([0, 0, jut(p, *d)])
        points.append(centre + rho * local)
        normals.append(local)
        colours.append(rgb)
    return np.concatenate(points), np.concatenate(normals), np.concatenate(colours)


def mouth_points(p, image_size):
    """Mouth cavity behind the lips: dark throat, upper teeth fixed to the skull, tongue."""
    n = max(12, int(0.5 * image_size))
    pm, wm = p["mouth_phi"], p["mouth_w"]
    theta = np.linspace(-wm - 0.14, wm + 0.14, int(1.6 * n), dtype=np.float32)[None, :]
    phi = np.linspace(pm - 0.4, pm + 0.13, n, dtype=np.float32)[:, None]
    teeth = (np.abs(theta) < 0.85 * wm) & (phi > pm - 0.05) & (phi < pm + 0.03)
    # Deeper than the depth tolerance of the splatting so lips never blend with teeth.
    depth = np.where(teeth, 0.05, 0.1)
    radius = skull_radius(p, theta, phi) - depth
    points = np.stack(surface_points(p, radius, theta, phi), -1).reshape(-1, 3)
    throat = np.array([0.16, 0.05, 0.05], np.float32)
    rgb = np.broadcast_to(throat, teeth.shape + (3,)).copy()
    tongue = phi < pm - 0.14
    rgb[np.broadcast_to(tongue, teeth.shape)] = [0.42, 0.14, 0.14]
    gaps = np.cos(theta / 0.045 * np.pi) ** 8  # dark seams between teeth
    tooth_rgb = np.array([0.95, 0.93, 0.85], np.float32) * (1 - 0.25 * gaps[..., None])
    rgb = np.where(teeth[..., None], np.broadcast_to(tooth_rgb, rgb.shape), rgb)
    normals = np.broadcast_to(np.array([0, 0, 1], np.float32), points.shape)
    return points.astype(np.float32), normals.astype(np.float32), rgb.reshape(-1, 3).astype(np.float32)


def neck_points(p, image_size):
    """Elliptic-cylinder neck below the head (skin, a little darker)."""
    n_around = int(1.9 * image_size)
    n_down = int(0.9 * image_size)
    angle = np.linspace(-np.pi, np.pi, n_around, endpoint=False, dtype=np.float32)[None, :]
    y = np.linspace(-0.45, -1.9, n_down, dtype=np.float32)[:, None]
    rx, rz = 0.31 + 0.3 * (p["head_w"] - 0.66), 0.31
    x, z = rx * np.sin(angle), rz * np.cos(angle) - 0.1
    points = np.stack(np.broadcast_arrays(x, y, z), -1).reshape(-1, 3)
    normals = np.stack(np.broadcast_arrays(np.sin(angle) / rx, 0 * y, np.cos(angle) / rz), -1).reshape(-1, 3)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    rgb = np.tile(np.asarray(p["skin"], np.float32) * 0.9, (len(points), 1))
    return points.astype(np.float32), normals.astype(np.float32), rgb
