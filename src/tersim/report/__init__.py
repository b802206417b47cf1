"""Interactive HTML reports (the only plotly importer)."""

from tersim.report.html import render_run_report, write_run_report

__all__ = ["render_run_report", "write_run_report"]
