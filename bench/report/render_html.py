"""The self-contained report.html: one file, inline CSS, plots as base64 PNG data URIs, no external URL."""

from __future__ import annotations

import base64

from edgebench.bench.report import tables as t  # the table builders render_markdown uses too
from edgebench.bench.report.analysis import Report

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; } h3 { font-size: 15px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #bbb; padding: 3px 6px; text-align: right; }
th { background: #e8eef7; }
td.l, th.l { text-align: left; }
tr.base td { background: #fdf1e6; }
img { max-width: 100%; border: 1px solid #ddd; margin: 6px 0; }
.notes li { margin: 3px 0; }
code { background: #f3f3f3; padding: 0 3px; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p>{{ baseline_text }}</p>
{% if recommendations %}<h2>Recommendation</h2>{% endif %}
{% for rec in recommendations %}
<h3>{{ rec.head }}</h3>
<ul>{% for ln in rec.lines %}<li>{{ ln }}</li>{% endfor %}</ul>
<table>
<tr>{% for h in rec.header %}<th{% if loop.first %} class="l"{% endif %}>{{ h }}</th>{% endfor %}</tr>
{% for r in rec.rows %}<tr>{% for c in r %}<td{% if loop.first %} class="l"{% endif %}>{{ c }}</td>{% endfor %}</tr>
{% endfor %}
</table>
{% endfor %}
<h2>Machines</h2>
<ul>{% for m in machines %}<li>{{ m }}</li>{% endfor %}</ul>
{% for t in tables %}
<h2>{{ t.title }}</h2>
{% if t.fastest %}<p>{{ t.fastest }}</p>{% endif %}
<table>
<tr>{% for c in t.columns %}<th{% if c.left %} class="l"{% endif %}>{{ c.header }}</th>{% endfor %}</tr>
{% for r in t.rows %}<tr{% if r.base %} class="base"{% endif %}>
{%- for c, text in r.cells %}<td{% if c.left %} class="l"{% endif %}>{{ text }}</td>{% endfor %}</tr>
{% endfor %}
</table>
{% endfor %}
{% if cross_rows %}
<h2>Across machines</h2>
<table>
<tr>{% for h in cross_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in cross_rows %}<tr>{% for c in r %}<td{% if loop.first %} class="l"{% endif %}>{{ c }}</td>{% endfor %}</tr>
{% endfor %}
</table>
{% endif %}
{% if throughput_rows %}
<h2>{{ throughput_title }}</h2>
<table>
<tr>{% for h in throughput_columns %}<th{% if loop.index <= 3 %} class="l"{% endif %}>{{ h }}</th>{% endfor %}</tr>
{% for r in throughput_rows %}<tr>{% for c in r %}<td{% if loop.index <= 3 %} class="l"{% endif %}>{{ c }}</td>
{%- endfor %}</tr>
{% endfor %}
</table>
{% endif %}
{% if interleave_rows %}
<h2>{{ interleave_title }}</h2>
<p>{{ interleave_note }}</p>
<table>
<tr>{% for h in interleave_columns %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in interleave_rows %}<tr>{% for c in r %}<td{% if loop.index <= 6 %} class="l"{% endif %}>{{ c }}</td>
{%- endfor %}</tr>
{% endfor %}
</table>
{% endif %}
{% for p in profiles %}
<h3>Per-operator profile: {{ p.label }} on {{ p.machine_id }}</h3>
<table>
<tr>{% for h in profile_columns %}<th{% if loop.first %} class="l"{% endif %}>{{ h }}</th>{% endfor %}</tr>
{% for r in p.rows %}<tr>{% for c in r %}<td{% if loop.first %} class="l"{% endif %}>{{ c }}</td>{% endfor %}</tr>
{% endfor %}
</table>
{% endfor %}
{% for run in prune_runs %}
<h2>Pruning rounds: {{ run.title }}</h2>
<table>
<tr>{% for h in prune_columns %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in run.rows %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}
</table>
{% endfor %}
{% if images %}<h2>Plots</h2>{% endif %}
{% for name, uri in images %}
<figure><img alt="{{ name }}" src="{{ uri }}"><figcaption>{{ name }}</figcaption></figure>
{% endfor %}
<h2>Notes</h2>
<ul class="notes">{% for n in notes %}<li>{{ n }}</li>{% else %}<li>none</li>{% endfor %}</ul>
<p>Efficiency = model MACs x batch / p50, as a fraction of the peak GMAC/s of the cores used (formula in
<code>bench/efficiency.py</code>: an upper bound from ISA flags, cores and frequency).</p>
</body>
</html>
"""


def render_html(rep: Report, images: dict[str, bytes]) -> str:
    """Render the report; every image is inlined, so the file opens anywhere without a network."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    tables = []
    for mid, rows in rep.by_machine().items():
        cols, cells = t.row_table(rows, "html")
        tables.append({"title": f"{rep.machines[mid].label} ({mid})", "columns": cols,
                       "fastest": t.fastest_line(rows).replace("`", ""),
                       "rows": [{"cells": list(zip(cols, cs, strict=True)), "base": r.label == r.baseline}
                                for r, cs in zip(rows, cells, strict=True)]})
    cross_header, cross_rows = t.cross_machine_table(rep)
    return env.from_string(TEMPLATE).render(
        title=rep.title, baseline_text=t.baseline_text(rep, markdown=False),
        interleave_title=t.INTERLEAVE_TITLE, interleave_note=t.INTERLEAVE_NOTE.replace("`", ""),
        interleave_columns=t.INTERLEAVE_COLUMNS, interleave_rows=t.interleave_rows(rep),
        recommendations=[{"head": r.lines()[0], "lines": r.lines()[1:], "header": r.front_header(),
                          "rows": r.front_rows()} for r in rep.recommendations],
        machines=[t.machine_line(m, markdown=False) for m in rep.machines.values()],
        tables=tables, cross_header=cross_header, cross_rows=cross_rows, throughput_title=t.THROUGHPUT_TITLE,
        throughput_columns=t.THROUGHPUT_COLUMNS, throughput_rows=t.throughput_rows(rep.rows),
        profiles=[{"label": p["label"], "machine_id": p["machine_id"], "rows": t.profile_rows(p)}
                  for p in rep.profiles],
        profile_columns=t.PROFILE_COLUMNS, notes=rep.notes, prune_columns=t.PRUNE_COLUMNS,
        prune_runs=[{"title": t.prune_title(r), "rows": t.prune_rows(r)} for r in rep.prune_runs],
        images=[(name, "data:image/png;base64," + base64.b64encode(png).decode("ascii"))
                for name, png in images.items()],
    )
