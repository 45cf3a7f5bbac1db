"""The 15 common corruptions of CIFAR-10-C (Hendrycks & Dietterich 2019) at severities 1-5.

Every function takes a batch of RGB images ``x`` (N, 32, 32, 3) float in [0, 1], a severity 1-5 and a
``numpy.random.Generator``, and returns the corrupted batch in [0, 1]. The formulas and every severity
constant are those of the benchmark's own CIFAR generation code (``make_cifar_c.py`` of
github.com/hendrycks/robustness, written for 32 x 32 images; ImageNet-C's constants, which the
``imagecorruptions`` package uses, are larger). The code here is written for this project with numpy,
scipy and Pillow, vectorised over the batch; where the benchmark calls a library this project does not
use, :data:`SOURCES` says what replaces it:

* scikit-image ``gaussian`` -> ``scipy.ndimage.gaussian_filter`` (same truncation, border mode);
* OpenCV ``filter2D`` / ``GaussianBlur`` / ``warpAffine`` -> ``scipy.ndimage`` with OpenCV's
  default border (reflect-101, scipy's ``mirror``);
* ImageMagick's motion blur (Wand) -> :func:`motion_kernel_blur`, ImageMagick's kernel (a one-sided line
  of ``2 radius + 1`` Gaussian-weighted taps at integer pixel offsets) written out;
* scikit-image's salt-and-pepper noise and RGB <-> HSV -> the same arithmetic in numpy;
* Pillow (JPEG, box resize): Pillow, as in the benchmark;
* ``frost``: the benchmark blends crops of six frost photographs that are not part of CIFAR-10; given
  ``frost_images`` (a folder with them) they are used, else a seeded procedural ice texture stands in
  (:func:`frost_texture`): the severities' blend weights are the benchmark's, the texture is not.

As the benchmark does, a corrupted image is stored as ``uint8`` by truncation (``np.uint8(255 x)``),
and the project then converts it to grayscale like the training data (:func:`neuroreg.ingest.cifar.to_grayscale`):
the models see CIFAR-10-C as the real ``.npy`` files would give it (:func:`.corruption_sets.load_cifar10c`).
The sets of the stage's HDF5 file, the real CIFAR-10-C and the accuracy table: :mod:`.corruption_sets`.
"""

from __future__ import annotations

import io
import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..files import InputError

SEVERITIES = (1, 2, 3, 4, 5)
SIDE = 32
LUMA = np.array([0.299, 0.587, 0.114])  # OpenCV's RGB2GRAY (snow)


def _gaussian(x: np.ndarray, sigma: float, *, mode: str = "nearest", truncate: float = 4.0) -> np.ndarray:
    """scikit-image ``gaussian`` on (N, H, W, C) or (N, H, W): blur the two spatial axes only."""
    if sigma <= 0:
        return x.copy()
    sig = [0, sigma, sigma] + [0] * (x.ndim - 3)
    return ndimage.gaussian_filter(x, sig, mode=mode, truncate=truncate)


# ------------------------------------------------------------------------------------------------ noise
def gaussian_noise(x, severity, rng):
    c = [0.04, 0.06, 0.08, 0.09, 0.10][severity - 1]
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1)


def shot_noise(x, severity, rng):
    c = [500, 250, 100, 75, 50][severity - 1]
    return np.clip(rng.poisson(x * c) / c, 0, 1)


def impulse_noise(x, severity, rng):
    """Salt and pepper on a fraction ``amount`` of the pixel values (each channel on its own), half each."""
    amount = [0.01, 0.02, 0.03, 0.05, 0.07][severity - 1]
    hit = rng.random(x.shape) < amount
    salt = rng.random(x.shape) < 0.5
    out = x.copy()
    out[hit & salt] = 1.0
    out[hit & ~salt] = 0.0
    return out


# ------------------------------------------------------------------------------------------------- blur
def _cv_gaussian_taps(sigma: float, k: int = 3) -> np.ndarray:
    i = np.arange(k) - (k - 1) / 2
    w = np.exp(-(i**2) / (2 * sigma**2))
    return w / w.sum()


def disk(radius: float, alias_blur: float) -> np.ndarray:
    """The benchmark's anti-aliased disk kernel: a normalised disk on a 17 x 17 grid (radius <= 8),
    blurred by a 3 x 3 Gaussian of sd ``alias_blur`` (OpenCV ``GaussianBlur``, reflect-101 border)."""
    half = 8 if radius <= 8 else int(math.ceil(radius))
    ksize = 3 if radius <= 8 else 5
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    k = ((xx**2 + yy**2) <= radius**2).astype(np.float64)
    k /= k.sum()
    taps = _cv_gaussian_taps(alias_blur, ksize)
    k = ndimage.correlate1d(k, taps, axis=0, mode="mirror")
    return ndimage.correlate1d(k, taps, axis=1, mode="mirror")


def defocus_blur(x, severity, rng):
    radius, alias = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    k = disk(radius, alias)
    return np.clip(ndimage.correlate(x, k[None, :, :, None], mode="mirror"), 0, 1)


def glass_blur(x, severity, rng):
    """Blur, then move pixels locally (sequentially, bottom-right to top-left, ``iterations`` times), then
    blur again. The benchmark draws offsets with ``randint(-delta, delta)``, whose upper end is exclusive
    (offsets in {-1, 0} for delta 1), and "swaps" with ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on numpy
    views of RGB pixels, which copies the neighbour into (h, w) and leaves (h', w') as it was; that is what
    CIFAR-10-C holds, so that is what is done here."""
    sigma, delta, iterations = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    n = len(x)
    img = np.uint8(_gaussian(x, sigma) * 255)
    rows = np.arange(n)
    for _ in range(iterations):
        for h in range(SIDE - delta, delta, -1):
            for w in range(SIDE - delta, delta, -1):
                dx, dy = rng.integers(-delta, delta, size=(2, n))
                hp, wp = h + dy, w + dx
                img[rows, h, w] = img[rows, hp, wp]
    return np.clip(_gaussian(img / 255.0, sigma), 0, 1)


def motion_kernel_blur(x: np.ndarray, radius: int, sigma: float, angles_deg: np.ndarray) -> np.ndarray:
    """ImageMagick's ``MotionBlurImage`` on (N, H, W, C): out(p) = sum_i w_i x(p + o_i), i = 0 .. 2 radius,
    w_i ~ exp(-i^2 / (2 sigma^2)) normalised, o_i = round(i (cos a, sin a)) (x right, y down), edge pixels
    repeated outside the image; one angle per image."""
    width = 2 * int(radius) + 1
    i = np.arange(width)
    w = np.exp(-(i**2) / (2 * sigma**2))
    w /= w.sum()
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    ox = np.rint(i[None, :] * np.cos(a)[:, None]).astype(int)  # (N, width)
    oy = np.rint(i[None, :] * np.sin(a)[:, None]).astype(int)
    n, hgt, wid = x.shape[:3]
    yy, xx = np.meshgrid(np.arange(hgt), np.arange(wid), indexing="ij")
    rows = np.arange(n)[:, None, None]
    out = np.zeros_like(x, dtype=np.float64)
    for k in range(width):
        ys = np.clip(yy[None] + oy[:, k, None, None], 0, hgt - 1)
        xs = np.clip(xx[None] + ox[:, k, None, None], 0, wid - 1)
        out += w[k] * x[rows, ys, xs]
    return out


def motion_blur(x, severity, rng):
    radius, sigma = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)][severity - 1]
    # the benchmark blurs the 8-bit image and decodes 8 bits again
    x8 = np.uint8(np.clip(x, 0, 1) * 255 + 0.5) / 255.0
    out = motion_kernel_blur(x8, radius, sigma, rng.uniform(-45, 45, size=len(x)))
    return np.clip(np.round(out * 255) / 255, 0, 1)


def zoom_matrix(n_in: int, factor: float) -> np.ndarray:
    """(n_out, n_in) linear-interpolation weights of ``scipy.ndimage.zoom(order=1)`` along one axis:
    n_out = round(n_in factor), output i samples input i (n_in - 1) / (n_out - 1)."""
    n_out = int(round(n_in * factor))
    pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    lo = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    w = np.zeros((n_out, n_in))
    np.add.at(w, (np.arange(n_out), lo), 1 - frac)
    np.add.at(w, (np.arange(n_out), hi), frac)
    return w


def clipped_zoom(img: np.ndarray, factor: float) -> np.ndarray:
    """Zoom the centre of (N, H, W[, C]) by ``factor`` (bilinear, as scipy.ndimage.zoom with order 1, as a
    matrix product per axis) and crop back to H x W."""
    h = img.shape[1]
    ch = int(np.ceil(h / factor))
    top = (h - ch) // 2
    crop = img[:, top : top + ch, top : top + ch]
    w = zoom_matrix(ch, factor).astype(img.dtype if img.dtype.kind == "f" else np.float64)
    if crop.ndim == 4:  # (N, h, w, C): the image axes last for a broadcast matrix product
        out = (w @ crop.transpose(0, 3, 1, 2) @ w.T).transpose(0, 2, 3, 1)
    else:
        out = w @ crop @ w.T
    trim = (out.shape[1] - h) // 2
    return out[:, trim : trim + h, trim : trim + h]


def zoom_blur(x, severity, rng):
    top = [1.06, 1.11, 1.16, 1.21, 1.26][severity - 1]
    factors = np.arange(1, top, 0.01)
    x = x.astype(np.float32)
    out = np.zeros_like(x)
    for z in factors:
        out += clipped_zoom(x, z)
    return np.clip((x + out) / (len(factors) + 1), 0, 1)


# ---------------------------------------------------------------------------------------------- weather
def plasma_fractal(n: int, rng, mapsize: int = SIDE, wibbledecay: float = 3.0) -> np.ndarray:
    """(n, mapsize, mapsize) diamond-square height maps in [0, 1], as the benchmark's fog draws them."""
    assert mapsize & (mapsize - 1) == 0, "mapsize must be a power of two"
    m = np.zeros((n, mapsize, mapsize))
    step, wibble = mapsize, 100.0

    def wibbled(a):
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = m[:, 0:mapsize:step, 0:mapsize:step]
        sq = corners + np.roll(corners, -1, axis=1)
        sq = sq + np.roll(sq, -1, axis=2)
        m[:, half:mapsize:step, half:mapsize:step] = wibbled(sq)
        dr = m[:, half:mapsize:step, half:mapsize:step]
        ul = m[:, 0:mapsize:step, 0:mapsize:step]
        lt = dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=2)
        m[:, 0:mapsize:step, half:mapsize:step] = wibbled(lt)
        tt = dr + np.roll(dr, 1, axis=2) + ul + np.roll(ul, -1, axis=1)
        m[:, half:mapsize:step, 0:mapsize:step] = wibbled(tt)
        step //= 2
        wibble /= wibbledecay
    m -= m.min(axis=(1, 2), keepdims=True)
    return m / m.max(axis=(1, 2), keepdims=True)


def fog(x, severity, rng):
    strength, decay = [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)][severity - 1]
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    x = x + strength * plasma_fractal(len(x), rng, wibbledecay=decay)[..., None]
    return np.clip(x * peak / (peak + strength), 0, 1)


def frost_texture(n: int, rng) -> np.ndarray:
    """(n, 32, 32, 3) procedural frost in [0, 255]: bright thin crystal needles over a hazy fractal, the
    stand-in for the benchmark's frost photographs when they are not given (module docstring)."""
    haze = 0.35 + 0.3 * plasma_fractal(n, rng, wibbledecay=2.0)
    needles = np.zeros((n, SIDE * 2, SIDE * 2))
    rows = np.arange(n)
    for _ in range(40):
        y0, x0 = rng.uniform(0, SIDE * 2, size=(2, n))
        a = rng.uniform(0, np.pi, size=n)
        length = rng.uniform(4, 16, size=n)
        for t in np.linspace(0, 1, 24):
            yy = np.clip((y0 + t * length * np.sin(a)).astype(int), 0, SIDE * 2 - 1)
            xx = np.clip((x0 + t * length * np.cos(a)).astype(int), 0, SIDE * 2 - 1)
            needles[rows, yy, xx] = 1.0
    needles = ndimage.gaussian_filter(needles, [0, 0.6, 0.6])
    needles = needles[:, ::2, ::2] / max(needles.max(), 1e-12)
    tex = np.clip(haze + 0.8 * needles, 0, 1) * 255
    return np.repeat(tex[..., None], 3, axis=-1)


def _frost_photos(folder) -> list[np.ndarray]:
    from PIL import Image

    folder = Path(folder)
    names = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg"]
    out = []
    for name in names:
        p = folder / name
        if not p.is_file():
            raise InputError(p, None, "missing: robustness.corruptions.frost_images must hold the six frost pictures "
                             f"of the benchmark ({', '.join(names)})")
        img = Image.open(p).convert("RGB")
        img = img.resize((max(1, int(img.width * 0.2)), max(1, int(img.height * 0.2))), Image.BILINEAR)
        out.append(np.asarray(img, dtype=np.float64))
    return out


def frost(x, severity, rng, frost_images=None):
    a, b = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    if frost_images is None:
        tex = frost_texture(len(x), rng)
    else:
        photos = _frost_photos(frost_images)
        tex = np.empty(x.shape)
        for k in range(len(x)):
            p = photos[rng.integers(5)]  # the benchmark draws from the first five
            y0, x0 = rng.integers(0, p.shape[0] - SIDE), rng.integers(0, p.shape[1] - SIDE)
            tex[k] = p[y0 : y0 + SIDE, x0 : x0 + SIDE]
    return np.clip(a * x * 255 + b * tex, 0, 255) / 255


def snow(x, severity, rng):
    loc, scale, zoom, threshold, radius, sigma, mix = [
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ][severity - 1]
    n = len(x)
    layer = rng.normal(size=(n, SIDE, SIDE), loc=loc, scale=scale)
    layer = clipped_zoom(layer, zoom)
    layer[layer < threshold] = 0
    layer = np.uint8(np.clip(layer, 0, 1) * 255) / 255.0  # the benchmark goes through an 8-bit PNG
    layer = motion_kernel_blur(layer[..., None], radius, sigma, rng.uniform(-135, -45, size=n))
    layer = np.round(layer * 255) / 255
    gray = (x @ LUMA)[..., None]
    x = mix * x + (1 - mix) * np.maximum(x, gray * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2, axes=(1, 2)), 0, 1)


def brightness(x, severity, rng):
    """HSV value + c (clipped), back to RGB: with hue and saturation fixed, RGB scales with the value."""
    c = [0.05, 0.1, 0.15, 0.2, 0.3][severity - 1]
    v = x.max(axis=-1, keepdims=True)
    v2 = np.clip(v + c, 0, 1)
    safe = np.where(v > 0, v, 1)
    return np.clip(np.where(v > 0, x * v2 / safe, v2), 0, 1)


# ---------------------------------------------------------------------------------------------- digital
def contrast(x, severity, rng):
    c = [0.75, 0.5, 0.4, 0.3, 0.15][severity - 1]
    means = x.mean(axis=(1, 2), keepdims=True)  # per image and channel
    return np.clip((x - means) * c + means, 0, 1)


def _affine_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """OpenCV ``getAffineTransform``: the 2 x 3 M with dst = M [src; 1] for three (x, y) points."""
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T


def elastic_transform(x, severity, rng):
    s = SIDE
    alpha, sigma, jitter = [(s * 0, s * 0, s * 0.08), (s * 0.05, s * 0.2, s * 0.07), (s * 0.08, s * 0.06, s * 0.06),
                            (s * 0.1, s * 0.04, s * 0.05), (s * 0.1, s * 0.03, s * 0.03)][severity - 1]
    n = len(x)
    center, size = np.float32([s, s]) // 2, s // 3
    src = np.float32([center + size, [center[0] + size, center[1] - size], center - size])
    yy, xx = np.meshgrid(np.arange(s, dtype=np.float64), np.arange(s, dtype=np.float64), indexing="ij")
    out = np.empty_like(x, dtype=np.float64)
    for k in range(n):
        dst = src + rng.uniform(-jitter, jitter, size=src.shape).astype(np.float32)
        m = _affine_matrix(src.astype(np.float64), dst.astype(np.float64))
        inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]  # warpAffine samples the source at M^-1 (x, y)
        sx = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
        sy = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
        warped = np.stack([ndimage.map_coordinates(x[k, :, :, c], [sy, sx], order=1, mode="mirror")
                           for c in range(x.shape[-1])], axis=-1)
        dx = _gaussian(rng.uniform(-1, 1, size=(1, s, s)), sigma, mode="reflect", truncate=3)[0] * alpha
        dy = _gaussian(rng.uniform(-1, 1, size=(1, s, s)), sigma, mode="reflect", truncate=3)[0] * alpha
        out[k] = np.stack([ndimage.map_coordinates(warped[:, :, c], [yy + dy, xx + dx], order=1, mode="reflect")
                           for c in range(x.shape[-1])], axis=-1)
    return np.clip(out, 0, 1)


def _pil_each(x, fn):
    from PIL import Image

    x8 = np.uint8(np.clip(x, 0, 1) * 255)
    return np.stack([np.asarray(fn(Image.fromarray(img)), dtype=np.float64) for img in x8]) / 255.0


def pixelate(x, severity, rng):
    from PIL import Image

    c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    small = int(SIDE * c)
    return _pil_each(x, lambda im: im.resize((small, small), Image.BOX).resize((SIDE, SIDE), Image.BOX))


def jpeg_compression(x, severity, rng):
    from PIL import Image

    quality = [80, 65, 58, 50, 40][severity - 1]

    def roundtrip(im):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        buf.seek(0)
        return Image.open(buf).convert("RGB")

    return _pil_each(x, roundtrip)


#: name -> (family, function); the benchmark's 15 corruptions in its order.
CORRUPTIONS = OrderedDict([
    ("gaussian_noise", ("noise", gaussian_noise)),
    ("shot_noise", ("noise", shot_noise)),
    ("impulse_noise", ("noise", impulse_noise)),
    ("defocus_blur", ("blur", defocus_blur)),
    ("glass_blur", ("blur", glass_blur)),
    ("motion_blur", ("blur", motion_blur)),
    ("zoom_blur", ("blur", zoom_blur)),
    ("snow", ("weather", snow)),
    ("frost", ("weather", frost)),
    ("fog", ("weather", fog)),
    ("brightness", ("weather", brightness)),
    ("contrast", ("digital", contrast)),
    ("elastic_transform", ("digital", elastic_transform)),
    ("pixelate", ("digital", pixelate)),
    ("jpeg_compression", ("digital", jpeg_compression)),
])
FAMILIES = ("noise", "blur", "weather", "digital")

#: where each corruption's implementation comes from (docs/STAGES.md, "Corruptions").
SOURCES = {
    "gaussian_noise": "written here (numpy), the benchmark's formula and constants",
    "shot_noise": "written here (numpy Poisson), the benchmark's formula and constants",
    "impulse_noise": "written here: scikit-image's salt-and-pepper arithmetic in numpy, the benchmark's amounts",
    "defocus_blur": "written here: the benchmark's disk kernel, OpenCV's filter2D as scipy.ndimage.correlate (reflect-101)",
    "glass_blur": "written here: scipy gaussian_filter for scikit-image's gaussian, the benchmark's pixel swaps",
    "motion_blur": "written here: ImageMagick's motion-blur kernel (one-sided Gaussian line) in numpy",
    "zoom_blur": "written here: scipy.ndimage.zoom (bilinear), as the benchmark",
    "snow": "written here: the benchmark's snow layer, ImageMagick's motion blur as for motion_blur",
    "frost": "written here: the benchmark's blend weights; its frost photographs when robustness.corruptions."
             "frost_images is set, else a procedural ice texture (not the benchmark's)",
    "fog": "written here: the benchmark's diamond-square plasma fractal, vectorised",
    "brightness": "written here: scikit-image's HSV value shift in closed form",
    "contrast": "written here (numpy), the benchmark's formula and constants",
    "elastic_transform": "written here: OpenCV's affine warp and scipy map_coordinates, the benchmark's constants",
    "pixelate": "Pillow box resize, as the benchmark",
    "jpeg_compression": "Pillow JPEG at the benchmark's qualities, as the benchmark",
}


def corruption_seed(seed: int, name: str, severity: int) -> np.random.Generator:
    """The generator of one corruption-severity set: fixed by (seed, name, severity), not by their order."""
    key = [int(seed), list(CORRUPTIONS).index(name), int(severity)]
    return np.random.default_rng(np.random.SeedSequence(key))


def corrupt(images_rgb: np.ndarray, name: str, severity: int, seed: int, *, frost_images=None,
            chunk: int = 1000) -> np.ndarray:
    """(N, 32, 32, 3) uint8 RGB -> (N, 32, 32, 3) uint8 corrupted (truncated to uint8 as the benchmark).

    Seeded by (seed, name, severity); processed in chunks of ``chunk`` images with one generator, so the
    result does not depend on how many sets were made before.
    """
    if name not in CORRUPTIONS:
        raise InputError("config", "robustness.corruptions.names", f"unknown corruption {name!r}; "
                         f"expected some of {list(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise InputError("config", "robustness.corruptions.severities", f"severity {severity!r} not in 1-5")
    images_rgb = np.asarray(images_rgb)
    if images_rgb.ndim != 4 or images_rgb.shape[1:] != (SIDE, SIDE, 3) or images_rgb.dtype != np.uint8:
        raise ValueError(f"expected (N, 32, 32, 3) uint8 RGB images, got {images_rgb.shape} {images_rgb.dtype}")
    rng = corruption_seed(seed, name, severity)
    fn = CORRUPTIONS[name][1]
    extra = {"frost_images": frost_images} if name == "frost" else {}
    out = np.empty_like(images_rgb)
    for start in range(0, len(images_rgb), chunk):
        x = images_rgb[start : start + chunk].astype(np.float64) / 255.0
        y = fn(x, severity, rng, **extra)
        out[start : start + chunk] = np.uint8(np.clip(y, 0, 1) * 255)
    return out
