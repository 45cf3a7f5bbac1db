"""Multi-task co-training: a readout from one ResNet layer predicts neural responses to the stimuli.

The conditions ``mtl_model``, ``mtl_shuffle``, ``mtl_ground_truth`` and ``mtl_data`` replace the
similarity loss of Eq. 7 by alpha x the Poisson loss of a readout that predicts, from layer
``cotrain.mtl.layer`` of the classifier, the responses of every neuron of the scans to the
stimulus batch (the Sinz lab's multi-task follow-up; conditions MTL-neural, MTL-shuffled,
MTL-oracle there). The readout is dropped after training: the classifier is saved and evaluated
like every other condition.

Readout: the encoder stage's Gaussian readout (:class:`neuroreg.encoder.readout.GaussianReadout`,
neuralpredictors' FullGaussian2d) with its output nonlinearity ELU + 1 and its Poisson loss. Why not a
linear readout: a dense linear map from a 16 x 36 x 64 feature map to 2,000 neurons has 74 M
weights (more than 100 times the width-16 ResNet) and learns receptive fields from 5,000 images
only loosely; the Gaussian readout has C + 5 parameters per neuron (a position, its spread, a
feature vector, a bias), the receptive-field prior the encoders already use, and costs one
grid_sample.

The response sets it predicts are written by stage 4 (rule ``mtl_responses``, :mod:`neuroreg.similarity.responses`);
:func:`load_responses` reads one for training.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..encoder.readout import GaussianReadout
from ..measures import poisson_loss
from ..files import InputError, open_h5, require_finite, require_key


class MultitaskReadout(nn.Module):
    """Feature map (B, C, H, W) of the chosen layer -> predicted responses (B, n_neurons) > 0 (ELU + 1)."""

    def __init__(self, in_channels: int, n_neurons: int, *, init_mu_range: float = 0.3, init_sigma: float = 0.1,
                 seed: int = 0):
        super().__init__()
        self.n_neurons = int(n_neurons)
        g = torch.Generator().manual_seed(int(seed))
        self.readout = GaussianReadout(in_channels, n_neurons, init_mu_range=init_mu_range, init_sigma=init_sigma,
                                       generator=g)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=features.device.type, enabled=False):  # the loss math in fp32
            return F.elu(self.readout(features.float())) + 1


def mtl_loss(rate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The encoder's Poisson loss (rate - y log rate), mean over images and neurons: a scalar."""
    return poisson_loss(rate, target.float()).mean()


def load_responses(stimuli_path, responses_path, device):
    """The stimuli of a response set and its responses on ``device``, as a :class:`neuroreg.cotrain.data.Stimuli`
    whose ``target`` is (n_images, n_neurons) float32. Errors name the file and key."""
    from .data import Stimuli, read_images

    with open_h5(responses_path) as f:
        r = require_key(f, "responses", responses_path)
        index = require_key(f, "image_index", responses_path)[()].astype(np.int64)
        image_id = require_key(f, "image_id", responses_path)[()].astype(np.int64)
        if r.ndim != 2 or r.shape[0] != len(index) or len(index) < 2:
            raise InputError(responses_path, "responses", f"shape {r.shape}, expected (n_images={len(index)} >= 2, n_neurons)")
        resp = require_finite(r[()].astype(np.float32), responses_path, "responses")
        if (resp < 0).any():
            raise InputError(responses_path, "responses", "negative values: not rates")
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()}
    with open_h5(stimuli_path) as h5:
        images = read_images(h5, "images", stimuli_path)
        if index.min() < 0 or index.max() >= len(images):
            raise InputError(responses_path, "image_index", f"indices outside the {len(images)} images of {stimuli_path}")
        if not np.array_equal(require_key(h5, "image_id", stimuli_path)[()][index], image_id):
            raise InputError(responses_path, "image_id", f"does not match {stimuli_path} image_id at image_index")
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    return Stimuli(torch.from_numpy(images[index][:, None].copy()).to(device), torch.from_numpy(resp).to(device),
                   image_id, attrs)
