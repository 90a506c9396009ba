"""`SynthFER`: a fast NumPy point-splatting renderer of the procedural heads in `face_model`."""

import collections
import itertools
from typing import NamedTuple

import numpy as np

from fer_zoo.data.faceset import EXPRESSIONS, FaceSet
from fer_zoo.data.synthfer import face_model as fm

MIN_SIZE, MAX_SIZE = 48, 224
MAX_YAW, MAX_PITCH = 90.0, 30.0


class Light(NamedTuple):
    """A directional light plus ambient term.

    Args:
        azimuth: degrees; 0 = from the camera, +90 = from image right, -90 = from image left.
        elevation: degrees above the horizontal (negative = from below).
        strength: Lambertian gain of the directional light.
        ambient: uniform light added everywhere.
    """

    azimuth: float = 0.0
    elevation: float = 10.0
    strength: float = 0.55
    ambient: float = 0.5

    def direction(self):
        az, el = np.deg2rad(self.azimuth), np.deg2rad(self.elevation)
        return np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)], np.float32)


# Frontal, soft and symmetric: the "evenly lit" target condition.
EVEN_LIGHT = Light(azimuth=0.0, elevation=10.0, strength=0.55, ambient=0.5)


def _rotation(yaw, pitch):
    # Head-to-camera rotation: yaw about y (positive turns the nose to image right), then pitch
    # about x (positive tilts the face up).
    y, p = np.deg2rad(yaw), np.deg2rad(pitch)
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    return (rx @ ry).astype(np.float32)


class _Grid:
    """Canonical angle grid shared by all identities of one image size."""

    def __init__(self, image_size):
        self.theta, self.phi = fm.make_axes(image_size)
        n_phi, n_theta = len(self.phi), len(self.theta)
        # Fewer columns where rows shrink towards the poles (keeps ~constant surface density).
        stride = np.maximum(1, np.floor(0.999 / np.maximum(np.cos(self.phi), 1e-3))).astype(int)
        self.keep = (np.arange(n_theta)[None, :] % stride[:, None]) == 0
        # Rows near the poles can face the camera from any azimuth (pitch); the band between them
        # only within WINDOW of the facing direction.
        self.cap = np.broadcast_to((np.abs(self.phi) > 0.96)[:, None], (n_phi, n_theta))
        q = n_theta // 4
        ext_cols = np.concatenate([np.arange(3 * q, n_theta), np.arange(n_theta), np.arange(q)])
        self.ext_theta = np.concatenate(
            [self.theta[3 * q:] - 2 * np.pi, self.theta, self.theta[:q] + 2 * np.pi]
        )
        # The face box is rendered from its own denser grid; the rest of the head from these
        # flat indices: caps, and the band ordered by (extended) column so a yaw window is a slice.
        self.box = box = fm.face_box(self.theta, self.phi)
        in_box = np.zeros((n_phi, n_theta), bool)
        in_box[box.rows, box.cols] = True
        flat = np.arange(n_phi * n_theta).reshape(n_phi, n_theta)
        self.cap_index = flat[self.keep & self.cap & ~in_box]
        band = (self.keep & ~self.cap & ~in_box)[:, ext_cols].T  # (ext columns, phi)
        self.band_index = flat[:, ext_cols].T[band]
        self.band_offsets = np.concatenate([[0], np.cumsum(band.sum(1))])


WINDOW = 2.0  # rad: band columns kept either side of the direction facing the camera
BOX_DENSITY = (1.6, 1.2)  # face-box samples per grid step along phi, theta
SKIN_GLOSS = (0.06, 12)  # Blinn-Phong (weight, integer exponent): a faint sheen
EYE_GLOSS = (0.9, 64)  # wet eyeballs: small bright catchlights
SHADOW_EXTENT = 1.7  # head units either side of the centre covered by the shadow map
SHADOW_BIAS_PIXELS = 1.5  # depth tolerance (in shadow-map pixels) against self-shadowing acne


class _Identity:
    """Per-identity point sets (rows x, y, z, nx, ny, nz, albedo...), built once and cached."""

    def __init__(self, params, grid, channels, image_size):
        self.params = p = params
        self.grid = grid
        theta, phi = grid.theta, grid.phi
        box = grid.box
        # The face features live in the (denser) face box only; the rest of the grid has ears and hair.
        radius = fm.skull_radius(p, theta[None, :], phi[:, None]) + fm.relief(p, theta, phi, ("ear",))
        xyz = fm.surface_points(p, radius, theta[None, :], phi[:, None])
        normals = fm.grid_normals(*xyz, wrap_theta=True)
        rgb = fm.albedo(p, theta, phi, ("ear",))
        full = np.stack(xyz + list(normals) + self._channels(rgb, channels)).reshape(6 + channels, -1)
        self.cap_points = full[:, grid.cap_index]
        self.band_points = full[:, grid.band_index]
        # Face box: recomputed per expression/intensity, sampled more densely than the rest of
        # the head because lids, lips and jaw stretch the skin there.
        n_rows = int(BOX_DENSITY[0] * (box.rows.stop - box.rows.start))
        n_cols = int(BOX_DENSITY[1] * (box.cols.stop - box.cols.start))
        self.box_theta = np.linspace(theta[box.cols.start], theta[box.cols.stop - 1], n_cols, dtype=np.float32)
        self.box_phi = np.linspace(phi[box.rows.start], phi[box.rows.stop - 1], n_rows, dtype=np.float32)
        bt, bp = self.box_theta, self.box_phi
        self.box_radius = fm.skull_radius(p, bt[None, :], bp[:, None]) + fm.relief(p, bt, bp, ("face",))
        self.neutral_slit = fm.eye_slit(p, bt[None, :], bp[:, None], 1.0).astype(np.float32)
        continuous = fm.surface_points(p, self.box_radius, bt[None, :], bp[:, None])
        # Slit motion (lids, lips) moves points but keeps the continuous-surface normals.
        self.neutral_face = np.stack(
            fm.surface_points(p, self.box_radius, bt[None, :], bp[:, None] + self.neutral_slit)
            + list(fm.grid_normals(*continuous, wrap_theta=False))
            + self._channels(fm.albedo(p, bt, bp, ("face",)), channels)
        )  # (6 + C, rows, cols)
        eye_r = float(fm.point_radius(p, p["eye_theta"], p["eye_phi"]))
        parts = [fm.eyeball_points(p, eye_r, image_size), fm.mouth_points(p, image_size), fm.neck_points(p, image_size)]
        extra = [np.concatenate([q[i] for q in parts]).astype(np.float32) for i in range(3)]
        self.n_eyeball_points = len(parts[0][0])  # the extras start with the two eyeballs
        self.extra_points = np.ascontiguousarray(
            np.concatenate([extra[0].T, extra[1].T, np.stack(self._channels(extra[2], channels))])
        )
        self.background = np.stack(self._channels(np.asarray(p["background"], np.float32), channels))
        self.fields = {}
        self._box_cache = {}

    @staticmethod
    def _channels(rgb, channels):
        rgb = np.asarray(rgb, np.float32)
        if channels == 3:
            return [rgb[..., i] for i in range(3)]
        return [(rgb @ fm.LUMA).astype(np.float32)]

    def expression(self, index):
        """Fields of an expression cropped to where they move anything (plus a margin)."""
        if index not in self.fields:
            controls = fm.EXPRESSION_CONTROLS[EXPRESSIONS[index]]
            f = fm.expression_fields(self.params, controls, self.box_theta, self.box_phi)
            moving = (np.abs(f.d_theta) + np.abs(f.d_phi) + np.abs(f.d_r) + np.abs(f.slit_d_phi)) > 1e-6
            rows, cols = np.nonzero(moving.any(1))[0], np.nonzero(moving.any(0))[0]
            rows = slice(max(rows[0] - 2, 0), rows[-1] + 3)
            cols = slice(max(cols[0] - 2, 0), cols[-1] + 3)
            slit = (np.abs(f.slit_d_phi[rows, cols]) + np.abs(self.neutral_slit[rows, cols])).any(1)
            slit_rows = np.nonzero(slit)[0]
            slit_rows = slice(slit_rows[0], slit_rows[-1] + 1) if len(slit_rows) else slice(0, 0)
            crop = [a[rows, cols].copy() for a in (f.d_theta, f.d_phi, f.d_r, f.slit_d_phi)]
            self.fields[index] = (rows, cols, slit_rows, crop)
        return self.fields[index]

    def band(self, yaw):
        """The band points within WINDOW of the facing direction (a view, no copy)."""
        centre = -np.deg2rad(yaw)
        lo, hi = np.searchsorted(self.grid.ext_theta, [centre - WINDOW, centre + WINDOW])
        return self.band_points[:, self.grid.band_offsets[lo]:self.grid.band_offsets[hi]]

    def face(self, expression, intensity, grid_shaped=False):
        """Face-box points `(6 + C, n)` (or `(6 + C, rows, cols)`) for an expression at an intensity."""
        neutral = intensity == 0 or not fm.EXPRESSION_CONTROLS[EXPRESSIONS[expression]]
        key = None if neutral else (expression, intensity)
        if neutral:
            points = self.neutral_face
        elif key in self._box_cache:
            points = self._box_cache[key]
        else:
            # Only the region the expression moves is recomputed; the rest stays neutral.
            rows, cols, slit_rows, (d_theta, d_phi, d_r, d_slit) = self.expression(expression)
            t = np.float32(intensity)
            theta = self.box_theta[None, cols] + t * d_theta
            phi = self.box_phi[rows, None] + t * d_phi
            radius = self.box_radius[rows, cols] + t * d_r
            xyz = fm.surface_points(self.params, radius, theta, phi)
            normals = fm.grid_normals(*xyz, wrap_theta=False)
            slit = (self.neutral_slit[rows, cols] + t * d_slit)[slit_rows]
            moved = fm.surface_points(self.params, radius[slit_rows], theta[slit_rows], phi[slit_rows] + slit)
            points = self.neutral_face.copy()
            for i in range(3):
                xyz[i][slit_rows] = moved[i]
                points[i, rows, cols] = xyz[i]
                # The crop's outer ring keeps the neutral normals (one-sided differences there).
                points[3 + i, rows, cols][1:-1, 1:-1] = normals[i][1:-1, 1:-1]
            if len(self._box_cache) >= 2:
                self._box_cache.pop(next(iter(self._box_cache)))
            self._box_cache[key] = points
        return points if grid_shaped else points.reshape(len(points), -1)


class SynthFER:
    """Procedural, licence-free synthetic face renderer with exact control of every factor.

    Renders 3-D procedural heads (super-ellipsoid skull with nose, brows, eye sockets, cheeks,
    lips, chin, ears and hair as geometry; eyeballs and mouth cavity behind lid and lip slits)
    by z-buffered point splatting with Lambertian shading, cast shadows and a small specular
    highlight. Factors: identity (thousands of distinct, deterministic heads from integer ids),
    expression (the 7 `EXPRESSIONS` as skin motion, continuous intensity 0..1 with 0 = neutral),
    pose (yaw -90..90, pitch -30..30 degrees), illumination (`Light`), optional noise and blur. Any factor can change while the
    others are held, so exact targets exist (frontal evenly lit face of the same identity and
    expression, the same face at another pose, another identity's expression, ...).

    Conventions: positive yaw turns the nose towards image right (KDEF "R" poses); positive
    pitch tilts the face up; a light's positive azimuth comes from image right.

    Args:
        image_size: output height = width in pixels, 48..224.
        channels: 1 (grey, BT.601 luma of the albedo) or 3 (RGB).
        seed: identity family; the same `(seed, identity)` always gives the same head.
        shadows: cast shadows (nose, brows, cheeks, jaw on the neck) from a shadow map; costs
            40-70% more time per image.
        cache_identities: how many built identities to keep (default: about 0.25 GB worth, i.e.
            61 at 64 px, 15 at 128 px); building one costs about as much as five renders.

    Example:
    ```python
    from fer_zoo.data.synthfer import SynthFER, EVEN_LIGHT, Light
    r = SynthFER(image_size=64, channels=1, seed=0)
    x = r.render(identity=3, expression="happy", intensity=1.0, yaw=30.0, light=EVEN_LIGHT)
    side = r.render(3, "happy", yaw=30.0, light=Light(azimuth=80, strength=1.1, ambient=0.08))
    fs = r.faceset(identities=range(4), yaws=(-45, 0, 45))   # FaceSet, 4 * 7 * 3 images
    ```

    Reference:
        Built for the fer_zoo recipes of Ruiz-Garcia et al. (GASCA), Zhang et al. (JPEM,
        CVPR 2018), FESR and REL-GAN, which need pose/illumination/expression/identity-paired
        faces; the model itself is original (no downloaded meshes or data).
    """

    def __init__(self, image_size=64, channels=1, seed=0, shadows=True, cache_identities=None):
        if not isinstance(image_size, int | np.integer) or not MIN_SIZE <= image_size <= MAX_SIZE:
            raise ValueError(
                f"SynthFER: image_size must be an int in [{MIN_SIZE}, {MAX_SIZE}], got {image_size!r}."
            )
        if channels not in (1, 3):
            raise ValueError(f"SynthFER: channels must be 1 (grey) or 3 (RGB), got {channels!r}.")
        if int(seed) < 0:
            raise ValueError(f"SynthFER: seed must be a non-negative int, got {seed!r}.")
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.seed = int(seed)
        self.shadows = bool(shadows)
        self._grid = _Grid(self.image_size)
        self.theta, self.phi = self._grid.theta, self._grid.phi
        if cache_identities is None:
            # ~1 KB per output pixel per identity (4 MB at 64 px, 16 MB at 128 px): ~0.25 GB in all.
            cache_identities = max(4, int(2.5e5 / self.image_size**2))
        self.cache_identities = int(cache_identities)
        self._identities = collections.OrderedDict()
        s = self.image_size
        self._scale = s / (2 * fm.VIEW_HALF_HEIGHT)
        self._depth_eps = np.float32(0.6 / self._scale)

    # ----------------------------------------------------------------------------- factors
    def identity_params(self, identity):
        """The sampled parameters (dict) of an identity."""
        return fm.sample_identity(self.seed, self._identity_id(identity))

    def _identity_id(self, identity):
        if isinstance(identity, bool) or not isinstance(identity, int | np.integer) or identity < 0:
            raise ValueError(f"SynthFER: identity must be a non-negative int, got {identity!r}.")
        return int(identity)

    def _identity(self, identity):
        identity = self._identity_id(identity)
        model = self._identities.get(identity)
        if model is None:
            params = fm.sample_identity(self.seed, identity)
            model = _Identity(params, self._grid, self.channels, self.image_size)
            self._identities[identity] = model
            while len(self._identities) > self.cache_identities:
                self._identities.popitem(last=False)
        else:
            self._identities.move_to_end(identity)
        return model

    @staticmethod
    def expression_index(expression):
        """Index into `EXPRESSIONS` of a class name or index; raises ValueError when unknown."""
        if isinstance(expression, str):
            if expression not in EXPRESSIONS:
                raise ValueError(f"SynthFER: unknown expression {expression!r}; expected one of {EXPRESSIONS}.")
            return EXPRESSIONS.index(expression)
        if isinstance(expression, int | np.integer) and not isinstance(expression, bool):
            if 0 <= expression < len(EXPRESSIONS):
                return int(expression)
        raise ValueError(
            f"SynthFER: unknown expression {expression!r}; expected a name in {EXPRESSIONS} or an index 0..6."
        )

    @staticmethod
    def _check_range(name, value, low, high):
        value = float(value)
        if not low <= value <= high:
            raise ValueError(f"SynthFER: {name} must be in [{low}, {high}], got {value}.")
        return value

    @staticmethod
    def _light(light):
        if isinstance(light, str):
            if light != "even":
                raise ValueError(f"SynthFER: light must be a Light or 'even', got {light!r}.")
            return EVEN_LIGHT
        if isinstance(light, Light):
            return light
        if len(light) == 4:
            return Light(*[float(v) for v in light])
        raise ValueError(f"SynthFER: light must be a Light(azimuth, elevation, strength, ambient), got {light!r}.")

    @staticmethod
    def sample_light(rng, harsh=False):
        """A random `Light`: soft from the front half, or (harsh) strong side light, low ambient."""
        rng = np.random.default_rng(rng)
        if harsh:
            side = rng.choice([-1.0, 1.0])
            return Light(
                azimuth=float(side * rng.uniform(55, 100)),
                elevation=float(rng.uniform(-15, 35)),
                strength=float(rng.uniform(0.9, 1.25)),
                ambient=float(rng.uniform(0.03, 0.15)),
            )
        return Light(
            azimuth=float(rng.uniform(-45, 45)),
            elevation=float(rng.uniform(-20, 40)),
            strength=float(rng.uniform(0.35, 0.8)),
            ambient=float(rng.uniform(0.3, 0.55)),
        )

    # ----------------------------------------------------------------------------- rendering
    def render(self, identity, expression="neutral", intensity=1.0, yaw=0.0, pitch=0.0, light=EVEN_LIGHT,
               noise=0.0, blur=0.0, rng=None):
        """One face `(H, W, C)` float32 in [-1, 1].

        Args:
            identity: non-negative int.
            expression: name in `EXPRESSIONS` or its index.
            intensity: 0..1; 0 renders the neutral face exactly.
            yaw: degrees in [-90, 90]; positive turns the nose to image right.
            pitch: degrees in [-30, 30]; positive tilts the face up.
            light: a `Light` (or "even" for `EVEN_LIGHT`).
            noise: standard deviation of additive Gaussian pixel noise (in [-1, 1] units).
            blur: Gaussian blur sigma in pixels (0 = none).
            rng: seed or Generator for the noise; by default derived from all factors, so the
                same call always returns the same image.
        """
        e = self.expression_index(expression)
        intensity = self._check_range("intensity", intensity, 0.0, 1.0)
        yaw = self._check_range("yaw", yaw, -MAX_YAW, MAX_YAW)
        pitch = self._check_range("pitch", pitch, -MAX_PITCH, MAX_PITCH)
        noise = self._check_range("noise", noise, 0.0, 2.0)
        blur = self._check_range("blur", blur, 0.0, self.image_size / 4)
        light = self._light(light)
        model = self._identity(identity)
        image = self._render(model, e, intensity, yaw, pitch, light)
        if blur > 0:
            import cv2

            image = cv2.GaussianBlur(image, (0, 0), blur, borderType=cv2.BORDER_REPLICATE)
            image = image.reshape(self.image_size, self.image_size, self.channels)
        if noise > 0:
            if rng is None:
                rng = [self.seed, int(identity), e, int(round(intensity * 1e4)), int(round((yaw + 180) * 100)),
                       int(round((pitch + 180) * 100)), int(round(noise * 1e4)), int(round(blur * 1e3))]
            image = image + np.random.default_rng(rng).normal(0, noise, image.shape).astype(np.float32)
        return np.clip(image, -1.0, 1.0).astype(np.float32)

    def render_batch(self, identity, expression="neutral", intensity=1.0, yaw=0.0, pitch=0.0, light=EVEN_LIGHT,
                     noise=0.0, blur=0.0):
        """Render `N` faces; every argument is a scalar or a length-N sequence (scalars broadcast).

        `light` is one `Light` / "even" or a sequence of them. Returns `(N, H, W, C)` float32.
        """
        columns = {
            "identity": identity, "expression": expression, "intensity": intensity, "yaw": yaw,
            "pitch": pitch, "noise": noise, "blur": blur,
        }
        if isinstance(light, str | Light):
            columns["light"] = [light]
        else:
            columns["light"] = list(light)
        lists = {}
        for key, value in columns.items():
            if key != "light" and (isinstance(value, str) or np.ndim(value) == 0):
                value = [value]
            lists[key] = list(value) if not isinstance(value, list) else value
        n = max(len(v) for v in lists.values())
        for key, value in lists.items():
            if len(value) not in (1, n):
                raise ValueError(f"SynthFER.render_batch: {key} has {len(value)} entries, expected 1 or {n}.")
            lists[key] = value * n if len(value) == 1 else value
        out = np.empty((n, self.image_size, self.image_size, self.channels), np.float32)
        # Render grouped by (identity, expression, intensity) so geometry is reused across poses/lights.
        keys = [(int(lists["identity"][i]), self.expression_index(lists["expression"][i]),
                 float(lists["intensity"][i])) for i in range(n)]
        for i in sorted(range(n), key=lambda i: keys[i]):
            out[i] = self.render(
                lists["identity"][i], keys[i][1], keys[i][2], lists["yaw"][i], lists["pitch"][i],
                lists["light"][i], lists["noise"][i], lists["blur"][i],
            )
        return out

    def _camera(self, rotation):
        """A (3, 3) matrix and offsets mapping head xyz to (padded column, padded row, depth)."""
        s, half = self._scale, self.image_size / 2
        matrix = np.stack([s * rotation[0], -s * rotation[1], -rotation[2]]).astype(np.float32)
        # +1: the frame is padded by one pixel on every side; clipped points land in the padding.
        offset = np.array([half + 1 - s * rotation[0, 2] * fm.VIEW_CENTRE_Z, half + 1 + s * fm.VIEW_CENTRE_Y, 0.0],
                          np.float32)
        return matrix, offset

    def _project(self, part, matrix, offset):
        camera = matrix @ part[:3]  # one BLAS call; rows: column, row (unshifted), depth
        padded = self.image_size + 2
        col = np.clip(camera[0] + offset[0], 0, padded - 0.5).astype(np.intp)
        row = np.clip(camera[1] + offset[1], 0, padded - 0.5).astype(np.intp)
        row *= padded
        row += col
        return row, camera[2]

    def _shadow_test(self, parts, light_head):
        """Per part, how far (in shadow-map pixels, <= 0) each point lies behind the surface nearest
        to the light along its ray: a shadow map in light space."""
        to_light = light_head / np.linalg.norm(light_head)
        helper = np.array([0, 1, 0] if abs(to_light[1]) < 0.9 else [1, 0, 0], np.float32)
        u = np.cross(helper, to_light)
        u /= np.linalg.norm(u)
        v = np.cross(to_light, u)
        scale = self._scale  # shadow-map pixels per head unit, as in the image
        size = int(2 * SHADOW_EXTENT * scale) + 2
        matrix = np.stack([scale * u, scale * v, -to_light]).astype(np.float32)
        offset = np.array([size / 2, size / 2, 0], np.float32)
        projected = []
        for part in parts:
            light_space = matrix @ part[:3]
            col = np.clip(light_space[0] + offset[0], 0, size - 0.5).astype(np.intp)
            row = np.clip(light_space[1] + offset[1], 0, size - 0.5).astype(np.intp)
            row *= size
            row += col
            projected.append((row, light_space[2]))
        depth_map = np.full(size * size, np.inf, np.float32)
        for pixel, depth in projected:
            np.minimum.at(depth_map, pixel, depth)
        return [(depth_map[pixel] - depth) * np.float32(scale) for pixel, depth in projected]

    def _render(self, model, expression, intensity, yaw, pitch, light, debug=False):
        size, channels = self.image_size, self.channels
        padded = size + 2
        rotation = _rotation(yaw, pitch)  # float32: float64 scalars would upcast every array
        light_head = (rotation.T @ light.direction()).astype(np.float32)  # light in head coordinates
        if debug:
            grid_face = model.face(expression, intensity, grid_shaped=True)[:6]
            parts = [grid_face.reshape(6, -1)]
        else:
            parts = [model.face(expression, intensity)]
        eyes = model.n_eyeball_points
        parts += [model.cap_points, model.band(yaw), model.extra_points[:, eyes:], model.extra_points[:, :eyes]]
        glosses = [SKIN_GLOSS] * 4 + [EYE_GLOSS]  # (weight, exponent) of the Blinn-Phong highlight
        matrix, offset = self._camera(rotation)
        projected = [self._project(part, matrix, offset) for part in parts]
        bins = padded * padded
        zbuffer = np.full(bins, np.inf, np.float32)
        for pixel, depth in projected:
            np.minimum.at(zbuffer, pixel, depth)
        count = np.zeros(bins)
        colour = np.zeros((channels, bins))
        visibility = []
        shadowed = self.shadows and light.strength > 0
        gaps = self._shadow_test(parts, light_head) if shadowed else [None] * len(parts)
        half_vector = light_head + rotation[2]  # rotation[2]: the direction to the camera, in head coordinates
        half_vector /= np.linalg.norm(half_vector)
        for (pixel, depth), part, gap, (gloss, exponent) in zip(projected, parts, gaps, glosses):
            visible = depth <= zbuffer[pixel] + self._depth_eps
            visibility.append(visible)
            if debug and part is parts[0]:
                continue  # the debug face grid stands in for the face points, but is not drawn
            shade = light_head @ part[3:6]
            np.maximum(shade, 0.0, out=shade)
            if shadowed:
                # Slope-scaled bias: surfaces grazed by the light spread over many depth values per
                # shadow-map pixel and would otherwise shadow themselves (acne).
                cos = np.maximum(shade, 0.15)
                bias = SHADOW_BIAS_PIXELS * (1 + np.sqrt(1 - np.minimum(cos, 1) ** 2) / cos)
                in_light = gap + bias >= 0
                shade *= in_light
            # White highlight (not tinted by the albedo): sheen on skin, catchlights in the eyes.
            highlight = _power(np.maximum(half_vector @ part[3:6], 0.0), exponent)
            highlight *= np.float32(gloss * light.strength) * (shade > 0) * visible
            shade *= light.strength
            shade += light.ambient
            shade *= visible
            count += np.bincount(pixel, visible, minlength=bins)
            for c in range(channels):
                colour[c] += np.bincount(pixel, shade * part[6 + c] + highlight, minlength=bins)
        inner = (slice(1, -1), slice(1, -1))
        count = count.reshape(padded, padded)[inner]
        covered = count > 0
        image = (colour.reshape(channels, padded, padded)[:, 1:-1, 1:-1] / np.maximum(count, 1)).transpose(1, 2, 0)
        image, covered = _fill_holes(image, covered)
        image = np.where(covered[..., None], image, model.background)
        image = (2.0 * np.clip(image, 0.0, 1.0) - 1.0).astype(np.float32)
        if debug:
            shape = grid_face.shape[1:]
            front = (rotation[2, 0] * grid_face[3] + rotation[2, 1] * grid_face[4] + rotation[2, 2] * grid_face[5]) > 0.2
            pixel, depth = projected[0]
            row, col = np.divmod(pixel, padded)
            return image, {
                "visible": visibility[0].reshape(shape),
                # Clearly behind another surface (not just a neighbour on the same pixel).
                "occluded": (depth > zbuffer[pixel] + 0.1).reshape(shape),
                "front_facing": front,
                "in_frame": ((row > 0) & (row <= size) & (col > 0) & (col <= size)).reshape(shape),
                "theta": model.box_theta, "phi": model.box_phi, "params": model.params,
            }
        return image

    def surface_visibility(self, identity, expression="neutral", intensity=1.0, yaw=0.0, pitch=0.0):
        """Per grid point of the face region (rows = `phi`, cols = `theta` of the returned axes):
        `visible` (wins the z-buffer), `occluded` (> 0.1 head units behind the visible surface
        on its pixel), `front_facing` (normal towards the camera) and `in_frame`. Front-facing
        but occluded points are self-occluded (e.g. the far cheek behind the nose)."""
        model = self._identity(identity)
        e = self.expression_index(expression)
        return self._render(model, e, float(intensity), float(yaw), float(pitch), EVEN_LIGHT, debug=True)[1]

    # ----------------------------------------------------------------------------- data sets
    def _lights(self, lights, n_lights, light_seed, harsh_light_prob):
        if isinstance(lights, str):
            if lights == "random":
                rng = np.random.default_rng([self.seed, int(light_seed), 0x11])
                return [self.sample_light(rng, harsh=bool(rng.random() < harsh_light_prob)) for _ in range(n_lights)]
            return [self._light(lights)]
        if isinstance(lights, Light):
            return [lights]
        return [self._light(light) for light in lights]

    def faceset(self, identities=range(20), expressions=range(7), yaws=(-60, -45, -30, -15, 0, 15, 30, 45, 60),
                pitches=(0,), lights=("even",), intensities=(1.0,), n_lights=4, light_seed=0,
                harsh_light_prob=0.5, noise=0.0, blur=0.0, name="synthfer"):
        """A `FaceSet` over the full factor grid (identity-major, lights innermost).

        `lights`: a sequence of `Light` / "even", one `Light`, "even", or "random" (then `n_lights`
        lights drawn with `sample_light` from `(seed, light_seed)`, a fraction `harsh_light_prob`
        harsh). Labels: expression, identity, yaw, pitch, intensity, illumination (index into the
        light list), light_azimuth, light_elevation, light_strength, light_ambient.
        """
        light_list = self._lights(lights, n_lights, light_seed, harsh_light_prob)
        expression_ids = [self.expression_index(e) for e in expressions]
        grid = list(itertools.product(
            [self._identity_id(i) for i in identities], expression_ids, [float(t) for t in intensities],
            [float(y) for y in yaws], [float(p) for p in pitches], range(len(light_list)),
        ))
        if not grid:
            raise ValueError("SynthFER.faceset: the factor grid is empty.")
        ident, expr, inten, yaw, pitch, light_index = (np.array(c) for c in zip(*grid))
        chosen = [light_list[i] for i in light_index]
        images = self.render_batch(ident, expr, inten, yaw, pitch, chosen, noise, blur)
        return FaceSet(images, self._labels(ident, expr, inten, yaw, pitch, light_index, chosen), EXPRESSIONS, name)

    @staticmethod
    def _labels(ident, expr, inten, yaw, pitch, light_index, lights):
        return {
            "expression": np.asarray(expr, np.int64),
            "identity": np.asarray(ident, np.int64),
            "yaw": np.asarray(yaw, np.float32),
            "pitch": np.asarray(pitch, np.float32),
            "intensity": np.asarray(inten, np.float32),
            "illumination": np.asarray(light_index, np.int64),
            "light_azimuth": np.array([light.azimuth for light in lights], np.float32),
            "light_elevation": np.array([light.elevation for light in lights], np.float32),
            "light_strength": np.array([light.strength for light in lights], np.float32),
            "light_ambient": np.array([light.ambient for light in lights], np.float32),
        }

    def sample(self, n, rng_seed=0, yaw_range=(-90, 90), pitch_range=(-30, 30), harsh_light_prob=0.25,
               intensity_range=(0.0, 1.0), identities=1000, expressions=range(7), noise_range=(0.0, 0.0),
               blur_range=(0.0, 0.0), name="synthfer-sample"):
        """A `FaceSet` of `n` faces with random factors (deterministic from `(seed, rng_seed)`).

        `identities`: an int (draw from `range(identities)`) or a sequence of ids. Each face gets
        a random light (`sample_light`, harsh with probability `harsh_light_prob`); its label
        `illumination` is 1 for harsh, 0 for soft.
        """
        rng = np.random.default_rng([self.seed, int(rng_seed), 0x5A])
        pool = np.arange(identities) if np.ndim(identities) == 0 else np.asarray(list(identities))
        expression_ids = np.array([self.expression_index(e) for e in expressions])
        ident = rng.choice(pool, n)
        expr = rng.choice(expression_ids, n)
        inten = rng.uniform(*intensity_range, n)
        yaw = rng.uniform(*yaw_range, n)
        pitch = rng.uniform(*pitch_range, n)
        harsh = rng.random(n) < harsh_light_prob
        lights = [self.sample_light(rng, harsh=bool(h)) for h in harsh]
        noise = rng.uniform(*noise_range, n)
        blur = rng.uniform(*blur_range, n)
        images = self.render_batch(ident, expr, inten, yaw, pitch, lights, noise, blur)
        labels = self._labels(ident, expr, inten, yaw, pitch, harsh.astype(np.int64), lights)
        return FaceSet(images, labels, EXPRESSIONS, name)


def _power(x, exponent):
    """`x ** exponent` for a positive integer exponent by repeated squaring (much faster than pow)."""
    result = None
    while exponent:
        if exponent & 1:
            result = x if result is None else result * x
        exponent >>= 1
        if exponent:
            x = x * x
    return result


def _fill_holes(image, covered):
    """Fill uncovered pixels that have >= 3 covered 4-neighbours (splatting gaps) with their mean."""
    for _ in range(2):
        c = np.pad(covered, 1).astype(np.float32)
        v = np.pad(image * covered[..., None], ((1, 1), (1, 1), (0, 0)))
        n = c[:-2, 1:-1] + c[2:, 1:-1] + c[1:-1, :-2] + c[1:-1, 2:]
        total = v[:-2, 1:-1] + v[2:, 1:-1] + v[1:-1, :-2] + v[1:-1, 2:]
        hole = ~covered & (n >= 3)
        if not hole.any():
            break
        image = np.where(hole[..., None], total / np.maximum(n, 1)[..., None], image)
        covered = covered | hole
    return image, covered
