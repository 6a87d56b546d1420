"""Security figures for the report: code-guessing rates allowed by the throttles (bench/security_figures.py)."""
from bench import security_figures


def run(report):
    security_figures.run(report)
