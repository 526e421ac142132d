"""A real one-node Slurm cluster (Debian's slurm-wlm and munge), started without systemd.

    python tests/slurm_cluster.py start [DIR]   # prints the SLURM_CONF to export; idempotent
    python tests/slurm_cluster.py stop [DIR]    # stops what start recorded; idempotent

Everything lives under DIR (default: ``$TMPDIR/rgd_bench_slurm``): the configuration, the
controller's state, the spool, logs, munge's socket, and ``pids.json``, the process ids of the
daemons this script started.  ``start`` reuses a cluster whose recorded daemons are alive and
answer; otherwise it stops whatever it recorded and starts afresh.  ``stop`` kills only the
recorded processes.  Needs root (slurmd runs jobs as their users) and the two packages.

The configuration is what a container without cgroups or accounting allows (linuxproc
process tracking, no task plugin, CPUs counted but not memory, more CPUs declared than the
machine has), with short intervals so that a requeued job runs again within seconds: a job's
credential expires after ``cred_expire`` seconds, and a requeued job waits for it.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import cluster_processes

DAEMONS = ("munged", "slurmctld", "slurmd")
PARTITION = "debug"
NODE_CPUS = 8  # more than the machine's cores (SlurmdParameters=config_overrides): jobs wait on no core
KILL_WAIT_S = 2  # between SIGTERM and SIGKILL when Slurm kills a job (scontrol requeue, scancel)


def default_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "rgd_bench_slurm")


def missing_binaries() -> list[str]:
    return [name for name in (*DAEMONS, "sbatch", "squeue", "scontrol", "munge") if not shutil.which(name)]


def conf_path(root: str) -> str:
    return os.path.join(root, "slurm.conf")


def _config(root: str, node: str) -> str:
    return "\n".join([
        "ClusterName=rgdbench",
        f"SlurmctldHost={node}(127.0.0.1)",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=cred_expire=10,socket={root}/munge/munge.socket",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SlurmdParameters=config_overrides",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "ReturnToService=2",
        "SchedulerParameters=sched_interval=2,bf_interval=2",
        f"KillWait={KILL_WAIT_S}",
        "MinJobAge=600",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool",
        f"SlurmctldPidFile={root}/slurmctld.pid",
        f"SlurmdPidFile={root}/slurmd.pid",
        f"SlurmctldLogFile={root}/slurmctld.log",
        f"SlurmdLogFile={root}/slurmd.log",
        # RealMemory above any --mem a job asks for: memory is not counted (CR_CPU), only checked.
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory=1000000 State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def environment(root: str) -> dict[str, str]:
    return dict(os.environ, SLURM_CONF=conf_path(root))


def node_state(root: str) -> str:
    result = subprocess.run(["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True,
                            env=environment(root), timeout=30)
    return result.stdout.strip() if result.returncode == 0 else ""


def is_up(root: str) -> bool:
    pids = cluster_processes.recorded(root)
    return (set(pids) == set(DAEMONS) and all(cluster_processes.alive(pid) for pid in pids.values())
            and node_state(root) in ("idle", "mixed", "allocated"))


def _wait(condition, what: str, root: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            logs = "".join(_tail(os.path.join(root, f"{name}.log")) for name in DAEMONS)
            raise RuntimeError(f"The Slurm cluster in {root} did not come up: no {what} after {timeout_s:.0f} s.\n{logs}")
        time.sleep(0.1)


def _tail(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f"--- {path}\n" + "".join(f.readlines()[-15:])
    except OSError:
        return ""


def start(root: str | None = None) -> str:
    """Start the cluster (or keep the one running there); return its SLURM_CONF path."""
    root = os.path.abspath(root or default_dir())
    if is_up(root):
        return conf_path(root)
    missing = missing_binaries()
    if missing:
        raise RuntimeError(f"Slurm is not installed (missing {', '.join(missing)}): "
                           f"apt-get install -y slurm-wlm munge")
    stop(root)
    for sub in ("state", "spool", "munge"):
        shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
        os.makedirs(os.path.join(root, sub))
    os.chmod(root, 0o755)
    shutil.chown(os.path.join(root, "munge"), "munge", "munge")
    os.chmod(os.path.join(root, "munge"), 0o755)
    node = socket.gethostname().split(".")[0]
    with open(conf_path(root), "w", encoding="utf-8") as f:
        f.write(_config(root, node))
    munge_dir = os.path.join(root, "munge")
    pids = {"munged": cluster_processes.spawn(root, "munged", [
        "runuser", "-u", "munge", "--", "munged", "--foreground", f"--socket={munge_dir}/munge.socket",
        f"--pid-file={munge_dir}/munged.pid", f"--seed-file={munge_dir}/munged.seed",
        f"--log-file={munge_dir}/munged.log"], environment(root))}
    cluster_processes.record(root, pids)
    _wait(lambda: subprocess.run(["munge", "-n", f"--socket={munge_dir}/munge.socket"], capture_output=True).returncode
          == 0, "munge credential", root)
    pids["slurmctld"] = cluster_processes.spawn(root, "slurmctld", ["slurmctld", "-D", "-i", "-f", conf_path(root)],
                                                    environment(root))
    cluster_processes.record(root, pids)
    pids["slurmd"] = cluster_processes.spawn(root, "slurmd", ["slurmd", "-D", "-N", node, "-f", conf_path(root)],
                                                 environment(root))
    cluster_processes.record(root, pids)
    _wait(lambda: node_state(root) == "idle", "idle node", root)
    return conf_path(root)


def stop(root: str | None = None) -> None:
    """Stop the daemons that ``start`` recorded under ``root`` (nothing else), and their jobs."""
    root = os.path.abspath(root or default_dir())
    pids = cluster_processes.recorded(root)
    if pids.keys() >= {"slurmctld", "munged"}:  # jobs outlive slurmd by design: cancel them first
        subprocess.run(["scancel", "--me"], env=environment(root), capture_output=True, timeout=30)
    for name in reversed(DAEMONS):  # slurmd first: it takes its jobs with it
        if name in pids:
            cluster_processes.kill_sessions([pids[name]])
    cluster_processes.forget(root)


if __name__ == "__main__":
    sys.exit(cluster_processes.main(sys.argv[1:], start, stop, default_dir(), "SLURM_CONF"))
