"""torchvision beside the CPU build of torch: its models (Python) without its C++ operators.

PyPI's torchvision 0.28.0 for x86-64 Linux, the release made for torch 2.13.0, is built against the CUDA build of
torch. Beside the CPU build its C++ extension (``_C.so``: nms, roi_align, deform_conv2d) cannot load
(``libc10_cuda.so`` is missing), which torchvision tolerates, but ``import torchvision`` then stops at a fake-kernel
registration that does not check for it: "operator torchvision::nms does not exist" (pytorch/vision issue 9085).
:func:`import_torchvision` imports torchvision; only when that exact error occurs does it declare the schemas of
the two operators it registers unchecked (``nms``, ``qnms``) and import it again. The models, transforms and
datasets are Python and work; the detection operators raise if called. Where torchvision matches torch (the CPU
index's ``torchvision==0.28.0+cpu``, or PyPI's pair with the CUDA torch) the plain import works and nothing is
declared.
"""

from __future__ import annotations

import importlib
import sys

import torch

_DECLARED: list = []  # the Library that declares the schemas; kept alive (its definitions go with it)


def import_torchvision():
    """``import torchvision``, declaring the two operator schemas first where the import fails for want of them."""
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as e:
        if "torchvision::nms does not exist" not in str(e):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the partial first import
    lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _DECLARED.append(lib)
    return importlib.import_module("torchvision")
