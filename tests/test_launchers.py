"""One test suite that every launcher inherits (as Hydra's LauncherTestSuite): each
backend runs the real thing (subprocesses, worker processes, submitit's local and debug
executors, a local Ray)."""
from __future__ import annotations

import json
import os

import pytest

from conftest import read_records, wait_for
from plugin_files import write_plugin
from rgd_bench.sweep.jobs import DONE, FAILED, Outcome, job_state
from rgd_bench.sweep.launchers.dry_run import DryRunLauncher
from rgd_bench.sweep.launchers.local import LocalLauncher
from rgd_bench.sweep.launchers.multiprocess import MultiprocessLauncher
from rgd_bench.sweep.launchers.submitit_launcher import SubmititLauncher
from rgd_bench.sweep.plan import SweepSpec, plan_jobs

HOSTILE = "runs with spaces, 'single' \"double\" quotes and ünïcødé"


def tiny_jobs(sweep_dir, steps=10, hparams=None):
    return plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM"], output_dir=str(sweep_dir),
                               n_hparams=1, n_trials=1, single_test_envs=True, steps=steps, checkpoint_freq=5,
                               hparams=hparams))


def run(launcher, jobs, retries=0):
    started, finished = [], {}
    launcher.run(jobs, retries, started.append, lambda job, outcome: finished.__setitem__(job.job_id, outcome))
    return started, finished


class LauncherSuite:
    """Inherit and define ``make_launcher``."""

    def make_launcher(self, tmp_path):
        raise NotImplementedError

    def test_runs_every_job_to_done(self, tmp_path):
        jobs = tiny_jobs(tmp_path / HOSTILE)
        started, finished = run(self.make_launcher(tmp_path), jobs)
        assert {j.job_id for j in started} == {j.job_id for j in jobs}
        assert all(finished[j.job_id].status == Outcome.DONE for j in jobs)
        for job in jobs:
            assert job_state(job) == DONE
            assert [r["step"] for r in read_records(job.output_dir)] == [0, 5, 9]

    def test_a_failing_job_is_recorded_and_the_others_go_on(self, tmp_path):
        good = tiny_jobs(tmp_path / "sweep")
        bad = tiny_jobs(tmp_path / "sweep", hparams='{"batch_size": 900}')[:1]  # larger than a split
        _, finished = run(self.make_launcher(tmp_path), bad + good, retries=1)
        assert finished[bad[0].job_id].status == Outcome.FAILED
        assert "larger than the training split" in finished[bad[0].job_id].error
        assert job_state(bad[0]) == FAILED
        failure = json.load(open(os.path.join(bad[0].output_dir, "failed.json")))
        assert failure["attempts"] == 2
        assert all(job_state(j) == DONE for j in good)

    def test_a_plugin_file_reaches_every_job(self, tmp_path, monkeypatch, plugins_forgotten):
        """Planned in the plugin's directory with a relative path, run from another: each job
        imports the file by the absolute path the plan gave it."""
        plugin = write_plugin(tmp_path / HOSTILE, "my plugin.py")
        monkeypatch.chdir(tmp_path / HOSTILE)
        jobs = plan_jobs(SweepSpec(datasets=["PluggedTabular"], algorithms=["PluggedERM"], n_hparams=1, n_trials=1,
                                   output_dir=str(tmp_path / "sweep"), steps=10, checkpoint_freq=5,
                                   plugins=["my plugin.py"]))
        os.makedirs(tmp_path / "elsewhere")
        monkeypatch.chdir(tmp_path / "elsewhere")
        _, finished = run(self.make_launcher(tmp_path), jobs)
        assert [outcome.status for outcome in finished.values()] == [Outcome.DONE], finished
        records = read_records(jobs[0].output_dir)
        assert records[0]["args"]["plugins"] == [plugin]
        assert [r["plugged"] for r in records] == [1.0, 1.0, 1.0]  # its update ran


class TestLocal(LauncherSuite):
    def make_launcher(self, tmp_path):
        return LocalLauncher()


class TestMultiprocess(LauncherSuite):
    def make_launcher(self, tmp_path):
        return MultiprocessLauncher(workers=2)


class TestSubmititDebug(LauncherSuite):
    def make_launcher(self, tmp_path):
        return SubmititLauncher(cluster="debug", folder=str(tmp_path / "submitit logs"))


class TestSubmititLocal(LauncherSuite):
    def make_launcher(self, tmp_path):
        return SubmititLauncher(cluster="local", folder=str(tmp_path / "submitit logs"), time_min=10)

    @pytest.mark.slow
    def test_timed_out_job_is_requeued_and_resumes_from_its_checkpoint(self, tmp_path, uninterrupted):
        """Slurm's signal near the time limit (SIGUSR2, which submitit also uses for preemption):
        the task exits with the requeue code, submitit's local controller starts it again, and
        the engine resumes from the run's last checkpoint.  The signal is sent by the test once a
        checkpoint exists, rather than by a short timeout, so it does not depend on the speed of
        the machine (the controller restarts a job at most 6 times, and a task must exit within
        ``signal_delay_s`` of the signal)."""
        import signal

        import submitit

        from interruptions import WAIT_S, assert_resumed_equal, long_job, stop_after_first_checkpoint
        from rgd_bench.sweep.launchers.submitit_launcher import make_task

        job = long_job(tmp_path / "s")
        executor = submitit.LocalExecutor(str(tmp_path / "logs"))
        executor.update_parameters(timeout_min=10)  # never reached: the test sends the signal
        handle = executor.submit(make_task(), job.train_args, job.sweep_dir, 0)
        try:
            pid = stop_after_first_checkpoint(job)  # the signal is handled as soon as it runs again
            try:
                os.kill(pid, signal.SIGUSR2)
            finally:
                os.kill(pid, signal.SIGCONT)
            wait_for(handle.done, "the requeued job to finish", WAIT_S, 0.05)
        finally:
            if not handle.done():
                handle.cancel()
        assert_resumed_equal(job, Outcome(*handle.result()), uninterrupted)


class TestRay(LauncherSuite):
    @pytest.fixture(autouse=True, scope="class")
    def local_ray(self):
        ray = pytest.importorskip("ray", reason="the ray launcher's tests need 'rgd_bench[ray]'")
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()

    def make_launcher(self, tmp_path):
        from rgd_bench.sweep.launchers.ray_launcher import RayLauncher

        return RayLauncher(cpus_per_job=1)


def test_dry_run_runs_nothing(tmp_path, capsys):
    jobs = tiny_jobs(tmp_path / "s")
    started, finished = run(DryRunLauncher(), jobs)
    assert started == [] and finished == {}
    assert capsys.readouterr().out.count("-m rgd_bench.train") == len(jobs)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("module,launcher_module,extra", [
    ("submitit", "rgd_bench.sweep.launchers.submitit_launcher", "slurm"),
    ("ray", "rgd_bench.sweep.launchers.ray_launcher", "ray"),
])
def test_a_missing_backend_names_the_extra_to_install(monkeypatch, module, launcher_module, extra):
    import importlib

    monkeypatch.setitem(__import__("sys").modules, module, None)  # as if not installed
    loader = getattr(importlib.import_module(launcher_module), "_submitit" if module == "submitit" else "_ray")
    with pytest.raises(ImportError, match=rf"pip install 'rgd_bench\[{extra}\]'"):
        loader()
