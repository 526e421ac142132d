"""A real local Ray cluster of two nodes: ``ray start --head`` with no CPUs, and a second node
joined with ``ray start --address`` holding the CPUs, so every task runs on the second node.

    python tests/ray_cluster.py start [DIR]   # prints the address to export; idempotent
    python tests/ray_cluster.py stop [DIR]    # stops what start recorded; idempotent

Ray's files live under DIR (``--temp-dir``), and ``pids.json`` records the session of each
``ray start``: stopping kills those sessions' processes, never another Ray on the machine.
Token authentication is off (``RAY_AUTH_MODE=disabled``): the cluster listens on this machine
only, and a token file another Ray left in ``~/.ray`` would otherwise turn it on for the nodes
while a driver, which reads the mode when it imports ``ray``, would not send it.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

import cluster_processes

NODES = ("head", "worker")
WORKER_CPUS = 2


def default_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "rgd_bench_ray")


def _read(root: str, name: str) -> str:
    try:
        with open(os.path.join(root, name), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def environment(root: str) -> dict[str, str]:
    return dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")


def address(root: str) -> str:
    return _read(root, "address")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_up(root: str) -> bool:
    pids = cluster_processes.recorded(root)
    if set(pids) != set(NODES) or not all(cluster_processes.session_members(s) for s in pids.values()):
        return False
    result = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "status", f"--address={address(root)}"],
                            capture_output=True, text=True, env=environment(root), timeout=60)
    return result.returncode == 0


def _start_node(root: str, name: str, argv: list[str], pids: dict[str, int]) -> None:
    pid = cluster_processes.spawn(root, name, ["ray", "start", *argv], environment(root))
    pids[name] = pid  # ray start's pid names the session its daemons stay in
    cluster_processes.record(root, pids)
    deadline = time.monotonic() + 120
    while cluster_processes.alive(pid):  # ray start returns once the node runs
        if time.monotonic() > deadline:
            raise RuntimeError(f"`ray start` for the {name} node did not return within 120 s; see {root}/{name}.out")
        time.sleep(0.1)


def start(root: str | None = None) -> str:
    """Start the cluster (or keep the one running there); return its address."""
    root = os.path.abspath(root or default_dir())
    if is_up(root):
        return address(root)
    stop(root)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "address"), "w", encoding="utf-8") as f:
        f.write(f"127.0.0.1:{_free_port()}")
    pids: dict[str, int] = {}
    common = ["--disable-usage-stats", "--include-dashboard=false"]
    _start_node(root, "head", ["--head", f"--port={address(root).split(':')[1]}", "--num-cpus=0", "--num-gpus=0",
                               f"--temp-dir={root}", *common], pids)
    _start_node(root, "worker", [f"--address={address(root)}", f"--num-cpus={WORKER_CPUS}", "--num-gpus=0",
                                 *common[:1]], pids)
    if not is_up(root):
        raise RuntimeError(f"The Ray cluster in {root} did not come up; see {root}/head.out and {root}/worker.out")
    return address(root)


def stop(root: str | None = None) -> None:
    root = os.path.abspath(root or default_dir())
    pids = cluster_processes.recorded(root)
    cluster_processes.kill_sessions([pids[name] for name in reversed(NODES) if name in pids])
    cluster_processes.forget(root)


if __name__ == "__main__":
    sys.exit(cluster_processes.main(sys.argv[1:], start, stop, default_dir(), "RAY_ADDRESS"))
