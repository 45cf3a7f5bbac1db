"""Pack the prepared inputs (cifar10.h5, stimuli.h5) into one small file, and unpack them.

For moving the default experiment's inputs to a GPU machine that cannot see ../shared/data:
gzip barely compresses natural-image pixels (CIFAR-10: 61 MB -> 58 MB); a gradient
predictor (as in PNG/JPEG-LS) followed by xz gets it to about 44 MB. Lossless.

    python benchmarks/pack_data.py pack   results/data .carry/inputs.xz
    python benchmarks/pack_data.py unpack .carry/inputs.xz results/data
"""

from __future__ import annotations

import io
import lzma
import sys
from pathlib import Path

import h5py
import numpy as np


def _residual(x: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W) -> prediction residual mod 256 (left + up - upleft predictor)."""
    p = x.astype(np.int16)
    pred = np.zeros_like(p)
    pred[..., 1:, 1:] = (p[..., 1:, :-1] + p[..., :-1, 1:] - p[..., :-1, :-1]).clip(0, 255)
    pred[..., 0, 1:] = p[..., 0, :-1]
    pred[..., 1:, 0] = p[..., :-1, 0]
    return ((p - pred) % 256).astype(np.uint8)


def _restore(r: np.ndarray) -> np.ndarray:
    out = np.zeros(r.shape, np.int16)
    r = r.astype(np.int16)
    H, W = r.shape[-2:]
    for i in range(H):
        for j in range(W):
            if i == 0 and j == 0:
                pred = 0
            elif i == 0:
                pred = out[..., 0, j - 1]
            elif j == 0:
                pred = out[..., i - 1, 0]
            else:
                pred = (out[..., i, j - 1] + out[..., i - 1, j] - out[..., i - 1, j - 1]).clip(0, 255)
            out[..., i, j] = (pred + r[..., i, j]) % 256
    return out.astype(np.uint8)


def pack(src: Path, dst: Path) -> None:
    arrays, attrs = {}, {}
    for name in ("cifar10.h5", "stimuli.h5"):
        with h5py.File(src / name) as f:
            def visit(key, obj):
                if isinstance(obj, h5py.Dataset):
                    a = obj[()]
                    if a.dtype == np.uint8 and a.ndim == 3:
                        arrays[f"{name}|{key}|res"] = _residual(a)
                    else:
                        arrays[f"{name}|{key}"] = a
            f.visititems(visit)
            attrs[name] = {k: f.attrs[k] for k in f.attrs}
    buf = io.BytesIO()
    np.savez(buf, **arrays, __attrs__=np.array(repr({n: {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in a.items()} for n, a in attrs.items()})))
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(lzma.compress(buf.getvalue(), preset=6))
    print(f"{dst}: {dst.stat().st_size / 1e6:.1f} MB")


def unpack(src: Path, dst: Path) -> None:
    data = np.load(io.BytesIO(lzma.decompress(src.read_bytes())), allow_pickle=False)
    import ast

    attrs = ast.literal_eval(str(data["__attrs__"]))
    dst.mkdir(parents=True, exist_ok=True)
    files = {}
    for key in data.files:
        if key == "__attrs__":
            continue
        name, ds, *res = key.split("|")
        f = files.get(name) or files.setdefault(name, h5py.File(dst / name, "w"))
        a = data[key]
        f.create_dataset(ds, data=_restore(a) if res else a)
    for name, f in files.items():
        for k, v in attrs[name].items():
            f.attrs[k] = v
        f.close()
        print(dst / name)


if __name__ == "__main__":
    {"pack": pack, "unpack": unpack}[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))
