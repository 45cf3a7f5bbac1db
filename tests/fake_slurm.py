"""A fake SLURM (and a fake generic `qsub`) on PATH for the profile tests: sbatch runs the job, sacct reports it.

`install(bin_dir, state_dir)` writes executables `sbatch`, `srun`, `sacct`, `squeue`,
`sinfo`, `scontrol`, `scancel`, `sacctmgr` into `bin_dir`. They keep their state in
`state_dir`:

- `sbatch` appends its full argument list (one JSON line) to `sbatch.jsonl`, runs the
  `--wrap` command synchronously in the `-D` directory (stdout/stderr to the `--output`
  log, with a hard time limit), stores the job's final state in `jobs/<id>` and prints
  the id, as `sbatch --parsable` does. Because it returns only when the job has ended,
  every job Snakemake registers is already finished, so nothing polls for long.
- `sacct`/`squeue` print `<id>|<STATE>` for every job (COMPLETED, FAILED, TIMEOUT).
- Fault injection: when `$FAKE_SLURM_TIMEOUT_ONCE` (a substring of the sbatch
  `--comment`, e.g. `rule_cotrain`) matches, the first such job runs with the extra
  environment `$FAKE_SLURM_TIMEOUT_ENV` (`NAME=value`) and is reported TIMEOUT if it fails,
  as if SLURM had killed it at its time limit.
- Touch mode: with `$FAKE_SLURM_OUTPUTS` (a JSON file {"rule:wc=value,...": [outputs]})
  sbatch runs nothing and only creates the job's outputs, so a whole DAG is submitted in
  seconds.
- `qsub JOBSCRIPT` (for the cluster-generic executor) records its arguments and the job
  script in `qsub.jsonl` and runs the script (which touches Snakemake's finished marker).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

HEADER = f"#!{sys.executable}\nimport fcntl, json, os, subprocess, sys, time\nSTATE = {{state!r}}\n"

RUN_JOB = r'''
import shlex


def run_job(command, workdir, env, log):
    """Run a job command; in touch mode ($FAKE_SLURM_OUTPUTS) only create its outputs. -> (rc, timed_out)"""
    table = os.environ.get("FAKE_SLURM_OUTPUTS")
    if table:  # the job's outputs, looked up by its --target-jobs spec (rule:wildcard=value,...)
        words = shlex.split(command)
        rule, _, wcs = words[words.index("--target-jobs") + 1].partition(":")
        key = rule + ":" + ",".join(sorted(w for w in wcs.split(",") if w))
        for path in json.load(open(table))[key]:
            path = os.path.join(workdir or ".", path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        return 0, False
    try:
        return subprocess.run(command, shell=True, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=float(os.environ.get("FAKE_SLURM_JOB_TIMEOUT", "240"))).returncode, False
    except subprocess.TimeoutExpired:
        return 1, True
'''

SBATCH = RUN_JOB + r'''
args = sys.argv[1:]
with open(os.path.join(STATE, "sbatch.jsonl"), "a") as log:
    fcntl.flock(log, fcntl.LOCK_EX)
    n = sum(1 for _ in open(os.path.join(STATE, "sbatch.jsonl")))
    job_id = str(1000 + n)
    log.write(json.dumps({"id": job_id, "args": args}) + "\n")

def value(flag):
    return args[args.index(flag) + 1] if flag in args else None

wrap = next((a[len("--wrap="):] for a in args if a.startswith("--wrap=")), None)
if wrap is None:
    print("fake sbatch: only --wrap jobs are supported", file=sys.stderr)
    sys.exit(1)
comment = value("--comment") or ""
env = dict(os.environ, SLURM_JOB_ID=job_id, SLURM_JOBID=job_id)
inject = os.environ.get("FAKE_SLURM_TIMEOUT_ONCE")
marker = os.path.join(STATE, "timeout_injected")
injected = bool(inject) and inject in comment and not os.path.exists(marker)
if injected:
    open(marker, "w").close()
    name, _, val = os.environ["FAKE_SLURM_TIMEOUT_ENV"].partition("=")
    env[name] = val
out = (value("--output") or os.devnull).replace("%j", job_id)
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "w") as f:
    rc, timed_out = run_job(wrap, value("-D"), env, f)
injected = injected or timed_out
state = "COMPLETED" if rc == 0 else ("TIMEOUT" if injected else "FAILED")
with open(os.path.join(STATE, "jobs", job_id), "w") as f:
    f.write(state)
print(job_id)
'''

SRUN = r'''
args = sys.argv[1:]
with open(os.path.join(STATE, "srun.jsonl"), "a") as log:
    log.write(json.dumps(args) + "\n")
while args and args[0].startswith("-"):
    args.pop(0)
os.execvp(args[0], args)
'''

STATUS = r'''
args = sys.argv[1:]
if "-j" in args or "-nu" in args:  # failure reasons, account guessing: nothing to say
    sys.exit(0)
jobs = os.path.join(STATE, "jobs")
for job_id in sorted(os.listdir(jobs)):
    print(f"{job_id}|{open(os.path.join(jobs, job_id)).read().strip()}")
'''

SCONTROL = r'''
if sys.argv[1:3] == ["show", "config"]:
    print("MinJobAge               = 300 sec")
    print("MaxArraySize            = 1001")
'''

SINFO = r'''
print("PARTITION")
print("cpu*")
print("gpu")
'''

SACCTMGR = r'''
print(os.environ.get("FAKE_SLURM_ACCOUNT", "testacct"))
'''

SCANCEL = r'''
with open(os.path.join(STATE, "scancel.jsonl"), "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
'''

QSUB = RUN_JOB + r'''
args = sys.argv[1:]
script = args[-1]
with open(os.path.join(STATE, "qsub.jsonl"), "a") as log:
    fcntl.flock(log, fcntl.LOCK_EX)
    n = sum(1 for _ in open(os.path.join(STATE, "qsub.jsonl")))
    job_id = str(5000 + n)
    log.write(json.dumps({"id": job_id, "args": args, "script": open(script).read()}) + "\n")
env = dict(os.environ)
env.pop("FAKE_SLURM_OUTPUTS", None)
with open(os.path.join(STATE, f"qsub-{job_id}.log"), "w") as f:
    run_job("sh " + shlex.quote(script), None, env, f)  # the job script touches its own finished/failed marker
print(job_id)
'''

COMMANDS = {
    "qsub": QSUB,
    "qdel": SCANCEL,
    "sbatch": SBATCH,
    "srun": SRUN,
    "sacct": STATUS,
    "squeue": STATUS,
    "scontrol": SCONTROL,
    "sinfo": SINFO,
    "sacctmgr": SACCTMGR,
    "scancel": SCANCEL,
}


def install(bin_dir: Path, state_dir: Path) -> None:
    """Write the fake SLURM commands into bin_dir (put it first on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "jobs").mkdir(parents=True, exist_ok=True)
    for name, body in COMMANDS.items():
        path = bin_dir / name
        path.write_text(HEADER.format(state=str(state_dir)) + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def env_with(bin_dir: Path, **extra: str) -> dict:
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONHASHSEED="0", **extra)
    for var in [v for v in env if v.startswith("SLURM_")]:
        del env[var]
    return env
