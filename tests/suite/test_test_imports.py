"""How tests import: the harness (harness/), never the benchmarks (bench/), since a benchmark may change its
figures or be removed without breaking the suite; shared pieces from tests/support/ or a conftest.py, never
from another test module or through a star import."""
import ast

from support import ROOT

TESTS = ROOT / "tests"


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            yield node.module or ""


def test_no_test_module_imports_bench():
    found = {str(p.relative_to(TESTS)): name for p in TESTS.rglob("*.py") for name in _imports(p)
             if name == "bench" or name.startswith("bench.")}
    assert found == {}


def test_the_check_sees_an_import_of_bench(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from bench.load import x\n", encoding="utf-8")
    assert list(_imports(probe)) == ["bench.load"]


def test_no_test_module_imports_another():
    """What two test modules share lives in tests/support/ (or a conftest.py), not in one of them."""
    found = {str(p.relative_to(TESTS)): name for p in TESTS.rglob("test_*.py") for name in _imports(p)
             if name.startswith("test_")}
    assert found == {}


def test_no_star_imports():
    """Fixtures come from conftest.py, never from `from helpers import *`."""
    found = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py")
             for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
             if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)]
    assert found == []


def test_no_module_imports_a_conftest():
    """There is a conftest.py per part, all named `conftest`: which one an import would find depends on the
    order pytest loaded them (tests/suite once read the clock's instants from another part's conftest)."""
    found = {str(p.relative_to(TESTS)): name for p in TESTS.rglob("*.py") for name in _imports(p)
             if name == "conftest" or name.startswith("conftest.")}
    assert found == {}
