"""Learning from brains in a plain training loop: a torchvision ResNet18 on CIFAR-10, regularized with the laptop
run's neural similarity target (Li et al. 2019, Eq. 7-10) through neuroreg.regularize. docs/REGULARIZE.md.

    python examples/regularize_torchvision.py --run results/laptop [--steps 200] [--batch 32] [--alpha 2]
"""

import argparse
import time
from pathlib import Path

import h5py
import torch
import torch.nn.functional as F
from torchvision_cpu import import_torchvision  # = import torchvision, also beside a CPU-only torch from PyPI

from neuroreg.regularize import NeuralRegularizer

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--run", type=Path, default=Path("results/laptop"), help="a run's folder: data/, similarity/")
p.add_argument("--target", default="neural_model", help="similarity/<target>.h5")
p.add_argument("--steps", type=int, default=200)
p.add_argument("--alpha", type=float, default=2.0, help="Eq. 7's weight (the laptop run's 2); 0 = no regularizer")
p.add_argument("--batch", type=int, default=32, help="CIFAR images and stimuli per step")
p.add_argument("--n-test", type=int, default=1000)
p.add_argument("--save", type=Path, help="write the model and the regularizer's state here")
args = p.parse_args()
torch.manual_seed(0)

# Your data, your way: here the laptop run's grayscale CIFAR-10 (uint8, N x 32 x 32) held in memory.
with h5py.File(args.run / "data" / "cifar10.h5") as f:
    x_train, y_train = torch.from_numpy(f["train/images"][:]), torch.from_numpy(f["train/labels"][:])
    x_test, y_test = torch.from_numpy(f["test/images"][: args.n_test]), torch.from_numpy(f["test/labels"][: args.n_test])


def rgb(images):  # grayscale (B, [1,] H, W), uint8 or in [0, 1] -> the normalized 3-channel input of the model
    x = (images.float().div(255) if images.dtype == torch.uint8 else images).reshape(len(images), 1, *images.shape[-2:])
    return ((x - 0.48) / 0.24).expand(-1, 3, -1, -1)


# Your model, unchanged: a torchvision ResNet18. Its layers "relu" (the stem) and "layer1".."layer4" (the end of
# each stage) are the paper's layers 1, 5, 9, 13 and 17.
model = import_torchvision().models.resnet18(num_classes=10)
reg = NeuralRegularizer(model, layers=["relu", "layer1", "layer2", "layer3", "layer4"],
                        target=args.run / "similarity" / f"{args.target}.h5", stimuli=args.run / "data" / "stimuli.h5",
                        alpha=args.alpha, transform=rgb)
print(f"{reg.n_stimuli} stimuli of {tuple(reg.images.shape[2:])}, target {args.target}, alpha {reg.alpha:g}")
opt = torch.optim.SGD([{"params": model.parameters(), "weight_decay": 5e-4}, *reg.param_groups()],
                      lr=0.05, momentum=0.9)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=args.steps)

g = torch.Generator().manual_seed(0)
stimulus_batches = reg.batches(args.batch, args.steps, generator=g)  # each stimulus once before any repeats
t0 = time.perf_counter()
model.train()
for step in range(args.steps):
    idx = torch.randint(len(x_train), (args.batch,), generator=g)
    opt.zero_grad()
    ce = F.cross_entropy(model(rgb(x_train[idx])), y_train[idx])
    brain = reg(stimulus_batches[step]) if args.alpha > 0 else torch.zeros(())  # alpha x L_brain (Eq. 7)
    (ce + brain).backward()
    opt.step()
    sched.step()
    if step % 50 == 0 or step == args.steps - 1:
        print(f"step {step:4d}  cross-entropy {ce.item():.3f}  alpha x L_brain {brain.item():.4f}  "
              f"{(time.perf_counter() - t0) / (step + 1):.2f} s/step")


@torch.no_grad()
def accuracy(sd=0.0):  # on the first test images, with Gaussian pixel noise of standard deviation sd
    model.eval()
    gn = torch.Generator().manual_seed(1)
    x = (x_test.float() / 255 + sd * torch.randn(x_test.shape, generator=gn)).clamp(0, 1)
    return (model(rgb(x)).argmax(1) == y_test).float().mean().item()


print(f"test accuracy {accuracy():.3f}, under noise sd 0.1 {accuracy(0.1):.3f}")
print("gamma", {k: round(v, 3) for k, v in reg.gamma_dict().items()})
if args.save:  # a checkpoint: the network and the regularizer's own state (gamma's logits)
    torch.save({"model": model.state_dict(), "regularizer": reg.state_dict()}, args.save)
