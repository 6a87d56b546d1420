"""harness/report.py: a partial run (`python -m bench NAME`) replaces only the figures of the modules it ran."""
import json

from harness.report import Report


def _full(tmp_path):
    r = Report()
    for module, section, value in (("bench_a", "A", 1), ("bench_b", "B", 2), ("bench_c", "C", 3)):
        r.module = module
        r.add(section, "figure of " + module, value, "x", reference=1, reference_name="ref")
    r.write(tmp_path / "results.md", tmp_path / "results.json")


def test_a_partial_run_replaces_its_modules_figures_and_keeps_the_others(tmp_path):
    _full(tmp_path)
    r = Report()
    r.module = "bench_b"
    r.add("B", "figure of bench_b", 20, "x")
    r.keep_others(tmp_path / "results.json", {"bench_b"})
    r.write(tmp_path / "results.md", tmp_path / "results.json")
    figs = json.loads((tmp_path / "results.json").read_text())["figures"]
    assert [(f["module"], f["value"]) for f in figs] == [("bench_a", 1), ("bench_b", 20), ("bench_c", 3)]
    md = (tmp_path / "results.md").read_text()
    assert md.index("## A") < md.index("## B") < md.index("## C")
    assert "| figure of bench_b | 20 x |" in md and "re-running only bench_b" in md
