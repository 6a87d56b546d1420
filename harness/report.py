"""Collects benchmark figures so every bench module reports the same way.

A figure is a value with its unit, and where one exists the reference it should be read against
(wire time at the same baud, the framework's trivial-endpoint floor, ...), measured in the same run.
"""
import json
import platform
import time


class Report:
    def __init__(self):
        self.figures = []
        self.started = time.time()
        self.module = None  # the bench module adding figures now (bench/__main__.py sets it)
        self.partial = None  # the modules a partial run re-ran (keep_others)

    def add(self, section, name, value, unit, reference=None, reference_name=None, command=None, note=None):
        fig = {"section": section, "name": name, "value": value, "unit": unit}
        if self.module:
            fig["module"] = self.module
        if reference is not None:
            fig["reference"] = reference
            fig["reference_name"] = reference_name
            if isinstance(value, (int, float)) and reference:
                fig["ratio"] = round(value / reference, 3)
        if command:
            fig["command"] = command
        if note:
            fig["note"] = note
        self.figures.append(fig)
        ref = ""
        if reference is not None:
            ref = "  (reference: %s %s; ratio %s)" % (_fmt(reference), reference_name or "", fig.get("ratio"))
        print("  %-60s %12s %s%s" % (name, _fmt(value), unit, ref), flush=True)

    def keep_others(self, json_path, ran):
        """A partial run (`python -m bench NAME`): keep the earlier report's figures of every module not
        run now, so the report stays whole; the figures are ordered by module, as a full run makes them."""
        try:
            with open(json_path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            return
        self.partial = set(ran)
        kept = [f for f in old.get("figures", []) if f.get("module") not in ran]
        order = {m: i for i, m in enumerate(sorted({f.get("module") or "" for f in kept + self.figures}))}
        self.figures = sorted(kept + self.figures, key=lambda f: order[f.get("module") or ""])  # stable

    def write(self, md_path, json_path):
        meta = {"python": platform.python_version(), "machine": platform.machine(),
                "cpus": _cpus(), "seconds": round(time.time() - self.started, 1)}
        with open(json_path, "w") as f:
            json.dump({"meta": meta, "figures": self.figures}, f, indent=2, ensure_ascii=False)
        if self.partial:
            meta["partial"] = sorted(self.partial)
        run = ("whole run %(seconds)s s" % meta if not self.partial else
               "last run %s s, re-running only %s" % (meta["seconds"], ", ".join(meta["partial"])))
        lines = ["# cunbox benchmark results", "",
                 "Machine: %s, %s CPUs, Python %s; %s." % (meta["machine"], meta["cpus"], meta["python"], run),
                 "Reproduce everything with `make bench`.", ""]
        section = None
        for fig in self.figures:
            if fig["section"] != section:
                section = fig["section"]
                lines += ["", "## " + section, "", "| figure | value | reference | ratio | command |",
                          "|---|---|---|---|---|"]
            ref = "%s %s" % (_fmt(fig["reference"]), fig.get("reference_name") or "") if "reference" in fig else ""
            lines.append("| %s | %s %s | %s | %s | %s |" % (
                fig["name"], _fmt(fig["value"]), fig["unit"], ref, fig.get("ratio", ""),
                "`%s`" % fig["command"] if fig.get("command") else ""))
        with open(md_path, "w") as f:
            f.write("\n".join(lines) + "\n")


def _fmt(v):
    if isinstance(v, float):
        return "%.4g" % v
    return str(v)


def _cpus():
    import os
    return os.cpu_count()
