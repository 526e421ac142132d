"""Plugins named on a command line or in a sweep file (``--plugins``, ``plugins = [...]``).

A plugin is a ``.py`` file or an importable module name; importing it registers algorithms
and datasets with ``@ALGORITHMS.register()`` / ``@DATASETS.register()``, as an installed
package's entry points do.  A file is named by its absolute path (relative paths are resolved
against the current directory when a run or sweep is planned), so that a job that runs in
another process, directory or host imports the same file.  Where a plugin lives is a location,
like ``data_dir``: it is recorded with a run but is not part of its identity (``rundir``).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import traceback
import types
from typing import Sequence

from rgd_bench.errors import UsageError

FLAG = "--plugins"
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# Files imported in this process, by real path: a worker that runs many jobs, or a sweep that
# checks its jobs, imports each file once (a second import would register its classes again).
_imported_files: dict[str, types.ModuleType] = {}


def is_file(plugin: str) -> bool:
    """A plugin is a file when it ends in .py, holds a path separator or names a file; else a
    module name."""
    return plugin.endswith(".py") or os.sep in plugin or "/" in plugin or os.path.isfile(plugin)


def resolve_plugins(plugins: Sequence[str] | None, flag: str = FLAG) -> list[str] | None:
    """Files as absolute paths, module names unchanged; UsageError for a file that does not
    exist or a word that is neither.  Imports nothing (the report checks its flag with it)."""
    if plugins is None:
        return None
    resolved = []
    for plugin in plugins:
        if is_file(plugin):
            path = os.path.abspath(os.path.expanduser(plugin))
            if not os.path.isfile(path):
                what = "is not a file" if os.path.exists(path) else "does not exist"
                raise UsageError(f"{flag} {plugin!r}: {path!r} {what}; give a .py file or an importable module name.")
            if not path.endswith(".py"):
                raise UsageError(f"{flag} {plugin!r} is not a .py file; give a .py file or an importable module name.")
            resolved.append(path)
        elif _MODULE_NAME.fullmatch(plugin):
            resolved.append(plugin)
        else:
            raise UsageError(f"{flag} {plugin!r} is neither a .py file nor a module name (such as my_package.algs).")
    return resolved


def import_plugins(plugins: Sequence[str] | None, flag: str = FLAG) -> list[str] | None:
    """Import each plugin (once per process) so that its algorithms and datasets are registered;
    return ``resolve_plugins(plugins)``.  A plugin that fails to import, or registers a name
    that is already taken, is one UsageError naming it."""
    resolved = resolve_plugins(plugins, flag)
    if not resolved:
        return resolved
    from rgd_bench.registry import ALGORITHMS, DATASETS, DuplicateNameError

    # Our own and installed names first, so that a plugin that takes one fails at its own import.
    ALGORITHMS.load_plugins()
    DATASETS.load_plugins()
    for original, plugin in zip(plugins, resolved):
        try:
            _import_file(plugin) if is_file(plugin) else _import_module(plugin, original, flag)
        except UsageError:
            raise
        except DuplicateNameError as error:
            raise UsageError(f"{flag} {original!r}: {error}") from None
        except Exception as error:  # whatever the plugin's own code raises
            raise UsageError(f"{flag} {original!r} failed to import: {type(error).__name__}: {error}"
                             f"{_where(error, plugin)}") from None
    return resolved


def _import_file(path: str) -> None:
    real = os.path.realpath(path)
    if real in _imported_files:
        return
    stem = os.path.splitext(os.path.basename(real))[0]
    name = "rgd_bench_plugin_" + re.sub(r"\W", "_", stem)
    while name in sys.modules:  # another file of the same name
        name += "_"
    spec = importlib.util.spec_from_file_location(name, real)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    _imported_files[real] = module


def _import_module(name: str, original: str, flag: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and (name == error.name or name.startswith(error.name + ".")):
            raise UsageError(f"{flag} {original!r}: no module named {error.name!r} can be imported here; give a "
                             f".py file, or install the module or put its folder on PYTHONPATH.") from None
        raise


def _where(error: BaseException, path: str) -> str:
    """Where in the plugin file the error was raised: ' (my_alg.py, line 12)'."""
    if isinstance(error, SyntaxError):
        return ""  # its message names the file and line already
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
    return f" ({os.path.basename(path)}, line {frames[-1].lineno})" if frames else ""
