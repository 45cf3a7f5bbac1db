"""The install floors and the conda environment agree with what the workflow needs and with each other.

- Snakemake: the Snakefile's `min_version` and pyproject's `snakemake>=` name the same version, the
  first that runs the Snakefile. Measured by installing each release into a scratch venv and
  dry-running the Snakefile (docs/OPERATIONS.md, "Python and Snakemake versions"): 9.11.9 cannot parse `pathvars:` (first in 9.12),
  9.12.0-9.16.3 stop at a callable `priority:` ("Priority values have to be numeric"), 9.17.0 runs it.
- Python: pyproject's `requires-python` is what the pinned dependencies need, no more and no less.
- envs/neuroreg.yaml: pins what pyproject pins, names no repository path (Snakemake copies it under
  .snakemake/conda/), takes torch from a channel that builds it today; and the way neuroreg reaches a
  job running in that environment (Snakemake's script preamble) is checked on a real job.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tiny import tiny_config

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Snakemake features the workflow uses, with the first release that has them (measured, module docstring).
FEATURES = {
    r"^pathvars:": ("workflow/rules/paths.smk", Version("9.12")),
    r"^\s+priority: lambda": ("workflow/rules/cotrain.smk", Version("9.17")),
}
# Requirements whose every allowed release needs the same Python as the installed one: the exact pins, and
# Snakemake 9 with its executor plugins (Requires-Python >=3.11 in every 9.x release and plugin release
# checked: 9.11.9, 9.12.0, 9.16.3, 9.17.0, 9.27.1; slurm 2.8.0, cluster-generic 1.0.9).
SAME_PYTHON_ACROSS_RANGE = {"snakemake", "snakemake-executor-plugin-slurm", "snakemake-executor-plugin-cluster-generic"}


def requirements(extras: bool = True) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    if extras:
        reqs += [Requirement(r) for group in PYPROJECT["project"]["optional-dependencies"].values() for r in group]
    return reqs


def floor(spec: str) -> Version:
    """The lowest version a `>=X` specifier allows (error if it has none)."""
    lows = [Version(s.version) for s in SpecifierSet(spec) if s.operator in (">=", "==", "~=")]
    assert lows, f"{spec!r}: no lower bound"
    return max(lows)


def snakefile_min_version() -> Version:
    m = re.search(r'^min_version\("([\d.]+)"\)', (REPO / "Snakefile").read_text(), re.M)
    assert m, "Snakefile: no min_version(...) call"
    return Version(m.group(1))


def test_snakemake_floor_is_the_first_release_that_runs_the_snakefile():
    snakemake = next(r for r in requirements(extras=False) if r.name == "snakemake")
    assert floor(str(snakemake.specifier)) == snakefile_min_version(), (
        f"pyproject.toml: {snakemake} but Snakefile: min_version({snakefile_min_version()})")
    used = {}
    for pattern, (path, since) in FEATURES.items():
        if re.search(pattern, (REPO / path).read_text(), re.M):
            used[pattern] = since
    assert used, "the features the floor is measured against are gone: measure the floor again"
    assert snakefile_min_version() == max(used.values()), (
        f"min_version {snakefile_min_version()}, but the newest feature used needs {max(used.values())}: {used}")
    # min_version runs before any rule file is parsed: no directive of a newer Snakemake in the Snakefile itself
    assert not re.search(r"^pathvars:", (REPO / "Snakefile").read_text(), re.M)


def test_python_floor_is_what_the_pinned_dependencies_need():
    needed = {}
    for req in requirements():
        pinned = any(s.operator == "==" for s in req.specifier)
        if not pinned and canonicalize_name(req.name) not in SAME_PYTHON_ACROSS_RANGE:
            continue  # a range down to old releases: pip picks one that runs on the floor's Python
        try:
            meta = metadata(req.name)
        except PackageNotFoundError:
            pytest.fail(f"{req.name} ({req}) is not installed: install the project with .[test]")
        if pinned:  # the installed release is the pinned one (torch's local version label aside)
            assert Version(meta["Version"]).public in req.specifier, f"{req.name} {meta['Version']} is not {req}"
        if meta.get("Requires-Python"):
            needed[req.name] = floor(meta["Requires-Python"])
    project = floor(PYPROJECT["project"]["requires-python"])
    top = max(needed.values())
    assert project == top, f"requires-python {project}, but the pinned dependencies need {top}: {needed}"
    assert f"py{top.major}{top.minor}" == PYPROJECT["tool"]["ruff"]["target-version"]
    quick_start = (REPO / "README.md").read_text().split("## Quick start", 1)[1][:600]
    assert f"Python >= {top}" in quick_start, "README, Quick start: the Python it names"


# ---------------------------------------------------------------- envs/neuroreg.yaml
def conda_env() -> dict:
    return yaml.safe_load((REPO / "envs/neuroreg.yaml").read_text())


def test_conda_environment_pins_what_pyproject_pins():
    env = conda_env()
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    by_name = {}
    for item in conda:  # conda match specs: name=version
        name, _, version = item.partition("=")
        by_name[name] = version
    # python: the floor of requires-python
    assert by_name["python"] == str(floor(PYPROJECT["project"]["requires-python"]))
    # torch: conda-forge's package is `pytorch`, at pyproject's pin
    torch = next(r for r in requirements(extras=False) if r.name == "torch")
    assert SpecifierSet(f"=={by_name['pytorch']}") == torch.specifier, (by_name["pytorch"], str(torch))
    # everything else through pip, exactly as pyproject says
    wanted = {canonicalize_name(r.name): r.specifier for r in requirements(extras=False) if r.name != "torch"}
    got = {canonicalize_name(Requirement(p).name): Requirement(p).specifier for p in pip}
    assert got == wanted


def test_conda_environment_works_where_snakemake_copies_it():
    env = conda_env()
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    for item in pip:
        assert not item.startswith(("-e", "-r", ".", "/", "file:")) and ".." not in item, (
            f"envs/neuroreg.yaml: pip entry {item!r} names a path; Snakemake builds the environment from a copy "
            "under .snakemake/conda/, where it means nothing")
        Requirement(item)  # a plain requirement
    # the `pytorch` channel stopped at torch 2.5; conda-forge builds torch today
    assert env["channels"][0] == "conda-forge" and "pytorch" not in env["channels"]
    assert "nodefaults" in env["channels"]


@pytest.mark.timeout(180)
def test_script_jobs_find_neuroreg_through_snakemakes_preamble(tmp_path):
    """A job in the conda environment imports neuroreg from where the Snakemake process found it: Snakemake
    appends that process's sys.path to the script's (its preamble). Checked on a real job's script."""
    import neuroreg

    tiny_config(tmp_path)
    env = dict(os.environ, NEUROREG_NO_MEASURE="1", PYTHONHASHSEED="0")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "--cores", "1", "--skip-script-cleanup", "results/tiny/data/stimuli.h5",
                           "--configfile", str(tmp_path / "config.yaml")],
                          capture_output=True, text=True, env=env, timeout=170)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scripts = list((tmp_path / ".snakemake/scripts").glob("*stimulus_bank.py"))
    assert len(scripts) == 1
    preamble = scripts[0].read_text().split("snakemake preamble end", 1)[0]
    m = re.search(r"sys\.path\.extend\((\[.*?\])\)", preamble)
    assert m, preamble[:500]
    assert str(Path(neuroreg.__file__).resolve().parents[1]) in eval(m.group(1))  # noqa: S307 - a list literal
