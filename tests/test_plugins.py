"""``--plugins``: one file (or module) registering an algorithm and a dataset reaches the train
command, every sweep command and its jobs, and the report; a bad plugin is one line, exit 2;
a plugin's path is a location, not part of a run's identity; README's example runs as written."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from conftest import REPO_ROOT, read_records
from plugin_files import write_plugin
from rgd_bench.errors import UsageError
from rgd_bench.plugins import import_plugins, resolve_plugins
from rgd_bench.registry import ALGORITHMS, DATASETS
from rgd_bench.sweep.plan import SweepSpec, plan_jobs

TINY = ["--steps", "3", "--checkpoint_freq", "2"]
TRAIN = ["--algorithm", "PluggedERM", "--dataset", "PluggedTabular", "--test_envs", "2", *TINY]
SWEEP = ["--algorithms", "PluggedERM", "--datasets", "PluggedTabular", "--n_hparams", "1", "--n_trials", "1", *TINY]


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


# ---- importing ------------------------------------------------------------------------------------

def test_a_file_registers_once_by_its_absolute_path(tmp_path, monkeypatch, plugins_forgotten):
    monkeypatch.chdir(tmp_path)
    write_plugin(tmp_path)
    assert import_plugins(["my_plugin.py"]) == [str(tmp_path / "my_plugin.py")]
    plugged = ALGORITHMS.get("PluggedERM")
    # Again, by another spelling of the same file (a worker runs many jobs): nothing changes.
    assert import_plugins([str(tmp_path / "my_plugin.py"), "./my_plugin.py"]) == [str(tmp_path / "my_plugin.py")] * 2
    assert ALGORITHMS.get("PluggedERM") is plugged and DATASETS.get("PluggedTabular").TEST_ENVS == (2,)
    assert {"ERM", "GroupDRO", "RGD", "SGD_HWS", "ALSO"} <= set(ALGORITHMS.names())


def test_a_module_name_is_imported_and_kept_as_a_name(tmp_path, monkeypatch, plugins_forgotten):
    write_plugin(tmp_path / "site", "my_plugin_module.py")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert import_plugins(["my_plugin_module"]) == ["my_plugin_module"]
    assert ALGORITHMS.get("PluggedERM").__module__ == "my_plugin_module"


BAD = [  # (files to write, the plugin, what the one line says)
    ({}, "missing.py", "does not exist"),
    ({"folder/x.py": ""}, "folder/", "is not a file"),
    ({"notes.txt": ""}, "notes.txt", "is not a .py file"),
    ({}, "my-plugin", "is neither a .py file nor a module name"),
    ({}, "my_plugin_not_installed", "no module named 'my_plugin_not_installed' can be imported here"),
    ({"boom.py": "import os\n\nraise RuntimeError('boom')\n"}, "boom.py",
     "'boom.py' failed to import: RuntimeError: boom (boom.py, line 3)"),
    ({"syntax.py": "def f(:\n"}, "syntax.py", "'syntax.py' failed to import: SyntaxError: "),
    ({"dup.py": "from rgd_bench import ALGORITHMS\n\n@ALGORITHMS.register()\nclass ERM:\n    pass\n"}, "dup.py",
     "--plugins 'dup.py': The algorithm name 'ERM' is already registered (by rgd_bench.algorithms.erm.ERM)"),
]
COMMANDS = [("rgd_bench.train", TRAIN), ("rgd_bench.sweep", ["launch", *SWEEP]), ("rgd_bench.sweep", ["list", *SWEEP]),
            ("rgd_bench.sweep", ["status", *SWEEP]), ("rgd_bench.sweep", ["delete_incomplete", *SWEEP])]


@pytest.mark.parametrize("files,plugin,message", BAD, ids=[b[1] for b in BAD])
@pytest.mark.parametrize("module,argv", COMMANDS, ids=["train", "launch", "list", "status", "delete_incomplete"])
def test_a_bad_plugin_is_one_line_and_nothing_is_written(tmp_path, monkeypatch, cli, plugins_forgotten, files,
                                                         plugin, message, module, argv):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        write_plugin(tmp_path / os.path.dirname(name), os.path.basename(name), text)
    assert message in one_line(cli(module, *argv, "--plugins", plugin, "--output_dir", "out"))
    assert not os.path.exists("out")
    assert "ERM" in ALGORITHMS and ALGORITHMS.get("ERM").__module__ == "rgd_bench.algorithms.erm"


def test_two_plugins_that_register_one_name_are_refused(tmp_path, monkeypatch, cli, plugins_forgotten):
    monkeypatch.chdir(tmp_path)
    write_plugin(tmp_path, "first.py")
    write_plugin(tmp_path, "second.py")
    line = one_line(cli("rgd_bench.train", *TRAIN, "--plugins", "first.py", "second.py", "--output_dir", "out"))
    assert "--plugins 'second.py': The algorithm name 'PluggedERM' is already registered (by " in line
    assert not os.path.exists("out")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12) | st.sampled_from(["x.py", "a/b", "m", "m.n", ".py", "/", "~/x.py"]),
                max_size=3))
def test_resolving_any_words_gives_absolute_files_and_module_names_or_one_line(words):
    """Never imports; a word is a file (made absolute, and it must exist) or a module name."""
    try:
        resolved = resolve_plugins(words)
    except UsageError as error:
        assert "\n" not in str(error) and str(error).startswith("--plugins ")
        return
    assert len(resolved) == len(words)
    for word, plugin in zip(words, resolved):
        if os.path.isabs(plugin):
            assert os.path.isfile(plugin) and plugin.endswith(".py")
        else:
            assert plugin == word and re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", plugin)
    assert resolve_plugins(resolved) == resolved  # resolving again changes nothing


# ---- train: recorded, but not part of the run's identity ------------------------------------------

def test_a_run_records_the_plugin_and_resumes_after_the_file_moved(tmp_path, monkeypatch, cli, plugins_forgotten):
    monkeypatch.chdir(tmp_path)
    write_plugin(tmp_path)
    result = cli("rgd_bench.train", *TRAIN, "--plugins", "my_plugin.py", "--output_dir", "run")
    assert result.returncode == 0, result.stderr
    records = read_records("run")
    assert records[0]["args"]["plugins"] == [str(tmp_path / "my_plugin.py")]
    assert [r["plugged"] for r in records] == [1.0, 1.0]  # what its update returned
    os.remove("run/done")  # unfinished, so the next command must accept the directory as this run
    os.makedirs("moved")
    shutil.move("my_plugin.py", "moved/my_plugin.py")
    plugins_forgotten()  # the next command is a new process
    result = cli("rgd_bench.train", *TRAIN, "--plugins", "moved/my_plugin.py", "--output_dir", "run")
    assert result.returncode == 0, result.stderr
    assert os.path.exists("run/done")


def test_runs_without_plugins_record_what_they_did_before(tmp_path, cli):
    result = cli("rgd_bench.train", "--dataset", "SpuriousTabular", *TINY, "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert "plugins" not in read_records(str(tmp_path / "run"))[0]["args"]


# ---- the sweep ------------------------------------------------------------------------------------

def test_plugins_are_given_to_every_job_by_absolute_path_and_left_out_of_job_ids(tmp_path, monkeypatch,
                                                                               plugins_forgotten):
    monkeypatch.chdir(tmp_path)
    write_plugin(tmp_path)

    def plan(**extra):
        return plan_jobs(SweepSpec(datasets=["SpuriousTabular"], algorithms=["ERM"], output_dir="s", n_hparams=1,
                                   n_trials=1, single_test_envs=True, **extra))

    plain, plugged = plan(), plan(plugins=["my_plugin.py"])
    assert [j.job_id for j in plain] == [j.job_id for j in plugged]
    for job in plugged:
        assert job.argv[job.argv.index("--plugins") + 1] == str(tmp_path / "my_plugin.py")
    with pytest.raises(UsageError, match="\\[train_args\\] sets 'plugins'.*set the sweep key 'plugins' instead"):
        plan(extra={"plugins": "my_plugin.py"})


@pytest.mark.slow
def test_every_sweep_command_finds_the_runs_after_the_plugin_moved(tmp_path, monkeypatch, cli, plugins_forgotten):
    """A sweep file's relative plugin path is resolved against the current directory, the jobs
    (a fresh process each, with the local launcher) import it, and after it moved, every
    command finds the same runs by their ids."""
    monkeypatch.chdir(tmp_path)
    write_plugin(tmp_path)
    os.makedirs("sweeps")
    with open("sweeps/mine.toml", "w") as f:
        f.write('plugins = ["my_plugin.py"]\nalgorithms = ["PluggedERM"]\ndatasets = ["PluggedTabular"]\n'
                'n_hparams = 1\nn_trials = 1\nsteps = 3\ncheckpoint_freq = 2\noutput_dir = "s"\n'
                'launcher = "local"\nskip_confirmation = true\n')
    result = cli("rgd_bench.sweep", "launch", "sweeps/mine.toml")
    assert result.returncode == 0, result.stderr
    assert "1 jobs: 0 done" in result.stdout and re.search(r"^PluggedERM\s+\d+\.\d", result.stdout, re.M)
    run_dirs = sorted(os.listdir("s"))
    assert [read_records(os.path.join("s", d))[0]["args"]["plugins"] for d in run_dirs] == [
        [str(tmp_path / "my_plugin.py")]]

    shutil.move("my_plugin.py", "elsewhere.py")
    plugins_forgotten()
    moved = ["--plugins", "elsewhere.py", "--skip_confirmation"]
    assert "1 jobs: 1 done" in cli("rgd_bench.sweep", "status", "sweeps/mine.toml", *moved).stdout
    assert cli("rgd_bench.sweep", "list", "sweeps/mine.toml", *moved).stdout.startswith("Done ")
    assert "0 incomplete or failed" in cli("rgd_bench.sweep", "delete_incomplete", "sweeps/mine.toml", *moved).stdout
    assert "1 jobs: 1 done (skipped)" in cli("rgd_bench.sweep", "launch", "sweeps/mine.toml", *moved).stdout
    assert sorted(os.listdir("s")) == run_dirs
    # Without the plugin, the sweep's names are unknown, as before.
    plugins_forgotten()
    assert "Unknown dataset 'PluggedTabular'" in one_line(cli("rgd_bench.sweep", "status", "--algorithms", "ERM",
                                                              "--datasets", "PluggedTabular", "--output_dir", "s"))


# ---- the report -----------------------------------------------------------------------------------

def test_the_report_checks_plugins_without_importing_them(tmp_path, monkeypatch, cli, plugins_forgotten):
    monkeypatch.chdir(tmp_path)
    write_plugin(tmp_path)
    assert cli("rgd_bench.train", *TRAIN, "--plugins", "my_plugin.py", "--output_dir", "s/run").returncode == 0
    plugins_forgotten()
    write_plugin(tmp_path, "my_plugin.py", "raise RuntimeError('imported')\n")  # importing it would fail
    result = cli("rgd_bench.report", "s", "--plugins", "my_plugin.py", "--format", "hparams")
    assert result.returncode == 0, result.stderr
    assert f"--plugins {tmp_path / 'my_plugin.py'} --output_dir" in result.stdout  # the re-run command has it
    assert "does not exist" in one_line(cli("rgd_bench.report", "s", "--plugins", "absent.py"))


# ---- README ---------------------------------------------------------------------------------------

def readme_example() -> tuple[str, str, list[list[str]]]:
    """README's "Adding an algorithm" section: the plugin file's name and text (its first
    python block, whose first line names the file), and the commands of its first bash block."""
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as f:
        section = f.read().split("\n## Adding an algorithm", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```", section, re.M | re.S)
    code = next(text for kind, text in blocks if kind == "python")
    script = next(text for kind, text in blocks if kind == "bash")
    filename = re.fullmatch(r"# (\S+\.py)", code.splitlines()[0]).group(1)
    lines = script.replace("\\\n", " ").splitlines()
    commands = [shlex.split(line, comments=True) for line in lines]
    return filename, code, [c for c in commands if c]


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path):
    filename, code, commands = readme_example()
    algorithm = re.search(r"@ALGORITHMS\.register\(\)\nclass (\w+)\(", code).group(1)
    assert "..." not in code and "def update" in code
    assert [c[:3] for c in commands] == [["python", "-m", "rgd_bench.train"], ["python", "-m", "rgd_bench.sweep"],
                                         ["python", "-m", "rgd_bench.report"]]
    assert all(c[c.index("--plugins") + 1] == filename for c in commands[:2])
    (tmp_path / filename).write_text(code)
    env = dict(os.environ, HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    outputs = []
    for command in commands:
        result = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, capture_output=True, text=True,
                                env=env, timeout=600, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, (command, result.stderr[-3000:])
        outputs.append(result.stdout)
    rows = [line.split() for line in outputs[-1].splitlines() if line.split()[:1] == [algorithm]]
    numbers = [float(word) for row in rows for word in row[1:] if re.fullmatch(r"\d+\.\d", word)]
    assert len(rows) >= 2 and numbers and all(0 <= n <= 100 for n in numbers), outputs[-1]
