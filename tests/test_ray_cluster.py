"""The ray launcher against a real Ray cluster of two nodes (``ray_cluster.py``: ``ray start
--head`` and a second node joined to it), reached by ``ray_address`` as a user's would be: the
shared launcher suite, and a worker process killed mid-job."""
from __future__ import annotations

import os
import shutil
import signal
import tempfile

import pytest

import ray_cluster
from interruptions import assert_resumed_equal, finish, in_background, long_job, stop_after_first_checkpoint
from test_launchers import LauncherSuite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_address():
    """A two-node Ray cluster for the module."""
    ray = pytest.importorskip("ray", reason="the ray launcher's tests need 'rgd_bench[ray]'")
    root = tempfile.mkdtemp(prefix="rgd_bench_ray_")
    try:
        yield ray_cluster.start(root)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        ray_cluster.stop(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def connected(ray_address):
    yield ray_address
    import ray

    ray.shutdown()  # each test connects through the launcher, as a sweep does


def ray_launcher(address):
    from rgd_bench.sweep.launchers.ray_launcher import RayLauncher

    return RayLauncher(ray_address=address, cpus_per_job=1)


class TestRayCluster(LauncherSuite):
    @pytest.fixture(autouse=True)
    def address(self, connected):
        self.ray_address = connected

    def make_launcher(self, tmp_path):
        return ray_launcher(self.ray_address)


def test_the_cluster_has_two_nodes_and_jobs_run_on_the_second(connected, tmp_path):
    """The head has no CPUs: a job that finishes ran on the node that joined it."""
    import ray

    from test_launchers import run, tiny_jobs
    from rgd_bench.sweep.jobs import Outcome

    _, finished = run(ray_launcher(connected), tiny_jobs(tmp_path / "s")[:1])
    assert [outcome.status for outcome in finished.values()] == [Outcome.DONE]
    nodes = [node for node in ray.nodes() if node["Alive"]]
    assert sorted(node["Resources"].get("CPU", 0) for node in nodes) == [0, ray_cluster.WORKER_CPUS]


def test_a_worker_killed_mid_job_is_retried_and_resumes_from_its_checkpoint(connected, tmp_path, uninterrupted):
    job = long_job(tmp_path / "s")
    thread, finished = in_background(ray_launcher(connected), [job])
    pid = stop_after_first_checkpoint(job)
    os.kill(pid, signal.SIGKILL)  # the Ray worker process running the job
    assert_resumed_equal(job, finish(thread, finished, job), uninterrupted)
