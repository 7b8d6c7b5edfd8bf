"""Imports our processes skip because nothing in them needs them, and they cost seconds.

jsonschema (imported by nbformat, which papermill, nbconvert and ``plotly.io``'s renderers
import) checks the ``iri``/``iri-reference`` formats with ``rfc3987_syntax`` when that package
is installed (jupyter_events pulls it in), and importing ``rfc3987_syntax`` compiles a Lark
grammar: 0.5–0.9 s of CPU idle, 3–4 s on a loaded machine, in every process that imports
nbformat. No notebook, report or exporter of b24reports validates an IRI; nbformat's schema has
no such format. :func:`skip_iri_grammar` keeps that import out of the current process.
"""

from __future__ import annotations

import sys

#: The module whose import compiles the grammar.
IRI_GRAMMAR_MODULE = "rfc3987_syntax"


def skip_iri_grammar() -> bool:
    """Keep :data:`IRI_GRAMMAR_MODULE` from being imported in this process, so that jsonschema,
    imported after this call, has no ``iri`` format checker (it then accepts any string there,
    as it does without the package). Nothing when jsonschema is already imported (its checkers
    exist; the grammar's cost is paid) or the module already is. Returns whether the import is
    now skipped."""
    if "jsonschema" in sys.modules and IRI_GRAMMAR_MODULE not in sys.modules:
        return False
    sys.modules.setdefault(IRI_GRAMMAR_MODULE, None)  # type: ignore[arg-type] - None: "import fails"
    return sys.modules[IRI_GRAMMAR_MODULE] is None
