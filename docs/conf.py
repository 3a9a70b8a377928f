"""Sphinx configuration for the astrofm documentation."""

import astrofm

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
]

# automodapi writes one page per object; numpydoc renders the docstrings.
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

nitpicky = False
exclude_patterns = ["_build"]
html_theme = "sphinx_rtd_theme"
html_title = f"astrofm {release}"
