"""Arrows point one way: the core never imports ``rgd_bench.integrations``.

``rgd_bench/integrations/`` is the edge (rgd_bench inside DomainBed and WILDS's examples;
DomainBed's algorithms inside rgd_bench).  It may import anything of rgd_bench; no module
outside it may import it.  DomainBed's algorithms reach ``ALGORITHMS`` the way any installed
plugin's do, through an entry point of the group ``rgd_bench.algorithms``: the registry imports
``rgd_bench.integrations.from_domainbed`` because pyproject.toml names it, never because a core
module does.
"""
from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PACKAGE = os.path.join(REPO_ROOT, "rgd_bench")
EDGE = "rgd_bench.integrations"
ENTRY_POINT_GROUP = "rgd_bench.algorithms"
FROM_DOMAINBED = "rgd_bench.integrations.from_domainbed"
CORE_MODULES = ("rgd_bench", "rgd_bench.algorithms", "rgd_bench.datasets", "rgd_bench.registry",
                "rgd_bench.report", "rgd_bench.sweep", "rgd_bench.train")


def _module_name(path: str) -> str:
    relative = os.path.relpath(path, REPO_ROOT)[: -len(".py")].split(os.sep)
    return ".".join(relative[:-1] if relative[-1] == "__init__" else relative)


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``tree``: import statements (relative
    ones resolved) and ``importlib.import_module`` / ``__import__`` calls with a literal name."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]  # from pkg import mod
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def python_files(under: str = PACKAGE):
    """Every .py file of the package (or of a folder of it), in a stable order."""
    for folder, subfolders, files in os.walk(under):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for file in sorted(f for f in files if f.endswith(".py")):
            yield os.path.join(folder, file)


def imports_of(path: str) -> list[tuple[int, str]]:
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    return _imported_names(tree, _module_name(path), path.endswith("__init__.py"))


def _offenders(paths, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{os.path.relpath(path, REPO_ROOT)}:{line} imports {name}"
            for path in paths for line, name in imports_of(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


def test_no_module_outside_integrations_imports_it():
    core = [p for p in python_files() if os.path.relpath(p, PACKAGE).split(os.sep)[0] != "integrations"]
    assert len(core) > 20  # the walk really saw the package
    offenders = _offenders(core, (EDGE,))
    assert offenders == [], "the core imports the edge:\n" + "\n".join(offenders)


def test_the_engine_imports_no_command_line_sweep_report_or_integration():
    forbidden = (EDGE, "rgd_bench.sweep", "rgd_bench.report", "rgd_bench.train", "rgd_bench._cli",
                 "rgd_bench.paper_checks")
    offenders = _offenders(python_files(os.path.join(PACKAGE, "engine")), forbidden)
    assert offenders == [], "the engine imports what sits above it:\n" + "\n".join(offenders)


def test_the_import_check_sees_every_form_of_import():
    source = ("import rgd_bench.integrations.into_domainbed\n"
              "from rgd_bench.integrations import wilds_examples\n"
              "from rgd_bench import integrations\n"
              "from ..integrations import from_domainbed\n"
              "importlib.import_module('rgd_bench.integrations.from_domainbed')\n"
              "MESSAGE = 'python -m rgd_bench.integrations.wilds_examples'\n")  # a string, not an import
    names = [name for _, name in _imported_names(ast.parse(source), "rgd_bench.datasets.x", False)]
    edge = sorted(name for name in names if name == EDGE or name.startswith(EDGE + "."))
    assert edge == sorted([
        "rgd_bench.integrations.into_domainbed",                                  # import a.b.c
        "rgd_bench.integrations", "rgd_bench.integrations.wilds_examples",        # from a.b import c
        "rgd_bench.integrations",                                                 # from a import b
        "rgd_bench.integrations", "rgd_bench.integrations.from_domainbed",        # from ..b import c
        "rgd_bench.integrations.from_domainbed"])                                 # import_module


def test_domainbeds_algorithms_are_declared_as_an_entry_point():
    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
        declared = tomllib.load(f)["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert FROM_DOMAINBED in declared.values()
    # ... and the installed metadata has it (else `pip install -e .` is due): without it,
    # DomainBed's algorithms would silently be missing from ALGORITHMS.
    installed = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    assert FROM_DOMAINBED in [entry_point.value for entry_point in installed]


LIST_AND_REPORT = f"""
import importlib, json, sys
edge = lambda: sorted(m for m in sys.modules if m == {EDGE!r} or m.startswith({EDGE!r} + "."))
for module in {CORE_MODULES!r}:
    importlib.import_module(module)
after_imports = edge()
from rgd_bench.registry import ALGORITHMS, DATASETS
names = {{"algorithms": ALGORITHMS.names(), "datasets": DATASETS.names()}}
modules = sorted({{ALGORITHMS.get(name).__module__ for name in names["algorithms"]}})
print(json.dumps({{"after_imports": after_imports, "after_names": edge(), "names": names,
                  "modules": modules, "domainbed": "domainbed" in sys.modules}}))
"""


def test_a_fresh_interpreter_imports_the_edge_only_through_the_entry_point(tmp_path):
    """Without DomainBed on the path: importing every core module imports nothing of the
    edge; listing the registries' names imports exactly one module of it, the entry point's
    ``from_domainbed`` (with its package), as the registry imports any plugin, and that
    module registers nothing."""
    root = os.path.dirname(PACKAGE)  # this rgd_bench, and no DomainBed checkout
    env = dict(os.environ, PYTHONPATH=root, PYTHONWARNINGS="default")
    result = subprocess.run([sys.executable, "-c", LIST_AND_REPORT], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    if seen["domainbed"]:
        pytest.skip("a DomainBed is importable without PYTHONPATH here")
    assert seen["after_imports"] == []
    assert seen["after_names"] == [EDGE, FROM_DOMAINBED]
    assert {"ERM", "GroupDRO", "RGD", "SGD_HWS", "ALSO"} <= set(seen["names"]["algorithms"])
    assert seen["names"]["algorithms"] == sorted(seen["names"]["algorithms"])
    assert seen["names"]["datasets"]
    assert FROM_DOMAINBED not in seen["modules"]  # it registered nothing
    assert "PluginLoadWarning" not in result.stderr  # and said nothing
