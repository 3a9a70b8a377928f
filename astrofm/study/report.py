"""The report of a study: ``report.html``, ``figures/*.png`` and ``tables/*.ecsv`` of a run.

:func:`render` reads a run folder written by ``astrofm study`` (``study.json``,
``results.ecsv``, ``features/``, ``figures/attention__*.png``) and writes a
self-contained page: every figure is embedded as a base64 PNG, there is no external
style sheet, script or font, so it opens offline and can be mailed as one file.
Nothing here needs a backbone.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import numpy as np
from astropy.table import Table

from astrofm.errors import FileFormatError
from astrofm.study import figures as figs
from astrofm.study import sections
from astrofm.study.results import check_run_folder
from astrofm.study.summary import is_random

__all__ = ["Run", "load_run", "render"]

STUDY = "study.json"
RESULTS = "results.ecsv"

_STYLE = """
body{font-family:sans-serif;max-width:1300px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:90%}
th,td{border:1px solid #bbb;padding:2px 6px;text-align:left}
th{background:#eee} tr.random td{background:#fff1f0}
img{max-width:100%;display:block;margin:.5em 0}
figure{margin:1em 0} figcaption{font-size:90%;color:#444}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:85%}
.banner{border:3px solid #c00;background:#fee;padding:.7em;font-weight:bold}
.note{color:#555;font-style:italic}
"""


@dataclass
class Run:
    """A run folder as read back: the resolved study and its finished cells.

    Attributes
    ----------
    folder : pathlib.Path
        The run folder.
    study : dict
        ``study.json``.
    results : astropy.table.Table
        ``results.ecsv``, one row per finished cell.
    random : set of str
        The backbones (not the from-scratch baseline) that ran with random weights.
    """

    folder: Path
    study: dict
    results: Table
    random: set = field(init=False)

    def __post_init__(self):
        self.random = {b["name"] for b in self.study.get("backbones", []) if b.get("random")}
        self.random |= {str(r["backbone"]) for r in self.results
                        if is_random(r["weights"]) and not r["baseline"]}

    def label(self, backbone: str) -> str:
        """``backbone``, marked when its weights were random."""
        return f"{backbone} [RANDOM weights]" if backbone in self.random else backbone

    def random_note(self, backbones) -> str:
        """A plain warning naming the random-weight backbones among ``backbones``, or ''."""
        named = sorted(set(backbones) & self.random)
        if not named:
            return ""
        return (f"Random weights: {', '.join(named)} ran randomly initialised, NOT "
                "pretrained; their scores say nothing about the foundation model.")


def load_run(run_dir) -> Run:
    """Read a run folder's ``study.json`` and ``results.ecsv``.

    Raises
    ------
    ConfigError
        When the folder or either file is missing.
    FileFormatError
        When either file cannot be read.
    """
    folder = check_run_folder(run_dir)
    try:
        study = json.loads((folder / STUDY).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FileFormatError(f"{folder / STUDY}: not valid JSON ({err}); rerun 'astrofm "
                              "study' to rewrite it.") from err
    try:
        results = Table.read(folder / RESULTS, format="ascii.ecsv")
    except (ValueError, KeyError) as err:
        raise FileFormatError(f"{folder / RESULTS}: not a readable ECSV table ({err}); rerun "
                              "'astrofm study' to rewrite it.") from err
    for name in results.colnames:
        column = results[name]
        if hasattr(column, "mask"):
            # ECSV reads back empty strings (the schema's "none here") as masked.
            empty = "" if column.dtype.kind in "US" else np.nan
            results[name] = column.filled(empty)
    return Run(folder, study, results)


class Page:
    """HTML being assembled, with the figures and tables it writes beside it."""

    def __init__(self, run: Run):
        self.run = run
        self.parts: list[str] = []

    def add(self, html: str) -> None:
        """Append raw HTML (already escaped)."""
        self.parts.append(html)

    def heading(self, text: str, level: int = 2) -> None:
        """A section heading."""
        self.add(f"<h{level}>{escape(text)}</h{level}>")

    def note(self, text: str, css: str = "note") -> None:
        """A paragraph; nothing when ``text`` is empty."""
        if text:
            self.add(f'<p class="{css}">{escape(text)}</p>')

    def png(self, data: bytes, alt: str, caption: str) -> None:
        """Embed PNG bytes as a data URI, with a caption."""
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        self.add(f'<figure><img src="{uri}" alt="{escape(alt)}">'
                 f"<figcaption>{escape(caption)}</figcaption></figure>")

    def figure(self, name: str, figure, caption: str) -> None:
        """Write ``figures/<name>.png`` and embed it."""
        from astrofm.features.store import atomic_path

        data = figs.figure_png(figure)
        with atomic_path(self.run.folder / "figures" / f"{name}.png") as tmp:
            tmp.write_bytes(data)
        self.png(data, name, caption)

    def save_table(self, name: str, table: Table) -> None:
        """Write ``tables/<name>.ecsv``."""
        from astrofm.features.store import atomic_path

        with atomic_path(self.run.folder / "tables" / f"{name}.ecsv") as tmp:
            table.write(tmp, format="ascii.ecsv")

    def table(self, table: Table, html_id: str = "", random_rows=None, formats=None) -> None:
        """Show ``table``; ``random_rows`` marks rows of random-weight backbones and
        ``formats`` maps a column to a format string."""
        formats = formats or {}
        marked = np.zeros(len(table), bool) if random_rows is None else random_rows
        head = "".join(f"<th>{escape(c)}</th>" for c in table.colnames)
        body = []
        for row, random in zip(table, marked, strict=True):
            cells = "".join(f"<td>{escape(_cell(row[c], formats.get(c)))}</td>"
                            for c in table.colnames)
            body.append(f'<tr{" class=random" if random else ""}>{cells}</tr>')
        ident = f' id="{html_id}"' if html_id else ""
        self.add(f"<table{ident}><thead><tr>{head}</tr></thead>"
                 f"<tbody>{''.join(body)}</tbody></table>")

    def html(self) -> str:
        """The whole page."""
        title = escape(f"astrofm study: {self.run.study.get('name', self.run.folder.name)}")
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{title}</title><style>{_STYLE}</style></head><body>"
                + "\n".join(self.parts) + "</body></html>\n")


def _cell(value, fmt) -> str:
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return ""
        return format(value, fmt or ".3f")
    if isinstance(value, np.ndarray):
        return " ".join(format(v, ".3f") for v in value)
    return str(value)


def render(run_dir) -> Path:
    """Write the report of a study run: ``report.html`` with ``figures/`` and ``tables/``.

    Parameters
    ----------
    run_dir : str or path
        The folder written by ``astrofm study`` (``study.json``, ``results.ecsv``).

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.

    Raises
    ------
    ConfigError
        When the folder is not a run folder or cannot be written.
    """
    from astrofm.features.store import atomic_path
    from astrofm.runtime import check_writable

    run = load_run(run_dir)
    output = run.folder / "report.html"
    check_writable(output, "DIR")
    page = Page(run)
    sections.header(page)
    sections.classification(page)
    sections.feature_maps(page)
    sections.attention(page)
    sections.detection(page)
    sections.provenance(page)
    with atomic_path(output) as tmp:
        tmp.write_text(page.html(), encoding="utf-8")
    return output
