"""The name -> class registries: decorators, errors for unknown names, entry-point plugins."""
from __future__ import annotations

import contextlib
import importlib.metadata
import json
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest

from rgd_bench.hparams import resolve_hparams, seed_hash
from rgd_bench.registry import ALGORITHMS, PluginLoadWarning, Registry

# ---------------------------------------------------------------------------
# A fresh registry (never the real ALGORITHMS / DATASETS)
# ---------------------------------------------------------------------------


@pytest.fixture
def widgets() -> Registry:
    # "json" is an importable module that registers nothing: the builtin import is a no-op,
    # and the test group has no entry points, so the registry holds only what a test adds.
    return Registry("widget", "rgd_bench_test.widgets", "json")


def test_register_under_class_name_and_explicit_name(widgets):
    @widgets.register()
    class Gear:
        pass

    @widgets.register("sprocket")
    class Cog:
        pass

    assert widgets.get("Gear") is Gear
    assert widgets.get("sprocket") is Cog
    assert "Cog" not in widgets  # an explicit name replaces the class name
    assert widgets.names() == ["Gear", "sprocket"]
    assert list(widgets) == ["Gear", "sprocket"] and len(widgets) == 2


def test_decorator_returns_the_class_unchanged(widgets):
    class Gear:
        pass

    assert widgets.register()(Gear) is Gear
    assert widgets.register("other")(Gear) is Gear  # one class may have two names
    assert widgets.get("Gear") is widgets.get("other") is Gear


def test_a_name_taken_by_another_class_is_refused(widgets):
    @widgets.register()
    class Gear:
        pass

    class Impostor:
        pass

    with pytest.raises(ValueError, match="'Gear'") as error:
        widgets.register("Gear")(Impostor)
    assert "already registered" in str(error.value)
    assert widgets.get("Gear") is Gear  # the first registration stands

    # Same name through the decorator's default: a different class also called Gear.
    def make_other_gear():
        class Gear:
            pass
        return Gear

    with pytest.raises(ValueError, match="'Gear'"):
        widgets.register()(make_other_gear())
    assert widgets.get("Gear") is Gear


def test_registering_the_same_object_again_is_allowed(widgets):
    class Gear:
        pass

    widgets.register()(Gear)
    widgets.register()(Gear)  # e.g. a module imported twice under one name
    widgets.add("Gear", Gear)
    assert widgets.names() == ["Gear"]


def test_unknown_name_lists_valid_names_and_suggests_the_closest(widgets):
    for name in ("Gear", "Sprocket", "Flywheel"):
        widgets.add(name, type(name, (), {}))
    with pytest.raises(KeyError) as error:
        widgets.get("Sprockett")
    message = error.value.args[0]
    assert "Unknown widget 'Sprockett'" in message
    assert "Did you mean 'Sprocket'?" in message
    assert "Valid widgets: Flywheel, Gear, Sprocket." in message


def test_unknown_name_far_from_everything_has_no_suggestion(widgets):
    widgets.add("Gear", type("Gear", (), {}))
    with pytest.raises(KeyError) as error:
        widgets.get("zzzzzzzz")
    message = error.value.args[0]
    assert "Did you mean" not in message
    assert "Valid widgets: Gear." in message


def test_real_algorithms_suggest_groupdro_for_a_typo():
    with pytest.raises(KeyError) as error:
        ALGORITHMS.get("GroupDR0")
    message = error.value.args[0]
    assert "Did you mean 'GroupDRO'?" in message
    for name in ALGORITHMS.names():
        assert name in message
    assert {"ERM", "GroupDRO"} <= set(ALGORITHMS.names())


def test_builtin_module_is_imported_on_first_lookup(tmp_path, monkeypatch):
    # The builtin module registers into the registry held by a helper module, as
    # rgd_bench.algorithms registers into rgd_bench.registry.ALGORITHMS.
    registry = Registry("widget", "rgd_bench_test.widgets", "rgd_test_builtin_widgets")
    holder = types.ModuleType("rgd_test_widget_holder")
    holder.REGISTRY = registry
    monkeypatch.setitem(sys.modules, "rgd_test_widget_holder", holder)
    (tmp_path / "rgd_test_builtin_widgets.py").write_text(textwrap.dedent("""
        from rgd_test_widget_holder import REGISTRY

        @REGISTRY.register()
        class BuiltinGear:
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "rgd_test_builtin_widgets", raising=False)
    try:
        assert "rgd_test_builtin_widgets" not in sys.modules  # nothing imported at construction
        assert "BuiltinGear" in registry  # the lookup imported it
        assert "rgd_test_builtin_widgets" in sys.modules
        assert registry.get("BuiltinGear") is sys.modules["rgd_test_builtin_widgets"].BuiltinGear
    finally:
        sys.modules.pop("rgd_test_builtin_widgets", None)


# ---------------------------------------------------------------------------
# Entry-point plugins, through a real (tmp_path) distribution on sys.path
# ---------------------------------------------------------------------------

PLUGIN_MODULES = ("my_rgd_plugin", "my_rgd_plugin_direct", "my_rgd_plugin_broken",
                  "my_rgd_plugin_nonexistent")

PLUGIN_SOURCE = '''
"""Registers itself on import (a module entry point)."""
from rgd_bench.algorithms.erm import ERM
from rgd_bench.hparams import HParam
from rgd_bench.registry import ALGORITHMS
from rgd_bench.values import POSITIVE


@ALGORITHMS.register()
class PluginERM(ERM):
    HPARAMS = {"plugin_tau": HParam(0.5, lambda r: 10 ** r.uniform(-2, 0), within=POSITIVE)}
'''

DIRECT_SOURCE = '''
"""Exposes a class without registering it (a class entry point)."""
from rgd_bench.algorithms.erm import ERM
from rgd_bench.hparams import HParam
from rgd_bench.values import POSITIVE


class DirectAlgo(ERM):
    HPARAMS = {"direct_k": HParam(3, lambda r: int(r.choice([1, 2, 3])), within=POSITIVE)}


class Shadow(ERM):
    pass
'''

BROKEN_SOURCE = '''
raise ImportError("my_rgd_plugin_broken needs a library that is not installed")
'''

# The broken entries come before and between the good ones: a failure must not stop
# the entries after it.
ENTRY_POINTS = """\
[rgd_bench.algorithms]
broken_import = my_rgd_plugin_broken
plugin_module = my_rgd_plugin
missing_module = my_rgd_plugin_nonexistent
DirectPlugin = my_rgd_plugin_direct:DirectAlgo
"""

BROKEN_KEYS = ("broken_import = my_rgd_plugin_broken", "missing_module = my_rgd_plugin_nonexistent")


def _forget_plugin_modules():
    for name in PLUGIN_MODULES:
        sys.modules.pop(name, None)


@contextlib.contextmanager
def restored_algorithms():
    """Undo whatever the block adds to the real ALGORITHMS registry and to sys.modules."""
    ALGORITHMS.names()  # builtins imported before the snapshot
    items = dict(ALGORITHMS._items)
    errors = dict(ALGORITHMS.plugin_errors)
    loaded = ALGORITHMS._plugins_loaded
    _forget_plugin_modules()
    try:
        yield ALGORITHMS
    finally:
        ALGORITHMS._items.clear()
        ALGORITHMS._items.update(items)
        ALGORITHMS.plugin_errors.clear()
        ALGORITHMS.plugin_errors.update(errors)
        ALGORITHMS._plugins_loaded = loaded
        _forget_plugin_modules()


@pytest.fixture
def restore_algorithms():
    with restored_algorithms() as registry:
        yield registry


def make_distribution(root, entry_points: str, name: str = "my_rgd_plugin") -> None:
    (root / "my_rgd_plugin.py").write_text(PLUGIN_SOURCE)
    (root / "my_rgd_plugin_direct.py").write_text(DIRECT_SOURCE)
    (root / "my_rgd_plugin_broken.py").write_text(BROKEN_SOURCE)
    dist_info = root / f"{name}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch, restore_algorithms):
    make_distribution(tmp_path, ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_point_plugins_load_and_broken_ones_are_skipped(plugin_dist):
    with pytest.warns(PluginLoadWarning) as caught:
        ALGORITHMS.load_plugins(force=True)

    # Both good plugins are registered.
    plugin_cls = ALGORITHMS.get("PluginERM")  # registered by importing its module
    assert plugin_cls is sys.modules["my_rgd_plugin"].PluginERM
    direct_cls = ALGORITHMS.get("DirectPlugin")  # registered under the entry point's name
    assert direct_cls is sys.modules["my_rgd_plugin_direct"].DirectAlgo
    assert "DirectAlgo" not in ALGORITHMS
    assert "Shadow" not in ALGORITHMS  # only the named class of a class entry point
    assert "plugin_module" not in ALGORITHMS  # a module entry point's name registers nothing
    assert {"ERM", "GroupDRO"} <= set(ALGORITHMS.names())

    # Each broken one gave exactly one warning naming it, and is recorded.
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginLoadWarning)]
    assert len(messages) == 2, messages
    assert any(BROKEN_KEYS[0] in m and "ImportError" in m and "not installed" in m for m in messages)
    assert any(BROKEN_KEYS[1] in m and "ModuleNotFoundError" in m for m in messages)
    assert all("rgd_bench.algorithms" in m for m in messages)  # names the group
    assert set(BROKEN_KEYS) <= set(ALGORITHMS.plugin_errors)
    assert ALGORITHMS.plugin_errors[BROKEN_KEYS[0]].startswith("ImportError:")
    assert ALGORITHMS.plugin_errors[BROKEN_KEYS[1]].startswith("ModuleNotFoundError:")
    assert "my_rgd_plugin_broken" not in sys.modules  # the failed import left nothing behind

    # Loading again is quiet (a broken plugin is reported once) and changes nothing.
    before = {name: ALGORITHMS.get(name) for name in ALGORITHMS.names()}
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        ALGORITHMS.load_plugins(force=True)
    assert [w for w in again if issubclass(w.category, PluginLoadWarning)] == []
    assert {name: ALGORITHMS.get(name) for name in ALGORITHMS.names()} == before


def test_cleanup_restores_the_real_registry(tmp_path, monkeypatch):
    before = dict(ALGORITHMS._items)
    with monkeypatch.context() as patch:
        make_distribution(tmp_path, ENTRY_POINTS)
        patch.syspath_prepend(str(tmp_path))
        with restored_algorithms():
            with pytest.warns(PluginLoadWarning):
                ALGORITHMS.load_plugins(force=True)
            assert "PluginERM" in ALGORITHMS._items and "DirectPlugin" in ALGORITHMS._items
    assert ALGORITHMS._items == before
    assert not any(key in ALGORITHMS.plugin_errors for key in BROKEN_KEYS)
    assert not any(name in sys.modules for name in PLUGIN_MODULES)
    with pytest.raises(KeyError):
        ALGORITHMS.get("PluginERM")


def test_plugin_taking_a_builtin_name_is_skipped_with_a_warning(tmp_path, monkeypatch,
                                                                restore_algorithms):
    make_distribution(tmp_path, "[rgd_bench.algorithms]\nERM = my_rgd_plugin_direct:Shadow\n"
                                "DirectPlugin = my_rgd_plugin_direct:DirectAlgo\n",
                      name="my_rgd_shadow_plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    builtin_erm = ALGORITHMS.get("ERM")
    with pytest.warns(PluginLoadWarning, match="ERM = my_rgd_plugin_direct:Shadow") as caught:
        ALGORITHMS.load_plugins(force=True)
    assert any("already registered" in str(w.message) for w in caught)
    assert ALGORITHMS.get("ERM") is builtin_erm  # the builtin is not replaced
    assert ALGORITHMS.get("DirectPlugin") is sys.modules["my_rgd_plugin_direct"].DirectAlgo
    assert "ERM = my_rgd_plugin_direct:Shadow" in ALGORITHMS.plugin_errors


def test_plugins_of_another_group_are_not_loaded(tmp_path, monkeypatch, restore_algorithms):
    make_distribution(tmp_path, "[rgd_bench.datasets]\nDirectPlugin = my_rgd_plugin_direct:DirectAlgo\n",
                      name="my_rgd_dataset_plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)
        ALGORITHMS.load_plugins(force=True)
    assert "DirectPlugin" not in ALGORITHMS
    assert "my_rgd_plugin_direct" not in sys.modules


def test_a_fresh_registry_loads_its_own_group(tmp_path, monkeypatch, widgets):
    make_distribution(tmp_path, "[rgd_bench_test.widgets]\nwheel = my_rgd_plugin_direct:DirectAlgo\n"
                                "nope = my_rgd_plugin_nonexistent\n",
                      name="my_rgd_widget_plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.warns(PluginLoadWarning, match="widget plugin 'nope = my_rgd_plugin_nonexistent'"):
            names = widgets.names()  # the first lookup loads the plugins (no force needed)
        assert names == ["wheel"]
        assert widgets.get("wheel") is sys.modules["my_rgd_plugin_direct"].DirectAlgo
        assert list(widgets.plugin_errors) == ["nope = my_rgd_plugin_nonexistent"]
        assert "wheel" not in ALGORITHMS._items  # the real registries are untouched
    finally:
        _forget_plugin_modules()


def test_plugin_algorithm_is_usable_end_to_end(plugin_dist, train_in_process):
    from rgd_bench.datasets.tabular import SpuriousTabular

    with pytest.warns(PluginLoadWarning):
        ALGORITHMS.load_plugins(force=True)
    plugin_cls = ALGORITHMS.get("PluginERM")

    defaults = resolve_hparams(plugin_cls, SpuriousTabular, 0, 0)
    assert defaults["plugin_tau"] == 0.5  # the plugin's own hyperparameter
    assert defaults["lr"] == 1e-3 and defaults["batch_size"] == 64  # the shared ones
    assert defaults["mlp_width"] == 64  # the dataset's

    drawn = resolve_hparams(plugin_cls, SpuriousTabular, 2, 1)
    expected_tau = 10 ** np.random.RandomState(seed_hash(seed_hash(2, 1), "plugin_tau")).uniform(-2, 0)
    assert drawn["plugin_tau"] == expected_tau
    assert 1e-2 <= drawn["plugin_tau"] <= 1

    overridden = resolve_hparams(plugin_cls, SpuriousTabular, 0, 0, {"plugin_tau": 1})
    assert overridden["plugin_tau"] == 1.0 and type(overridden["plugin_tau"]) is float
    with pytest.raises(ValueError, match="'plugin_tau'.*PluginERM on SpuriousTabular"):
        resolve_hparams(plugin_cls, SpuriousTabular, 0, 0, {"plugin_tau": -1.0})

    # The training CLI finds the plugin by name and trains it.
    out = plugin_dist / "run"
    code, _, stderr = train_in_process("--dataset", "SpuriousTabular", "--algorithm", "PluginERM",
                                       "--steps", "3", "--checkpoint_freq", "2",
                                       "--hparams", '{"plugin_tau": 0.25}',
                                       "--output_dir", str(out), "--device", "cpu")
    assert code == 0, stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert records and records[-1]["args"]["algorithm"] == "PluginERM"
    assert records[-1]["hparams"]["plugin_tau"] == 0.25


def test_importlib_finds_the_tmp_distribution(plugin_dist):
    # Guards the plugin tests: the entry points come from the real metadata machinery.
    eps = importlib.metadata.entry_points(group="rgd_bench.algorithms")
    assert {"broken_import", "plugin_module", "missing_module", "DirectPlugin"} <= set(eps.names)
