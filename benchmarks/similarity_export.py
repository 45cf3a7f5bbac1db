"""Benchmark: time and peak memory of writing a similarity target block by block.

    python benchmarks/similarity_export.py                 # n = 5,000 and 50,000, 8 scans x 1000 neurons
    python benchmarks/similarity_export.py --n 5000 --scans 8 --neurons 1000 --block 1024

Each n runs in a fresh subprocess so the peaks are separate. Synthetic unit vectors are
written to a scratch HDF5 store (as the pipeline does), then
:func:`neuroreg.similarity.write_similarity` streams S = mean_h E_h E_h^T into a temporary
directory (deleted afterwards). Peak memory is the process's ru_maxrss (resident set,
including the Python interpreter, numpy and h5py).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def one(n: int, scans: int, neurons: int, block: int, seed: int = 0) -> dict:
    from neuroreg.similarity.matrix import vector_store, write_similarity

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as d:
        with vector_store(d) as store:
            t0 = time.perf_counter()
            for h in range(scans):
                ds = store.create_dataset(str(h), shape=(n, neurons), dtype="float32", chunks=(min(n, 1024), neurons))
                for a in range(0, n, 8192):
                    x = rng.standard_normal((min(8192, n - a), neurons), dtype=np.float32)
                    ds[a:a + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
            t_vectors = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = Path(d) / "similarity.h5"
            write_similarity(out, [store[str(h)] for h in range(scans)], np.arange(n), np.arange(n),
                             {"target": "benchmark", "scans": [str(h) for h in range(scans)],
                              "method": "synthetic", "weighting": "none"}, block_size=block)
            t_write = time.perf_counter() - t0
            size = out.stat().st_size
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"n": n, "scans": scans, "neurons_per_scan": neurons, "block_size": block,
            "vectors_s": round(t_vectors, 1), "write_s": round(t_write, 1),
            "peak_rss_mb": round(peak_mb, 1), "file_gb": round(size / 1e9, 2),
            "dense_nxn_float32_gb": round(n * n * 4 / 1e9, 2)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[5000, 50000])
    p.add_argument("--scans", type=int, default=8)
    p.add_argument("--neurons", type=int, default=1000)
    p.add_argument("--block", type=int, default=1024)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(one(a.n[0], a.scans, a.neurons, a.block)))
        return
    for n in a.n:
        cmd = [sys.executable, __file__, "--child", "--n", str(n), "--scans", str(a.scans),
               "--neurons", str(a.neurons), "--block", str(a.block)]
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
