"""Fit one encoder to one scan (section 2.2; recipe of Sinz et al. 2018 / neuralpredictors).

Normalization (sinzlab style, statistics from the ``train`` tier only): images z-scored with
the pixel mean/std of the training images; responses divided by each neuron's training std
(floored at 1% of the mean std); behaviour and pupil centre z-scored per column.
Loss: Poisson negative log-likelihood ``rate - y log(rate)`` summed over neurons, averaged
over the batch, plus a Laplacian smoothness penalty on the first-layer kernels
(``gamma_input``) and an L1 penalty on the readout features (``gamma_readout``).
Adam; after ``patience`` epochs without a better validation correlation the best weights are
restored and the learning rate is multiplied by ``lr_decay_factor``; the ``lr_decay_steps``-th
time patience runs out (or after ``max_epochs``) training stops with the best weights. The ``test`` tier
(oracle repeats) is never looked at here.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import defaults as config_defaults
from ..ingest.scan import Scan
from ..files import InputError
from ..measures import pearson, poisson_loss
from ..progress import Progress
from .model import Encoder

log = logging.getLogger(__name__)


_DEFAULT = config_defaults("encoder")


@dataclass
class EncoderConfig:
    """The ``encoder`` section of the config; defaults: the schema's (``neuroreg.config.defaults``)."""

    device: str = _DEFAULT["device"]
    hidden_channels: int = _DEFAULT["hidden_channels"]
    layers: int = _DEFAULT["layers"]
    input_kernel: int = _DEFAULT["input_kernel"]
    hidden_kernel: int = _DEFAULT["hidden_kernel"]
    skip: int = _DEFAULT["skip"]
    depth_separable: bool = _DEFAULT["depth_separable"]
    shifter: bool = _DEFAULT["shifter"]
    modulator: bool = _DEFAULT["modulator"]
    init_mu_range: float = _DEFAULT["init_mu_range"]
    init_sigma: float = _DEFAULT["init_sigma"]
    gamma_input: float = _DEFAULT["gamma_input"]
    gamma_readout: float = _DEFAULT["gamma_readout"]
    batch_size: int = _DEFAULT["batch_size"]
    lr: float = _DEFAULT["lr"]
    max_epochs: int = _DEFAULT["max_epochs"]
    patience: int = _DEFAULT["patience"]
    lr_decay_steps: int = _DEFAULT["lr_decay_steps"]
    lr_decay_factor: float = _DEFAULT["lr_decay_factor"]
    tolerance: float = _DEFAULT["tolerance"]
    validation_fraction: float = _DEFAULT["validation_fraction"]

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderConfig":
        """From an ``encoder`` config section; a key that is not a field is an error naming it. The
        section's execution keys (``threads``: how a job runs, not what it computes) are left out."""
        from ..grid import EXECUTION_KEYS

        d = {k: v for k, v in d.items() if k not in EXECUTION_KEYS}
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError("config", "encoder", f"unknown keys {unknown}")
        return cls(**d)


def resolve_device(device: str) -> torch.device:
    """'cpu', or a GPU of this job's own (claimed with a file lock, as co-training jobs do, so
    concurrent encoder jobs on a multi-GPU machine land on different devices)."""
    if device in ("auto", "cuda"):  # without a GPU: the CPU, logged (a warning where a scheduler gave one)
        from ..devices import select_device

        return select_device(device, key="encoder.device")
    return torch.device(device)


def split_tiers(scan: Scan, cfg: EncoderConfig, seed: int, path=None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and validation trials. Without a ``validation`` tier, a seeded
    ``validation_fraction`` of the training images (all their trials) is held out."""
    train = np.flatnonzero(scan.tier == "train")
    val = np.flatnonzero(scan.tier == "validation")
    if len(train) == 0:
        raise InputError(path, "tier", "no 'train' trials: an encoder needs training trials "
                         "(scans with only oracle/test trials, like antolik2016, cannot train one)")
    if len(val) == 0:
        images = np.unique(scan.trial_image[train])
        rng = np.random.default_rng(seed)
        n_val = max(1, int(round(cfg.validation_fraction * len(images))))
        if n_val >= len(images):
            raise InputError(path, "tier", "too few training images to hold out a validation set")
        held = np.isin(scan.trial_image[train], rng.choice(images, n_val, replace=False))
        train, val = train[~held], train[held]
    return train, val


def normalization(scan: Scan, train: np.ndarray) -> dict:
    """Statistics of the training tier (plain floats / float32 arrays)."""
    imgs = scan.images[np.unique(scan.trial_image[train])].astype(np.float64)
    r_std = scan.responses[train].astype(np.float64).std(0)
    r_std = np.maximum(r_std, 0.01 * r_std.mean() if r_std.mean() > 0 else 1.0)
    stats = {"image_mean": float(imgs.mean()), "image_std": float(imgs.std()) or 1.0,
             "response_std": r_std.astype(np.float32)}
    for key in ("behavior", "pupil_center"):
        x = getattr(scan, key)[train].astype(np.float64)
        sd = x.std(0)
        stats[f"{key}_mean"] = x.mean(0).astype(np.float32)
        stats[f"{key}_std"] = np.where(sd > 1e-8, sd, 1.0).astype(np.float32)
    return stats


class Tensors:
    """A scan normalized and moved to ``device`` once (so batches are pure indexing)."""

    def __init__(self, scan: Scan, stats: dict, device: torch.device):
        img = (scan.images.astype(np.float32) - stats["image_mean"]) / stats["image_std"]
        self.images = torch.from_numpy(img[:, None]).to(device)
        self.responses = torch.from_numpy((scan.responses / stats["response_std"]).astype(np.float32)).to(device)
        self.behavior = torch.from_numpy(
            ((scan.behavior - stats["behavior_mean"]) / stats["behavior_std"]).astype(np.float32)).to(device)
        self.pupil = torch.from_numpy(
            ((scan.pupil_center - stats["pupil_center_mean"]) / stats["pupil_center_std"]).astype(np.float32)).to(device)
        self.trial_image = torch.from_numpy(np.asarray(scan.trial_image, dtype=np.int64)).to(device)

    def batch(self, idx: torch.Tensor):
        return self.images[self.trial_image[idx]], self.behavior[idx], self.pupil[idx], self.responses[idx]


@torch.no_grad()
def predict_trials(model: Encoder, data: Tensors, trials: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Normalized predictions (n_trials, n_neurons) for the given trials with their own behaviour and eye."""
    model.eval()
    idx = torch.as_tensor(trials, dtype=torch.long, device=data.images.device)
    out = [model(*data.batch(idx[s:s + batch_size])[:3]).cpu() for s in range(0, len(idx), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, data.responses.shape[1]), np.float32)


@torch.no_grad()
def predict_images(model: Encoder, data: Tensors, batch_size: int = 256) -> np.ndarray:
    """Normalized predictions (n_images, n_neurons), behaviour at its training mean and eye at its mean (0 after
    z-scoring)."""
    model.eval()
    out = []
    for s in range(0, len(data.images), batch_size):
        x = data.images[s:s + batch_size]
        zeros_b = x.new_zeros(len(x), data.behavior.shape[1])
        zeros_p = x.new_zeros(len(x), 2)
        out.append(model(x, zeros_b, zeros_p).cpu())
    return torch.cat(out).numpy()


def fit(scan: Scan, cfg: EncoderConfig, seed: int, path=None, device: str | None = None):
    """Train an encoder on ``scan``. Returns ``(model, stats, history, data)``; the model holds the best weights."""
    dev = resolve_device(device or cfg.device)
    train, val = split_tiers(scan, cfg, seed, path)
    stats = normalization(scan, train)
    data = Tensors(scan, stats, dev)
    torch.manual_seed(seed)
    model = Encoder(scan.n_neurons, cfg.hidden_channels, cfg.layers, cfg.input_kernel, cfg.hidden_kernel, cfg.skip,
                    cfg.depth_separable, cfg.init_mu_range, cfg.init_sigma, cfg.shifter, cfg.modulator,
                    seed=seed).to(dev)
    # start the readout bias at the log-ish mean rate so ELU+1 begins near the data
    with torch.no_grad():
        mean = data.responses[torch.as_tensor(train, device=dev)].mean(0)
        model.readout.bias.copy_(torch.where(mean > 1, mean - 1, torch.log(mean.clamp_min(1e-3))))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    train_t = torch.as_tensor(train, dtype=torch.long)
    val_resp = scan.responses[val] / stats["response_std"]
    best, best_state, bad, decays, history = -np.inf, None, 0, 0, []
    log.info("training on %s: %d train / %d validation trials, %d neurons, device %s",
             path, len(train), len(val), scan.n_neurons, dev)
    steps = -(-len(train_t) // cfg.batch_size)
    name = f"encoder {Path(str(path)).stem}" if path else "encoder"
    progress = Progress(f"{name} (ETA for all {cfg.max_epochs} epochs; early stopping ends sooner)",
                        cfg.max_epochs * steps, logger=log)
    for epoch in range(1, cfg.max_epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = train_t[torch.randperm(len(train_t), generator=gen)].to(dev)
        total, n = 0.0, 0
        for s in range(0, len(perm), cfg.batch_size):
            x, b, p, y = data.batch(perm[s:s + cfg.batch_size])
            rate = model(x, b, p)
            loss = poisson_loss(rate, y).sum(1).mean() + model.regularizer(cfg.gamma_input, cfg.gamma_readout)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
            n += len(y)
            progress.update(note=f"epoch {epoch}")
        val_corr = float(np.mean(pearson(predict_trials(model, data, val), val_resp)))
        lr = opt.param_groups[0]["lr"]
        history.append({"epoch": epoch, "loss": total / n, "val_correlation": val_corr, "lr": lr,
                        "seconds": time.perf_counter() - t0})
        log.info("epoch %3d  loss %.4f  val corr %.4f  lr %.2e  %.1f s", epoch, total / n, val_corr, lr,
                 history[-1]["seconds"])
        if val_corr > best + cfg.tolerance:
            best, bad = val_corr, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if bad >= cfg.patience:
                model.load_state_dict(best_state)
                decays += 1
                bad = 0
                if decays >= cfg.lr_decay_steps:
                    log.info("early stop after epoch %d: best validation correlation %.4f", epoch, best)
                    break
                for g in opt.param_groups:
                    g["lr"] *= cfg.lr_decay_factor
                log.info("restored best weights (val corr %.4f), lr -> %.2e", best, opt.param_groups[0]["lr"])
    model.load_state_dict(best_state)
    model.eval()
    return model, stats, history, data


def hparams(cfg: EncoderConfig, seed: int, n_neurons: int) -> dict:
    d = asdict(cfg)
    d.update(seed=int(seed), n_neurons=int(n_neurons))
    return d
