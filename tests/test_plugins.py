"""The user's own code by name (robustness/plugins.py): one import path for training methods and models, one line for
every way it fails, and one_line (robustness/errors.py), the line such errors quote."""

import sys

import pytest

from robustness.checkpoints import call_factory, parse_model_spec
from robustness.errors import SuiteError, one_line
from robustness.methods import parse_method
from robustness.plugins import import_factory, names_a_factory


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Writes ``<name>.py`` on the path with the given source; returns its module name."""
    written = []

    def write(source: str) -> str:
        name = f"user_code_{tmp_path.name.replace('-', '_')}_{len(written)}"
        (tmp_path / f"{name}.py").write_text(source)
        written.append(name)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_one_line_is_the_type_and_the_first_line_cut_to_the_limit():
    assert one_line(ValueError("bad size\nTraceback (most recent call last): ...")) == "ValueError: bad size"
    assert one_line(RuntimeError("  " + "x" * 300), limit=10) == "RuntimeError: " + "x" * 10
    assert one_line(OSError()) == "OSError"  # no message: the type alone, not an empty first line
    assert one_line(KeyError("")) == "KeyError: ''"  # str(KeyError("")) is "''"


@pytest.mark.parametrize("module, function, names", [
    ("my_pkg.nets", "make_net", True), ("nets", "make", True), ("my-pkg", "make", False), ("pkg.", "make", False),
    ("pkg", "make-net", False), ("pkg", "", False), ("1pkg", "make", False),
])
def test_names_a_factory(module, function, names):
    assert names_a_factory(module, function) is names


def test_the_function_is_returned_and_each_failure_is_one_line_naming_the_fix(user_module):
    name = user_module("def make():\n    return 3\nvalue = 4\n")
    assert import_factory("model 'm'", name, "make")() == 3
    with pytest.raises(SuiteError, match=r"^model 'm': cannot import no_such_pkg_xyz \(No module named 'no_such_pkg_xyz'\); "
                                          r"make it importable \(pip install it or set PYTHONPATH\), or else$"):
        import_factory("model 'm'", "no_such_pkg_xyz", "make", alternatives=", or else")
    with pytest.raises(SuiteError, match=rf"^model 'm': {name} has no function 'value'; return a net$"):
        import_factory("model 'm'", name, "value", returns="; return a net")  # there, but not callable


@pytest.mark.parametrize("source, raised", [
    ("raise RuntimeError('my module is broken\\nsecond line')\n", "RuntimeError: my module is broken"),
    ("def make(:\n", "SyntaxError: "),
    ("import no_such_dependency_xyz\n", None),  # an ImportError: the cannot-import message
])
def test_a_module_that_fails_as_it_imports_is_one_line_for_methods_and_models(user_module, source, raised):
    """Both callers (a training method, a model factory) get the same message from the one import path."""
    name = user_module(source)
    for subject, load in ((f"training method '{name}:make'", lambda: parse_method(f"{name}:make")),
                          ("model 'm'", lambda: call_factory("m", f"{name}:make", (1, 8, 8), 10))):
        with pytest.raises(SuiteError) as info:
            load()
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{subject}: ")
        if raised:
            assert f"importing {name} failed with {raised}" in message and message.endswith("; fix the module")
        else:
            assert f"cannot import {name} (No module named 'no_such_dependency_xyz')" in message
    assert parse_model_spec(f"m={name}:make:w.pt").factory == f"{name}:make"
