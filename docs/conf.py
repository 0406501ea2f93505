"""Sphinx configuration: the skfairmask documentation site, built offline.

Build it with ``python -m sphinx -W -b html docs docs/_build/html`` (the tests
do, with warnings as errors).
"""

import skfairmask

project = "skfairmask"
author = "the skfairmask developers"
release = version = skfairmask.__version__

extensions = [
    "myst_parser",             # the pages are Markdown, readable on GitHub too
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",                # the docstrings follow numpydoc, as scikit-learn's do
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

# Offline: no intersphinx, nothing fetched.
autosummary_generate = True
# scikit-learn's generated set_*_request methods cite its own glossary, which is not here.
autodoc_default_options = {"members": True, "exclude-members": "set_fit_request,set_score_request"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "alabaster"
html_title = f"skfairmask {release}"
