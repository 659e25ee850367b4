"""bench.report: `edgebench compare` (report.md / .csv / .html) and the deployment recommendation.

Layers, each importing only the ones before it: `data` (result files -> `Row`s), `analysis` (-> `Report`),
`columns` (THE column table), `tables`, the renderers (`render_markdown`, `render_csv`, `render_html`, `plots`),
`compare` (`make_report`, what the command calls); `recommend` ranks deployments from the rows.
"""

from edgebench.bench.report.compare import make_report

__all__ = ["make_report"]
