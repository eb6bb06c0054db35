"""The run report: one self-contained, offline report.html (inline CSS, JS and SVG charts)."""

from sagert.report.build import build_report

__all__ = ["build_report"]
