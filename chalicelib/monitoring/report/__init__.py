"""The monitor report as one self-contained HTML page: Jinja2 templates (templates/), the
stylesheet (report.css) and inline SVG charts, everything from the report escaped; and the
catalog page of every model, built the same way.
"""

from typing import TYPE_CHECKING

from chalicelib._lazy import lazy_exports

if TYPE_CHECKING:  # what lazy_exports loads on first use
    from chalicelib.monitoring.report._render import render_catalog_html, render_report_html

__getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
