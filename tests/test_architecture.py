"""The package's dependencies point one way: a module imports only its own layer or the ones below it.

The layers, lowest first (docs/ARCHITECTURE.md, "Layers"): the shared modules (files, config, measures, the ResNet,
features by hooks, Gaussian noise, ... and the plotting library the stage jobs draw with), then the stages in the
order their files flow: ingest (1), reliability (2), encoder (3), similarity (4), co-training and the regularizer API
(5), robustness (6), and on top what reads every stage: the figures and report (7), the run's plan and costs. The
test reads every module's imports (``import`` and ``from ... import``, at any depth of the code, so imports inside
functions count) and names each that reaches up, so a change that makes stage 4 need stage 5 fails here, not in a
reader's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "neuroreg"

LAYERS = [
    # 0: shared by every stage; the figures' plotting library (style and the stage 2 and 4 plots the stage jobs draw)
    {"neuroreg", "neuroreg.files", "neuroreg.config", "neuroreg.conditions", "neuroreg.seeds", "neuroreg.measures", "neuroreg.effects",
     "neuroreg.progress", "neuroreg.logs", "neuroreg.devices", "neuroreg.grid", "neuroreg.resnet", "neuroreg.features",
     "neuroreg.noise", "neuroreg.figures.style", "neuroreg.figures.reliability", "neuroreg.figures.similarity"},
    {"neuroreg.ingest"},
    {"neuroreg.reliability"},
    {"neuroreg.encoder"},
    {"neuroreg.similarity"},
    {"neuroreg.cotrain", "neuroreg.regularize"},
    {"neuroreg.robustness"},
    {"neuroreg.figures", "neuroreg.costs", "neuroreg.plan"},
]


def layer_of(module: str) -> int:
    """The layer of a dotted module name: that of its longest prefix listed in LAYERS."""
    parts = module.split(".")
    for n in range(len(parts), 1 if len(parts) > 1 else 0, -1):  # the package's own name only for itself
        prefix = ".".join(parts[:n])
        for i, layer in enumerate(LAYERS):
            if prefix in layer:
                return i
    raise AssertionError(f"{module}: in no layer of tests/test_architecture.py (add it where it belongs)")


def module_name(path: Path, package: Path = PACKAGE) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, package: Path = PACKAGE) -> set[str]:
    """The neuroreg modules ``path`` imports (``from pkg import name`` counts as pkg.name where that is a module)."""
    name = module_name(path, package)
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "neuroreg"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "neuroreg":
                target = node.module
            else:
                continue
            for a in node.names:
                sub = package.parent.joinpath(*f"{target}.{a.name}".split("."))
                out.add(f"{target}.{a.name}" if sub.with_suffix(".py").is_file() or sub.is_dir() else target)
    return out


def upward_imports(package: Path = PACKAGE) -> list[str]:
    out = []
    for path in sorted(package.rglob("*.py")):
        me = module_name(path, package)
        for target in sorted(imports(path, package)):
            if layer_of(target) > layer_of(me):
                out.append(f"{me} (layer {layer_of(me)}) imports {target} (layer {layer_of(target)})")
    return out


def test_every_module_is_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path))


def test_dependencies_point_down_the_layers():
    upward = upward_imports()
    assert not upward, "imports that reach up a layer:\n" + "\n".join(upward)


def test_the_layering_test_sees_an_upward_import(tmp_path):
    """The check itself: a stage-4 module importing stage 5 inside a function is caught; stage 5 importing stage 4 is
    not."""
    fake = tmp_path / "neuroreg"
    for sub in ("similarity", "cotrain"):
        (fake / sub).mkdir(parents=True)
        (fake / sub / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "cotrain" / "train.py").write_text("from ..similarity import bad\n")
    (fake / "similarity" / "bad.py").write_text("def f():\n    from ..cotrain import train\n")
    assert imports(fake / "similarity" / "bad.py", fake) == {"neuroreg.cotrain.train"}
    assert upward_imports(fake) == ["neuroreg.similarity.bad (layer 4) imports neuroreg.cotrain.train (layer 5)"]
