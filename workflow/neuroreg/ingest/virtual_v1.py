"""Virtual mouse V1 neurons: Gabor simple and complex cells with an output nonlinearity.

A neuron ``a`` sees an image ``x`` (36 x 64 pixels, intensities ``img / 255 - 0.5``,
so 0 is mid-gray) through a Gabor receptive field ``g_a`` (unit L2 norm, no DC):

* simple cell: drive ``u = <g_a, x>`` (linear filter; rectified by the nonlinearity)
* complex cell: drive ``u = sqrt(<g_a, x>^2 + <g_a', x>^2)`` (energy model, quadrature pair)

The drive is standardised over the stimulus set at the centred eye,
``z = (u - mu_a) / sd_a`` (neurons adapted to the stimulus ensemble), and the rate
(expected events per trial at mean behaviour) is ::

    f_a(x) = A_a * h(softplus(z - theta_a)) ** p_a,   h(s) = s / (1 + s / s_max)  (saturation)

Eye position ``e = (e_x, e_y)`` (pixels) moves every receptive field on the
screen by ``e``: the response to image ``x`` with the eye at ``e`` equals the
response to ``x`` translated by ``-e`` with the eye centred (:func:`shift_images`).
Shifts are integer pixels, the uncovered border is mid-gray.

Geometry: the 64-pixel-wide screen spans about 120 degrees of visual angle
(~1.9 deg/pixel), so the mouse's peak spatial frequency of ~0.04 cycles/degree
is a period of ~13 pixels.

Shared variability: every neuron also carries loadings on ``K`` latent factors
of the trial's internal state (:mod:`neuroreg.virtual_scan` draws the factors),
``M_a`` (K,) in its log gain and ``L_a`` (K,) in an additive input, both drawn
per neuron from population distributions (``V1Params.latent_*``): factor 1 has a
positive mean loading (a shared gain and drive, like arousal), the others
random-sign loadings (shared fluctuations that excite some neurons and suppress
others).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["V1Params", "Population", "gabor_pair", "make_population", "latent_loadings", "normalize_images",
           "shift_images", "drives", "calibrate", "nonlinearity", "rates"]


@dataclass
class V1Params:
    """Statistics of the virtual population (defaults: the config's ``virtual_v1`` section)."""

    complex_fraction: float = 0.6      # fraction of complex (energy-model) cells
    deg_per_pixel: float = 1.875       # 120 degrees over 64 pixels
    sf_peak_cpd: float = 0.04          # median preferred spatial frequency, cycles/degree
    sf_sd_log: float = 0.35            # sd of log spatial frequency across neurons
    period_range_px: tuple = (6.0, 25.0)  # clip of spatial periods, pixels
    rf_sigma_range_px: tuple = (3.0, 8.0)  # clip of the Gaussian envelope sd, pixels
    rf_centre_fraction: float = 0.5    # RF centres uniform in the central fraction of the screen (each axis)
    threshold_mean: float = 1.0        # theta_a ~ N(mean, sd), in sd units of the drive
    threshold_sd: float = 0.3
    saturation: float = 6.0            # the rectified drive saturates smoothly at this value (limits heavy tails)
    rate_median: float = 8.0           # A_a ~ LogNormal: events per trial scale
    rate_sd_log: float = 1.2
    noise_k_median: float = 20.0       # gamma overdispersion shape k_a ~ LogNormal (smaller = noisier)
    noise_k_sd_log: float = 2.6
    noise_k_min: float = 0.1           # lower clip of k_a (avoids extreme heavy tails)
    event_amplitude_shape: float = 2.0  # shape of the gamma-distributed amplitude of one calcium event
    b_run_mean: float = 0.15           # gain coefficients per neuron: exp(b_run run_z + b_pupil pupil_z + ...)
    b_run_sd: float = 0.08
    b_pupil_mean: float = 0.05
    b_pupil_sd: float = 0.05
    b_dpupil_sd: float = 0.05
    eye_sd_px: float = 1.0             # sd of the eye position per axis, pixels (AR(1) over trials)
    animal_sd: float = 0.1             # sd of the per-animal log-multipliers of sf, rate, noise and b_run
    # shared trial-to-trial variability (K latent factors per trial, see neuroreg.virtual_scan)
    latent_factors: int = 3            # K; 0 = independent noise only
    latent_behavior_share: float = 0.25  # fraction of each factor's variance explained by running and pupil
    latent_rho: float = 0.5            # lag-1 autocorrelation over trials of the unobserved internal state
    latent_gain_mean: float = 0.2      # mean loading of factor 1 in the log gain (loadings ~ N(mean, sd) per neuron)
    latent_gain_sd: float = 0.1        # sd of every factor's log-gain loading across neurons
    latent_additive_mean: float = 0.15  # mean loading of factor 1 in the additive input, units of A_a
    latent_additive_sd: float = 0.3    # sd of every factor's additive loading across neurons, units of A_a

    @classmethod
    def from_config(cls, cfg: dict) -> "V1Params":
        """Pick this dataclass's keys out of the config's ``virtual_v1`` section (``n_neurons``, ``scans`` skipped).

        An unknown key raises ``ValueError`` naming it (a typo would otherwise be silently ignored).
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - names - {"n_neurons", "scans"})
        if unknown:
            raise ValueError(f"config.yaml: virtual_v1: unknown keys {unknown}; known: {sorted(names)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items() if k in names})


@dataclass
class Population:
    """Per-neuron parameters, all arrays of shape (n_neurons,) unless noted.

    ``filters`` (H*W, n_neurons) is the even Gabor of every neuron, ``quadrature``
    (H*W, n_neurons) the odd partner (used by complex cells only).
    """

    neuron_id: np.ndarray
    is_complex: np.ndarray
    centre: np.ndarray          # (n, 2) x, y in pixels
    orientation: np.ndarray     # radians
    period: np.ndarray          # pixels
    sigma: np.ndarray           # pixels
    aspect: np.ndarray
    phase: np.ndarray           # radians
    threshold: np.ndarray
    power: np.ndarray
    rate: np.ndarray            # A_a
    noise_k: np.ndarray         # gamma shape of the trial-to-trial overdispersion
    b_behavior: np.ndarray      # (n, 3) gain coefficients for pupil, d pupil, running (z-scored)
    filters: np.ndarray
    quadrature: np.ndarray
    shape: tuple
    saturation: float = 6.0
    drive_mean: np.ndarray | None = None
    drive_std: np.ndarray | None = None
    latent_gain: np.ndarray | None = None      # (n, K) loadings M_a of the latent factors in the log gain
    latent_additive: np.ndarray | None = None  # (n, K) loadings L_a in the additive input, units of rate A_a

    @property
    def n_neurons(self) -> int:
        return len(self.neuron_id)


def gabor_pair(shape, centre, orientation, period, sigma, aspect, phase) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm, zero-mean Gabor filters at ``phase`` and ``phase + pi/2``: two (H*W, n) float32 arrays.

    ``centre`` (n, 2) is x, y in pixels; the carrier runs along ``orientation``
    (radians, 0 = vertical bars), ``period`` and ``sigma`` in pixels, ``aspect``
    stretches the envelope along the bars.
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f32 = lambda a: np.asarray(a, np.float32)[:, None, None]  # noqa: E731
    dx, dy = xx[None] - f32(centre[:, 0]), yy[None] - f32(centre[:, 1])
    c, s = f32(np.cos(orientation)), f32(np.sin(orientation))
    xr, yr = dx * c + dy * s, -dx * s + dy * c
    env = np.exp(-(xr**2 + (yr / f32(aspect)) ** 2) / (2 * f32(sigma) ** 2))
    arg = 2 * np.pi * xr / f32(period) + f32(phase)
    out = []
    for g in (env * np.cos(arg), -env * np.sin(arg)):  # cos(arg + pi/2) = -sin(arg)
        # remove the envelope-weighted mean so the filter ignores uniform luminance
        dc = g.sum((1, 2), dtype=np.float64) / env.sum((1, 2), dtype=np.float64)
        g -= env * dc.astype(np.float32)[:, None, None]
        g /= np.linalg.norm(g.reshape(len(g), -1), axis=1)[:, None, None]
        g[np.abs(g) < 1e-6] = 0.0  # no float32 denormals in the tails (they slow matmuls ~10x)
        out.append(np.ascontiguousarray(g.reshape(len(g), -1).T))
    return out[0], out[1]


def make_population(n_neurons: int, *, seed: int, animal: int, session: int, shape=(36, 64),
                    params: V1Params | None = None) -> Population:
    """Draw a population: statistics shared by ``animal``, the neurons themselves by (animal, session).

    Neuron ids are ``animal * 10**6 + session * 10**4 + k`` (unique per scan while
    n_neurons < 10**4; larger populations continue the count).
    """
    p = params or V1Params()
    a_rng = np.random.default_rng([seed, animal, 0])  # per-animal statistics
    sf_mult, rate_mult, k_mult = np.exp(p.animal_sd * a_rng.standard_normal(3))
    b_run_shift = p.animal_sd * a_rng.standard_normal()
    rng = np.random.default_rng([seed, animal, session, 1])
    n = n_neurons
    h, w = shape
    is_complex = rng.random(n) < p.complex_fraction
    margin = (1 - p.rf_centre_fraction) / 2
    centre = np.stack([w * rng.uniform(margin, 1 - margin, n), h * rng.uniform(margin, 1 - margin, n)], 1)
    orientation = rng.uniform(0, np.pi, n)
    period_med = 1 / (p.sf_peak_cpd * p.deg_per_pixel) / sf_mult
    period = np.clip(period_med * np.exp(p.sf_sd_log * rng.standard_normal(n)), *p.period_range_px)
    sigma = np.clip(period * rng.uniform(0.3, 0.55, n), *p.rf_sigma_range_px)  # ~1-1.5 cycles: broad tuning
    aspect = rng.uniform(0.8, 1.5, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    threshold = p.threshold_mean + p.threshold_sd * rng.standard_normal(n)
    power = rng.uniform(1.0, 1.8, n)
    rate = p.rate_median * rate_mult * np.exp(p.rate_sd_log * rng.standard_normal(n))
    noise_k = np.maximum(p.noise_k_median * k_mult * np.exp(p.noise_k_sd_log * rng.standard_normal(n)), p.noise_k_min)
    b = np.stack([p.b_pupil_mean + p.b_pupil_sd * rng.standard_normal(n),
                  p.b_dpupil_sd * rng.standard_normal(n),
                  p.b_run_mean + b_run_shift + p.b_run_sd * rng.standard_normal(n)], 1)
    filters, quadrature = gabor_pair(shape, centre, orientation, period, sigma, aspect, phase)
    latent_gain, latent_additive = latent_loadings(n, p, np.random.default_rng([seed, animal, session, 6]))
    return Population(
        neuron_id=animal * 10**6 + session * 10**4 + np.arange(n, dtype=np.int64),
        is_complex=is_complex, centre=centre, orientation=orientation, period=period, sigma=sigma,
        aspect=aspect, phase=phase, threshold=threshold, power=power, rate=rate, noise_k=noise_k,
        b_behavior=b, filters=filters, quadrature=quadrature,
        shape=tuple(shape), saturation=p.saturation, latent_gain=latent_gain, latent_additive=latent_additive)


def latent_loadings(n_neurons: int, params: V1Params, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron loadings on the K latent factors: ``(M (n, K) log-gain, L (n, K) additive, units of A_a)``.

    Every entry ~ N(0, sd) of its kind; factor 1 adds the mean loading (``latent_gain_mean``,
    ``latent_additive_mean``), so it raises or lowers most neurons together. Drawn from a stream
    of its own, so the other neuron parameters do not depend on K.
    """
    k = int(params.latent_factors)
    gain = params.latent_gain_sd * rng.standard_normal((n_neurons, k))
    additive = params.latent_additive_sd * rng.standard_normal((n_neurons, k))
    if k:
        gain[:, 0] += params.latent_gain_mean
        additive[:, 0] += params.latent_additive_mean
    return gain, additive


def normalize_images(images: np.ndarray) -> np.ndarray:
    """uint8 (n, H, W) -> float32 (n, H, W) in [-0.5, 0.5], 0 = mid-gray."""
    return np.asarray(images, dtype=np.float32) / np.float32(255.0) - np.float32(0.5)


def shift_images(x: np.ndarray, shift) -> np.ndarray:
    """Translate images (n, H, W) by integer pixels ``shift = (dx, dy)``; uncovered pixels are 0 (gray).

    ``out[:, y, x] = in[:, y - dy, x - dx]``.
    """
    dx, dy = int(shift[0]), int(shift[1])
    n, h, w = x.shape
    out = np.zeros_like(x)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def drives(pop: Population, x: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Raw drive u (n_images, n_neurons) float32 of normalised images ``x`` (n, H, W), eye centred."""
    n = len(x)
    flat = x.reshape(n, -1)
    cplx = np.flatnonzero(pop.is_complex)
    quad = pop.quadrature[:, cplx]
    out = np.empty((n, pop.n_neurons), np.float32)
    for s in range(0, n, chunk):
        u = flat[s:s + chunk] @ pop.filters
        if len(cplx):
            q = flat[s:s + chunk] @ quad
            u[:, cplx] = np.sqrt(u[:, cplx] ** 2 + q**2)
        out[s:s + chunk] = u
    return out


def calibrate(pop: Population, images: np.ndarray, u: np.ndarray | None = None) -> Population:
    """Set each neuron's drive mean and sd over the stimulus set ``images`` (uint8, eye centred).

    ``u``: their drives if already computed (:func:`drives`), to save the matmul.
    """
    u = drives(pop, normalize_images(images)) if u is None else u
    pop.drive_mean = u.mean(0, dtype=np.float64)
    pop.drive_std = np.maximum(u.std(0, dtype=np.float64), 1e-6)
    return pop


def nonlinearity(pop: Population, u: np.ndarray) -> np.ndarray:
    """Rate f = A * h(softplus(z - theta)) ** p of raw drives u (n, n_neurons); float32, >= 0."""
    z = u - pop.drive_mean.astype(np.float32)
    z /= pop.drive_std.astype(np.float32)
    z -= pop.threshold.astype(np.float32)
    np.logaddexp(np.float32(0), z, out=z)
    z /= 1 + z / np.float32(pop.saturation)  # smooth saturation of the rectified drive at `saturation`
    np.power(z, pop.power.astype(np.float32), out=z)
    z *= pop.rate.astype(np.float32)
    return z


def rates(pop: Population, images: np.ndarray, shifts: np.ndarray | None = None, chunk: int = 1024) -> np.ndarray:
    """Noise-free rate at mean behaviour, (n, n_neurons) float32.

    ``images`` (n, H, W) uint8; ``shifts`` (n, 2) integer eye positions (x, y) in
    pixels or None for the centred eye. The receptive fields move by the eye
    position, i.e. the image moves by ``-shift`` relative to them.
    """
    if pop.drive_mean is None:
        raise ValueError("population not calibrated: call calibrate(pop, stimulus_images) first")
    out = np.empty((len(images), pop.n_neurons), np.float32)
    for s in range(0, len(images), chunk):
        x = normalize_images(images[s:s + chunk])
        if shifts is not None:
            sh = np.asarray(shifts[s:s + chunk])
            for d in np.unique(sh, axis=0):
                m = (sh == d).all(1)
                if d.any():
                    x[m] = shift_images(x[m], -d)
        out[s:s + chunk] = nonlinearity(pop, drives(pop, x))
    return out
