"""Security figures for the report: code-guessing rates allowed by the throttles (harness/security_figures.py)."""
from harness import security_figures


def run(report):
    security_figures.run(report)
