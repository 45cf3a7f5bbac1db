"""A plain install works: the wheel carries the package and what it reads (the config schema), and an installed
neuroreg, not the repository's source, gives a working API and a Snakefile that builds its jobs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from tiny import tiny_config


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``pip wheel`` of a copy of the sources (the build writes build/ and *.egg-info beside them), then the wheel
    installed, without its dependencies (they are this environment's), into a folder of its own."""
    root = tmp_path_factory.mktemp("package")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "workflow", src / "workflow", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (root / "dist").glob("neuroreg-*.whl")
    site = root / "site"
    inst = subprocess.run(pip + ["install", "--no-deps", "--target", str(site), str(wheel)], capture_output=True,
                          text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return wheel, site


def test_the_wheel_carries_the_schema_and_every_module(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "neuroreg/config.schema.yaml" in names and "neuroreg/regularize.py" in names
    assert "snakemake_logger_plugin_neuroreg/__init__.py" in names
    source = {p.relative_to(REPO / "workflow").as_posix() for p in (REPO / "workflow" / "neuroreg").rglob("*.py")}
    assert source <= names, sorted(source - names)


def _run_installed(site, code, cwd):
    env = {**os.environ, "PYTHONPATH": str(site)}  # before site-packages, where an editable install points here
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_installed_package_gives_a_working_api(installed, tmp_path):
    _, site = installed
    code = (
        "import neuroreg, torch\n"
        "from neuroreg import resnet\nfrom neuroreg.cotrain import train\n"
        "from neuroreg.regularize import NeuralRegularizer\n"
        f"assert neuroreg.__file__.startswith({str(site)!r}), neuroreg.__file__\n"
        "assert train.Recipe().layers == (1, 5, 9, 13, 17)\n"
        "torch.manual_seed(0)\n"
        "model = resnet.build(width=4)\n"
        "s = torch.rand(6, 5); s = s - s.mean(0); s = s / s.norm(dim=1, keepdim=True)\n"
        "reg = NeuralRegularizer(model, layers=['relu1', 'blocks.7'], target=s @ s.T, stimuli=torch.rand(6, 12, 16))\n"
        "loss = reg(torch.arange(6)); loss.backward()\n"
        "print('api ok', round(loss.item(), 3), reg.alpha)\n"
    )
    proc = _run_installed(site, code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "api ok" in proc.stdout and proc.stdout.strip().endswith("20.0")


def test_the_repositorys_snakefile_runs_on_the_installed_package(installed, tmp_path):
    """A dry run of the whole tiny pipeline (config, schema, every rule's params) with the installed neuroreg."""
    _, site = installed
    tiny_config(tmp_path)
    code = (
        "import sys, neuroreg\n"
        f"assert neuroreg.__file__.startswith({str(site)!r}), neuroreg.__file__\n"
        "from snakemake.cli import main\n"
        f"sys.argv = ['snakemake', '-s', {str(REPO / 'Snakefile')!r}, '--cores', '1', '-n', '--quiet', 'rules',\n"
        f"            '--configfile', {str(tmp_path / 'config.yaml')!r}]\n"
        "main()\n"
    )
    proc = _run_installed(site, code, tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "cotrain" in proc.stdout and "encoder" in proc.stdout, proc.stdout[-2000:]
