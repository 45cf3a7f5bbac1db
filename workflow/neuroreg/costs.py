"""Per-step costs of the GPU stages, measured on this machine: the numbers behind the run's time estimate.

Each measurement runs a few real steps of the configured network on the device a job would use:

* ``cotrain``: seconds per optimizer step of :func:`neuroreg.cotrain.train.train_step` (a CIFAR batch,
  and with ``stimuli`` the stimulus batch and similarity loss of Eq. 7-10), the step a job runs;
* ``encoder``: seconds per training step of the encoder (Poisson loss, Adam) for ``n_neurons``;
* ``forward`` / ``forward_backward``: seconds per image of the ResNet in eval mode (the noise
  evaluation; one step of a gradient attack);
* and the start-up of a job: importing torch and the training code (``machine["startup_s"]``).

Steps: one warm-up step, then the median of 1 to 3 timed steps, as many as fit in 2 s (a CPU at the
paper's scale: one step, about a minute for everything, cached).

The measurements run in a subprocess (``python -m neuroreg.costs``), so the Snakemake process never
imports torch or holds a GPU, with ``threads`` intra-op threads (a job's). Results that took more than
:data:`CACHE_MIN_S` to measure are cached in ``results/.cache/step_costs.json`` under a key of host,
device, torch version, threads and the measured shapes; ``--remeasure`` (``python -m neuroreg.plan``)
ignores the cache.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path("results") / ".cache" / "step_costs.json"
CACHE_MIN_S = 3.0
MAX_STEPS = 3
BUDGET_S = 2.0


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device(name: str):
    import torch

    return torch.device("cuda", 0) if name == "cuda" else torch.device("cpu")


def _per_step(step) -> float:
    """Seconds per call of ``step()`` (which syncs the device): one warm-up call (lazy initialization,
    kernel selection, cuDNN autotuning), then the median of at least one and up to MAX_STEPS timed calls,
    stopping once BUDGET_S are spent."""
    step()
    times: list[float] = []
    while not times or (len(times) < MAX_STEPS and sum(times) < BUDGET_S):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cotrain_step(spec: dict, device) -> float:
    """Seconds per co-training optimizer step (:func:`neuroreg.cotrain.train.train_step`, as in
    ``benchmarks/cotrain_step.py``). spec: ``cotrain`` (the recipe section), ``stimuli`` (bool: with the
    stimulus batch and similarity loss of Eq. 8-10), ``n_classes``, ``stimulus_shape`` (H, W)."""
    import torch

    from . import resnet
    from .cotrain import data, train
    from .cotrain.similarity_loss import LayerMixer

    r = train.Recipe.from_config(spec["cotrain"], alpha=1.0 if spec["stimuli"] else 0.0, seed=0)
    b, (h, w), n_classes = r.batch_size, spec["stimulus_shape"], spec["n_classes"]
    g = torch.Generator().manual_seed(0)
    n = 4 * b
    cifar = data.Cifar(torch.randint(0, 256, (n, 1, 32, 32), generator=g, dtype=torch.uint8).to(device),
                       torch.randint(0, n_classes, (n,), generator=g).to(device),
                       torch.zeros((1, 1, 32, 32), dtype=torch.uint8, device=device),
                       torch.zeros((1,), dtype=torch.int64, device=device), n_classes)
    stimuli = None
    if spec["stimuli"]:
        x = torch.nn.functional.normalize(torch.randn(n, 16, generator=g), dim=1)
        stimuli = data.Stimuli(torch.randint(0, 256, (n, 1, h, w), generator=g, dtype=torch.uint8).to(device),
                               (x @ x.T).to(device), None, {})
    torch.manual_seed(0)
    model = resnet.build(arch=r.arch, num_classes=n_classes, width=r.width, layers=r.layers).to(device)
    mixer = LayerMixer(r.layers, center=r.center).to(device)
    amp = train.use_bf16(r, device)  # the job's path: bf16 autocast where the device has it, NHWC if configured
    if r.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = train.make_optimizer(model, mixer, r)
    gd = torch.Generator(device=device).manual_seed(0)
    model.train()

    def step():
        idx = torch.randint(0, n, (b,), device=device, generator=gd)
        s = torch.randint(0, n, (b,), device=device, generator=gd) if stimuli is not None else None
        train.train_step(model, mixer, opt, cifar, idx, stimuli, s, r, gd, amp)
        _sync(device)

    return _per_step(step)


def encoder_step(spec: dict, device) -> float:
    """Seconds per encoder training step. spec: ``encoder`` (section), ``n_neurons``, ``image_shape`` (H, W)."""
    import torch

    from .encoder.model import Encoder
    from .encoder.train import EncoderConfig
    from .measures import poisson_loss

    cfg = EncoderConfig.from_dict(spec["encoder"])
    h, w = spec["image_shape"]
    n, bs = int(spec["n_neurons"]), cfg.batch_size
    g = torch.Generator().manual_seed(0)
    x = torch.randn(bs, 1, h, w, generator=g).to(device)
    beh, pupil = torch.randn(bs, 3, generator=g).to(device), torch.randn(bs, 2, generator=g).to(device)
    y = torch.rand(bs, n, generator=g).to(device)
    model = Encoder(n, cfg.hidden_channels, cfg.layers, cfg.input_kernel, cfg.hidden_kernel, cfg.skip,
                    cfg.depth_separable, cfg.init_mu_range, cfg.init_sigma, cfg.shifter, cfg.modulator).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    model.train()

    def step():
        loss = poisson_loss(model(x, beh, pupil), y).sum(1).mean() + model.regularizer(cfg.gamma_input,
                                                                                         cfg.gamma_readout)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)

    return _per_step(step)


def resnet_per_image(spec: dict, device, backward: bool) -> float:
    """Seconds per image of a forward (and backward, w.r.t. the input) pass of the ResNet in eval mode, batch 64.
    spec: ``cotrain`` (arch, width, layers), ``n_classes``, optionally ``precision`` (bf16: under autocast, as the
    attacks' search model of ``robustness.precision: bf16``)."""
    import torch

    from .resnet import build

    cfg, batch = spec["cotrain"], 64
    model = build(arch=cfg["arch"], num_classes=spec["n_classes"], width=cfg["width"], layers=cfg["layers"])
    model = model.to(device).eval()
    model = model.to(memory_format=torch.channels_last)  # as the robustness stage loads it
    x = torch.rand(batch, 1, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    amp = spec.get("precision") == "bf16"

    def step():
        with torch.autocast(device.type, torch.bfloat16, enabled=amp):
            if backward:
                xi = x.clone().requires_grad_(True)
                torch.autograd.grad(model(xi).float().logsumexp(1).sum(), xi)
            else:
                with torch.no_grad():
                    model(x)
        _sync(device)

    return _per_step(step) / batch


MEASURES = {
    "cotrain": cotrain_step,
    "encoder": encoder_step,
    "forward": lambda spec, dev: resnet_per_image(spec, dev, backward=False),
    "forward_backward": lambda spec, dev: resnet_per_image(spec, dev, backward=True),
}


def key(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True)


def measure_here(specs: list[dict], cache: Path | None = CACHE, remeasure: bool = False) -> dict:
    """``{"machine": {...}, "seconds": {key(spec): seconds}}`` for each spec ``{"kind", "device", "threads", ...}``;
    ``device`` auto | cuda | cpu is resolved here (cuda:0 when a GPU is visible). Measured in this process unless
    the cache holds the spec for this machine; new measurements that took long are added to the cache."""
    import torch

    machine = _machine()
    stored = {}
    if cache is not None and Path(cache).is_file() and not remeasure:
        try:
            stored = json.loads(Path(cache).read_text())
        except (OSError, json.JSONDecodeError):
            stored = {}
    out, new = {}, {}
    for spec in specs:
        device = "cuda" if spec["device"] in ("auto", "cuda") and machine["n_gpus"] else "cpu"
        k = key({**spec, "device": device, "machine": machine})
        if k in stored:
            out[key(spec)] = stored[k]
            continue
        torch.set_num_threads(int(spec["threads"]))
        t0 = time.perf_counter()
        out[key(spec)] = MEASURES[spec["kind"]](spec, _device(device))
        if time.perf_counter() - t0 >= CACHE_MIN_S:
            new[k] = out[key(spec)]
    if cache is not None and new:
        from .files import atomic_output

        with atomic_output(cache) as tmp:
            tmp.write_text(json.dumps({**stored, **new}, indent=1, sort_keys=True))
    return {"machine": machine, "seconds": out}


def _machine() -> dict:
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {"host": socket.gethostname().split(".")[0], "torch": torch.__version__, "n_gpus": n,
            "gpu": torch.cuda.get_device_name(0) if n else None, "cpu_threads": torch.get_num_threads()}


def measure(specs: list[dict], *, cache: Path | None = CACHE, remeasure: bool = False, timeout_s: float = 900) -> dict:
    """:func:`measure_here` in a subprocess (``specs`` may be empty: the machine only)."""
    package_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    request = {"specs": specs, "cache": None if cache is None else str(cache), "remeasure": remeasure}
    proc = subprocess.run([sys.executable, "-m", "neuroreg.costs"], input=json.dumps(request), capture_output=True,
                          text=True, env=env, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"measuring step costs failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def main() -> None:  # python -m neuroreg.costs < request JSON (see measure()): JSON out
    t0 = time.perf_counter()
    import torch  # noqa: F401 - what every training job imports before its first step: its start-up

    from .cotrain import train  # noqa: F401

    startup = time.perf_counter() - t0
    request = json.loads(sys.stdin.read() or "{}")
    cache = request.get("cache")
    out = measure_here(request.get("specs", []), Path(cache) if cache else None, bool(request.get("remeasure")))
    out["machine"]["startup_s"] = startup
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
