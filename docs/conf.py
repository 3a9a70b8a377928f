"""Sphinx configuration for the astrofm documentation."""

import os
import sys
from pathlib import Path

import astrofm

# The project's own Sphinx helpers (the backbone table, the reference and figure-time
# checks) live next to this file and are not part of the installed package.
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "astrofm"
author = "astrofm developers"
release = astrofm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_automodapi.automodapi",
    "sphinx_automodapi.smart_resolver",
    # Figures are drawn by the code shown next to them when the docs are built. The
    # plot directive rather than sphinx-gallery: the guide is prose with a figure
    # every few paragraphs and state (an image, a pipeline) carried from one figure
    # to the next on the same page (``:context:``); sphinx-gallery builds stand-alone
    # example scripts into a gallery of their own pages, which suits examples/, not
    # a narrative guide.
    "matplotlib.sphinxext.plot_directive",
    # The CLI reference is generated from astrofm.cli.build_parser, so it cannot drift.
    "sphinxarg.ext",
    "astrofm_docs",
]

# automodapi writes one page per object; numpydoc renders the docstrings.
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# Cross-references to numpy, astropy and torch need their objects.inv, which intersphinx
# fetches over the network: no site-packages ships one, and CI and the development
# machines are offline, where a failed fetch is a warning and so a failed -W build.
# Offline, such references render as code without a link (nitpicky is off, so they do
# not warn); set ASTROFM_DOCS_INTERSPHINX=1 on a machine with network to link them.
# References to astrofm's own objects are always checked (astrofm_docs.check_refs).
if os.environ.get("ASTROFM_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "astropy": ("https://docs.astropy.org/en/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
    }

# Plot directive: the code is shown with its figure; one PNG per figure keeps the build
# quick (no hi-res or PDF copies).
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 96)]
plot_rcparams = {"figure.figsize": (8, 4), "image.origin": "lower", "image.cmap": "gray"}
plot_apply_rcparams = True

# Every page's figures together must stay within this many seconds on a CPU; the
# build reports each page's time and warns (an error under -W) beyond it.
astrofm_figure_budget_s = 180

nitpicky = False
exclude_patterns = ["_build"]
html_theme = "sphinx_rtd_theme"
html_title = f"astrofm {release}"
