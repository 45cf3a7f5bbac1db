"""The neural similarity loss of Li et al. 2019 (Eq. 8-10), in fp32.

* :func:`centered_cosine_similarity` is Eq. 9 for one layer. The mean over images
  f-bar(k) = E_i[f_i(k)] is estimated by the mean over the stimulus batch (64 images in
  the recipe); optionally (``center="ema"``) by a running mean over batches instead
  (:class:`LayerMixer` keeps it, exponential moving average, momentum 0.1, not
  differentiated through).
* :class:`LayerMixer` holds the trainable ``gamma`` = softmax(logits), equal at the
  start (1/K each), and mixes the K per-layer matrices (Eq. 10).
* :func:`similarity_loss` is Eq. 8, averaged over the pairs i < j of the batch.
* :func:`cka_loss` is the CKA alternative (Dapello et al. 2022): 1 - CKA or log(1 - CKA) between the
  model's linear kernel (:meth:`LayerMixer.kernel`: gamma-weighted layers) and the target S^neural as
  a kernel (the Gram matrix of the scans' centred, normalized response vectors, Eq. 2/6), both
  centred over the stimulus batch.

Similarities are clamped to [-1 + eps, 1 - eps] before arctanh so that the loss and its
gradient stay finite; eps = 1e-3 by default (arctanh(1 - 1e-3) = 3.8). The clamp has zero
gradient outside that band, which only concerns pairs that are already near-identical.
"""

from __future__ import annotations

import torch
from torch import nn

from ..measures import flat_features

CLAMP_EPS = 1e-3


class _Gram(torch.autograd.Function):
    """G = F F^T for F (B, D), with the backward written out: dF = (dG + dG^T) F, one matmul.

    (Autograd's own backward of ``f @ f.T`` makes two (B, D) matmuls, one through a transposed
    view; on a CPU that is several times slower than this one.)
    """

    generate_vmap_rule = True  # so that the stacked trainer (torch.func.vmap) can use it

    @staticmethod
    def forward(f):
        return f @ f.T

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, dg):
        (f,) = ctx.saved_tensors
        return (dg + dg.T) @ f


def centered_cosine_similarity(features: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 9: cosine similarity of mean-subtracted flattened features.

    features: (B, ...) any trailing shape, flattened to (B, D) (:func:`flat_features`) in fp32.
    mean: (D,) estimate of f-bar in the order of :func:`flat_features`; None = the batch mean
    (the default estimate).
    Returns S: (B, B) fp32 with S_ij = <f_i - f-bar, f_j - f-bar> / (|f_i - f-bar| |f_j - f-bar|).

    Computed from the Gram matrix G = F F^T (B x B): the centred inner products are
    G - f_i.m - f_j.m + m.m (with the batch mean: G minus its row and column means plus its grand
    mean), so no (B, D) array is made besides F. The cancellation this adds is bounded by fp32
    rounding of G (relative 1e-7 of |f|^2; ``tests/test_cotrain.py`` checks it against float64).
    """
    f = flat_features(features)
    g = _Gram.apply(f)
    if mean is None:
        row = g.mean(1, keepdim=True)
        gc = g - row - row.T + g.mean()
    else:
        m = mean.float()
        p = (f @ m)[:, None]  # (B, 1): <f_i, m>
        gc = g - p - p.T + m.dot(m)
    d = gc.diagonal().clamp_min(1e-24).rsqrt()
    return gc * d[:, None] * d[None, :]


def similarity_loss(s_cnn: torch.Tensor, s_target: torch.Tensor, eps: float = CLAMP_EPS) -> torch.Tensor:
    """Eq. 8, mean over the off-diagonal pairs i < j: [arctanh(S^CNN_ij) - arctanh(S^neural_ij)]^2.

    s_cnn, s_target: (B, B). Both are clamped to [-1 + eps, 1 - eps] (see module doc).
    Returns a scalar fp32 tensor.
    """
    if s_cnn.shape != s_target.shape or s_cnn.ndim != 2 or s_cnn.shape[0] != s_cnn.shape[1]:
        raise ValueError(f"similarity_loss: need two (B, B) matrices, got {tuple(s_cnn.shape)} and {tuple(s_target.shape)}")
    i, j = torch.triu_indices(s_cnn.shape[0], s_cnn.shape[0], offset=1, device=s_cnn.device)
    lo, hi = -1.0 + eps, 1.0 - eps
    a = torch.atanh(s_cnn.float()[i, j].clamp(lo, hi))
    b = torch.atanh(s_target.float()[i, j].clamp(lo, hi))
    return (a - b).square().mean()


class LayerMixer(nn.Module):
    """Eq. 10: S^CNN = sum_k gamma_k S^CNN-k with gamma = softmax(logits), trainable.

    layers: the layers' labels, for names: the conv numbers of the pipeline's ResNet (gamma_1, gamma_5, ...) or
    module names (gamma_layer1, ...; :class:`neuroreg.regularize.NeuralRegularizer`). center: 'batch' (f-bar =
    batch mean) or 'ema' (f-bar = running mean over batches, per layer, lazily sized).
    """

    def __init__(self, layers, *, center: str = "batch", ema_momentum: float = 0.1):
        super().__init__()
        if center not in ("batch", "ema"):
            raise ValueError(f"center: {center!r} is not 'batch' or 'ema'")
        self.layers = tuple(k if isinstance(k, str) else int(k) for k in layers)
        if len({self._key(k) for k in self.layers}) != len(self.layers):
            raise ValueError(f"LayerMixer: layer labels {list(self.layers)} are not distinct")
        self.center, self.ema_momentum = center, ema_momentum
        self.logits = nn.Parameter(torch.zeros(len(self.layers)))  # equal gamma_k = 1/K at the start
        for k in self.layers:
            self.register_buffer(self._key(k), torch.empty(0), persistent=True)

    @staticmethod
    def _key(label) -> str:
        """The running mean's buffer name of a layer label: mean_<label> ('.' of a module name as '_')."""
        return f"mean_{label}".replace(".", "_")

    @property
    def gamma(self) -> torch.Tensor:
        """(K,) the layer weights, positive and summing to 1."""
        return torch.softmax(self.logits.float(), 0)

    def gamma_dict(self) -> dict[str, float]:
        return {f"gamma_{k}": float(g) for k, g in zip(self.layers, self.gamma.detach().cpu())}

    def _mean(self, k: int, f: torch.Tensor) -> torch.Tensor | None:
        if self.center == "batch":
            return None
        flat = flat_features(f.detach())
        batch_mean = flat.mean(0)
        buf = getattr(self, self._key(k))
        if buf.numel() == 0:
            new = batch_mean
        else:
            new = (1 - self.ema_momentum) * buf + self.ema_momentum * batch_mean
        setattr(self, self._key(k), new)
        return new

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for k in self.layers:  # running means are created lazily: size them before loading (also inside a parent)
            key = self._key(k)
            if prefix + key in state_dict:
                setattr(self, key, torch.empty_like(state_dict[prefix + key], device=getattr(self, key).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def kernel(self, features: list[torch.Tensor]) -> torch.Tensor:
        """The CKA conditions' model kernel: sum_k gamma_k K_k of the layers' unit-norm centred linear kernels
        (:func:`feature_kernel`), i.e. the linear kernel of the layers concatenated with weights sqrt(gamma_k)
        (one layer: plain linear CKA). (B, B) fp32."""
        if len(features) != len(self.layers):
            raise ValueError(f"LayerMixer: expected {len(self.layers)} feature maps, got {len(features)}")
        with torch.autocast(device_type=features[0].device.type, enabled=False):
            return sum(g * feature_kernel(f) for g, f in zip(self.gamma, features))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """features: K tensors (B, ...) (the model's selected layers). Returns S^CNN (B, B) fp32."""
        if len(features) != len(self.layers):
            raise ValueError(f"LayerMixer: expected {len(self.layers)} feature maps, got {len(features)}")
        # fp32 even inside a bf16 autocast region (autocast would recast the matmul)
        with torch.autocast(device_type=features[0].device.type, enabled=False):
            gamma = self.gamma
            s = 0.0
            for g, k, f in zip(gamma, self.layers, features):
                s = s + g * centered_cosine_similarity(f, self._mean(k, f))
        return s


# ---------------------------------------------------------------- CKA (Kornblith et al. 2019; Dapello et al. 2022)
def center_gram(k: torch.Tensor) -> torch.Tensor:
    """H K H with H = I - 11^T / B: a (B, B) kernel centred over the batch (rows and columns)."""
    row = k.mean(1, keepdim=True)
    return k - row - row.T + k.mean()


def linear_cka(k: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CKA of two (B, B) kernels, fp32: <HKH, HLH>_F / (||HKH||_F ||HLH||_F).

    With K = X X^T and L = Y Y^T this is linear CKA of the representations X and Y: 1 for the same
    representation (up to rotation and scale), 0 when the centred columns of X and Y are orthogonal.
    """
    if k.shape != target.shape or k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"linear_cka: need two (B, B) kernels, got {tuple(k.shape)} and {tuple(target.shape)}")
    kc, lc = center_gram(k.float()), center_gram(target.float())
    return (kc * lc).sum() / (kc.norm() * lc.norm()).clamp_min(1e-24)


def feature_kernel(features: torch.Tensor) -> torch.Tensor:
    """The linear kernel X X^T of one layer's flattened features (B, ...) -> (B, B), centred and scaled to
    unit Frobenius norm (so the layers of Eq. 10's mix weigh by gamma alone, whatever their scale)."""
    kc = center_gram(_Gram.apply(flat_features(features)))
    return kc / kc.norm().clamp_min(1e-24)


CKA_FORMS = ("cka", "logcka")


def cka_loss(k: torch.Tensor, target: torch.Tensor, form: str = "cka", eps: float = 1e-6) -> torch.Tensor:
    """The CKA regularizer: ``cka`` = 1 - CKA(K, S^neural) (>= 0), ``logcka`` = log(1 - CKA) (Dapello et al.
    2022: its gradient grows as the representations align; 1 - CKA is floored at ``eps``)."""
    if form not in CKA_FORMS:
        raise ValueError(f"cka_loss: form {form!r} is not one of {CKA_FORMS}")
    gap = 1.0 - linear_cka(k, target)
    return gap if form == "cka" else torch.log(gap.clamp_min(eps))
