"""A real one-node SLURM cluster in a temporary folder, for tests/test_slurm_real.py.

Debian's `slurmctld`, `slurmd`, `slurm-client` and `munge` (SLURM 22.05 on Debian 12), started as
root with their own munge key, socket, ports, spool and state folders, so nothing under /etc is read
or written. The node has `n_gpus` fake GPUs: character devices made with mknod as copies of
/dev/null (`gres.conf` needs a device file whose name ends in its index), so SLURM allocates them,
sets CUDA_VISIBLE_DEVICES and SLURM_JOB_GPUS as on a GPU node, and nothing can be run on them.
`SlurmdParameters=config_overrides` lets the node declare more CPUs and memory than the machine has
(the profile's GPU rules ask for 4-8 CPUs and 16 GB); nothing enforces them (no cgroups).

No accounting (`AccountingStorageType=accounting_storage/none`, no slurmdbd): `sacct` fails, as on
many small lab clusters, so job status comes from `squeue`, which shows a finished job for
`MinJobAge` seconds (300 here, SLURM's default).

The daemons are started and stopped by their PIDs (`munged -F`, `slurmctld -D`, `slurmd -D` stay in
the foreground). Every process the cluster starts, jobs included, has `NEUROREG_TEST_CLUSTER=<folder>`
in its environment; :meth:`Cluster.stop` cancels the jobs, stops the daemons and then looks for any
process left with that mark (there should be none: it kills them by PID and says so).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

SBIN = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "scancel", "sinfo", "scontrol")
MARK = "NEUROREG_TEST_CLUSTER"
INSTALL = "apt-get install slurmctld slurmd slurm-client munge, as root"


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def unavailable() -> str | None:
    """Why a cluster cannot be stood up here (None: it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"real SLURM needs root (it starts munged, slurmctld and slurmd; {INSTALL})"
    missing = [n for n in SBIN + CLIENTS if _which(n) is None]
    if missing:
        return f"real SLURM not installed (no {', '.join(missing)}; {INSTALL})"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One node (`node`), partitions `cpu` (default) and `gpu`, both on it."""

    def __init__(self, root: Path, *, n_gpus: int = 2, cpus: int = 16, mem_mb: int = 64000, min_job_age: int = 300):
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.bin = self.root / "bin"
        self.n_gpus, self.cpus, self.mem_mb, self.min_job_age = n_gpus, cpus, mem_mb, min_job_age
        self.procs: dict[str, subprocess.Popen] = {}
        self.leftovers: list[str] = []

    # ------------------------------------------------------------------ setup
    def _write_config(self) -> None:
        r = self.root
        for d in ("spool", "state", "log"):
            (r / d).mkdir(parents=True, exist_ok=True)
        key = r / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for i in range(self.n_gpus):  # fake GPUs: the null device under names that end in their index
            os.mknod(r / f"nvidia{i}", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        host = socket.gethostname()
        gres = f"Gres=gpu:{self.n_gpus}" if self.n_gpus else ""
        self.conf.write_text(f"""\
ClusterName=neuroreg-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r}/munge.socket
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
GresTypes=gpu
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge={self.min_job_age}
NodeName=node NodeHostname={host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} {gres} State=UNKNOWN
PartitionName=cpu Nodes=node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=node MaxTime=INFINITE State=UP
""")
        gres_lines = f"NodeName=node Name=gpu File={r}/nvidia[0-{self.n_gpus - 1}]\n" if self.n_gpus else ""
        (r / "gres.conf").write_text(gres_lines)
        # The job-step executor (snakemake-executor-plugin-slurm-jobstep) removes SLURM_CONF from the job's
        # environment before it calls srun, so srun inside a job reads /etc/slurm/slurm.conf, which a cluster
        # in a temporary folder does not have (docs/OPERATIONS.md, "Running on a SLURM cluster"): an srun that sets it.
        self.bin.mkdir(exist_ok=True)
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {_which("srun")} "$@"\n')
        srun.chmod(0o755)

    def env(self, base: dict | None = None) -> dict:
        """An environment for SLURM's commands (and Snakemake) on this cluster: no SLURM_* of the caller's."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("SLURM_")}
        env.update({"SLURM_CONF": str(self.conf), MARK: str(self.root),
                    "PATH": f"{self.bin}{os.pathsep}{env.get('PATH', '')}"})
        return env

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env(), timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def _start(self, name: str, *args: str) -> None:
        log = open(self.root / "log" / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen([_which(name), *args], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self.env(), cwd=self.root)
        log.close()

    def start(self, timeout: float = 60) -> "Cluster":
        self._write_config()
        r = self.root
        try:
            self._start("munged", "-F", "--force", f"--key-file={r}/munge.key", f"--socket={r}/munge.socket",
                        f"--pid-file={r}/munged.pid", f"--log-file={r}/log/munged.log", f"--seed-file={r}/munge.seed")
            self._wait(lambda: (r / "munge.socket").exists(), "munged's socket", timeout)
            self._start("slurmctld", "-D", "-f", str(self.conf))
            self._start("slurmd", "-D", "-f", str(self.conf), "-N", "node")
            self._wait(lambda: self.run("sinfo", "-h", "-n", "node", "-o", "%t", check=False).strip() == "idle",
                       "the node to be idle", timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, ready, what: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited ({p.returncode}) while waiting for {what}: "
                                       f"{(self.root / 'log' / f'{name}.out').read_text()[-2000:]}")
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"SLURM test cluster: no {what} after {timeout:.0f} s (logs in {self.root / 'log'})")

    # ------------------------------------------------------------------ queries
    def jobs(self) -> dict[str, dict]:
        """Every job slurmctld still knows (finished ones for MinJobAge s): id -> `scontrol show job` fields."""
        out = self.run("scontrol", "show", "job", "-o", check=False)
        jobs = {}
        for line in out.splitlines():
            if not line.startswith("JobId="):
                continue
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            jobs[fields["JobId"]] = fields
        return jobs

    def active(self) -> list[str]:
        return self.run("squeue", "-h", "-o", "%i", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED",
                        check=False).split()

    # ------------------------------------------------------------------ teardown
    def stop(self, timeout: float = 60) -> list[str]:
        """Cancel every job, stop the daemons by PID, kill anything left with the cluster's mark.

        Returns (and keeps in `leftovers`) what had to be killed after the daemons stopped: nothing, normally."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            ids = self.active()
            if ids:
                self.run("scancel", *ids, check=False)
            end = time.monotonic() + timeout
            while self.active() and time.monotonic() < end:
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.leftovers = self._kill_marked()
        return self.leftovers

    def _kill_marked(self) -> list[str]:
        mark = f"{MARK}={self.root}".encode()
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if mark not in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    continue
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                os.kill(int(pid), signal.SIGKILL)
                found.append(f"{pid} {cmd.strip()}")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
        return found
