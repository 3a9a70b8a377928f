"""Sphinx helpers of the astrofm documentation.

* ``.. backbone-table::`` renders every registered backbone (plugins included) from the
  registry when the docs are built, so the table cannot fall out of date.
* References to astrofm's own objects on the hand-written pages must resolve: an
  unresolved one is a warning (an error under ``-W``), while ``nitpicky`` stays off
  for the generated API pages and for other packages' objects, which need the network
  (see ``conf.py``).
* Each page's reading time (its plot-directive figures run then) is reported, and a
  total beyond ``astrofm_figure_budget_s`` is a warning.
"""

from __future__ import annotations

import time

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

# Pages written by automodapi from docstrings; their references are the docstrings' own.
_GENERATED = ("api", "api/")


def backbone_rows():
    """One row of strings per registered backbone, sorted by name.

    Returns
    -------
    header : list of str
    rows : list of list of str
    """
    from astrofm import backbones

    by_target = {}
    for alias, target in backbones.aliases().items():
        by_target.setdefault(target, []).append(alias)
    header = ["Name (aliases)", "Family", "Patch", "Input px (native)", "Dim", "Chan.",
              "Weights licence"]
    rows = []
    for name in backbones.list():
        spec = backbones.get(name)
        aliases = by_target.get(name)
        native = f" ({spec.native_size})" if spec.native_size != spec.input_size else ""
        rows.append([
            f"``{name}``" + (f" ({', '.join(f'``{a}``' for a in aliases)})" if aliases else ""),
            spec.family,
            str(spec.patch_size) if spec.patch_size else "CNN",
            f"{spec.input_size}{native}",
            str(spec.feature_dim),
            str(spec.in_channels),
            spec.license or "not stated",
        ])
    return header, rows


class BackboneTable(SphinxDirective):
    """``.. backbone-table::``: a table of every registered backbone."""

    has_content = False

    def run(self):
        header, rows = backbone_rows()
        lines = [f".. list-table:: The {len(rows)} registered backbones",
                 "   :header-rows: 1", ""]
        for row in [header, *rows]:
            lines.append(f"   * - {row[0]}")
            lines.extend(f"     - {cell}" for cell in row[1:])
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="backbone-table"),
                                self.content_offset, container)
        return container.children


def _check_ref(app, env, node, contnode):
    target = node.get("reftarget", "")
    doc = node.get("refdoc") or env.docname
    if (node.get("refdomain") == "py" and target.split(".")[0] == "astrofm"
            and not doc.startswith(_GENERATED)):
        logger.warning("unresolved reference to %s (no such documented object; "
                       "link the name it has on the API pages)", target, location=node)
    return None


def _start_page(app, docname, source):
    app.astrofm_read_start = time.perf_counter()


def _end_page(app, doctree):
    docname = app.env.docname
    if not docname.startswith(_GENERATED):
        app.astrofm_read_times[docname] = time.perf_counter() - app.astrofm_read_start


def _report_times(app, exception):
    times = app.astrofm_read_times
    if exception is not None or not times:
        return
    total = sum(times.values())
    for doc, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        logger.info("page %-28s %6.1f s", doc, seconds)
    logger.info("hand-written pages (figures included): %.1f s", total)
    budget = app.config.astrofm_figure_budget_s
    if total > budget:
        logger.warning("the hand-written pages took %.0f s to read, over the %d s budget for "
                       "figures; make the slowest figures cheaper", total, budget)


def setup(app):
    app.add_config_value("astrofm_figure_budget_s", 180, "env")
    app.add_directive("backbone-table", BackboneTable)
    # After intersphinx and automodapi's smart resolver have had their try.
    app.connect("missing-reference", _check_ref, priority=900)
    app.astrofm_read_times = {}
    app.connect("source-read", _start_page)
    app.connect("doctree-read", _end_page)
    app.connect("build-finished", _report_times)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
