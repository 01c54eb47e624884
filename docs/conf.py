"""Sphinx configuration of glasskit's documentation: ``sphinx-build -W docs docs/_build/html``.

The reference pages of the file format, the spec keys, the profile keys and the model keys are
generated from the code at every build (``_gen.py``); the CLI reference from the parser
(sphinx-argparse); the API reference from numpydoc docstrings. ``sphinx-build -b doctest`` runs
every ``testcode`` block against a small campaign made by ``doctest_global_setup``.
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import glasskit  # noqa: E402
import _gen  # noqa: E402

project = "glasskit"
author = "the glasskit developers"
copyright = "2026, the glasskit developers (MIT licence)"
release = version = glasskit.__version__

extensions = ["sphinx.ext.autodoc", "numpydoc", "sphinx.ext.doctest", "sphinxarg.ext"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"description": "LAMMPS glass campaigns at HPC scale", "fixed_sidebar": True}
nitpicky = False
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
autodoc_typehints = "none"
autodoc_member_order = "bysource"

# the doctest builder: one small campaign (120 atoms, 4 ramps, simulated and minimized by the
# real LAMMPS) in a temporary project named like the demo, so the pages say runs/demo
doctest_global_setup = """
import os as _os
import _doctest_campaign
_os.chdir(_doctest_campaign.project())
"""


def setup(app):
    app.connect("builder-inited", lambda app: _gen.generate(HERE / "reference" / "generated"))
doctest_default_flags = __import__("doctest").ELLIPSIS | __import__("doctest").NORMALIZE_WHITESPACE
