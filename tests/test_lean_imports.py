"""outputs.lean: the IRI grammar (rfc3987_syntax → Lark) is kept out of render's processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_skipped_before_jsonschema_no_grammar_and_no_iri_check():
    # jsonschema imported after the call: no Lark in the process, "iri" unchecked (any string
    # passes, as without the package), the other formats still checked
    got = _run("""
        from b24reports.outputs.lean import skip_iri_grammar
        print(skip_iri_grammar())
        import jsonschema, sys
        fc = jsonschema.Draft7Validator.FORMAT_CHECKER
        print("lark" in sys.modules, "iri" in fc.checkers, "date" in fc.checkers)
        print(jsonschema.Draft7Validator({"format": "date"}, format_checker=fc).is_valid("2026-13-45"))
    """)
    assert got == ["True", "False", "False", "True", "False"]


def test_too_late_once_jsonschema_is_imported():
    # jsonschema already has its checkers: the call changes nothing and says so
    got = _run("""
        import jsonschema, sys
        from b24reports.outputs.lean import skip_iri_grammar
        print(skip_iri_grammar(), "iri" in jsonschema.Draft7Validator.FORMAT_CHECKER.checkers, sys.modules.get("rfc3987_syntax") is not None)
    """)
    assert got == ["False", "True", "True"]


def test_a_render_compiles_no_grammar_in_its_process_or_its_kernel(demo_store, demo_as_of, tmp_path):
    # a report's HTML as render makes it (papermill on a warm kernel, nbconvert here): neither
    # this process nor the kernel compiled the grammar (the kernel's warm-up says which modules
    # it has: "lark" must not be one)
    got = _run(f"""
        import sys
        from b24reports.outputs import render
        from b24reports.outputs.kernels import WarmKernel
        k = WarmKernel(store={str(demo_store)!r})
        try:
            out = render.render_report("funnel", {str(demo_store)!r}, {{"as_of": {demo_as_of!r}}}, {str(tmp_path)!r},
                                       ("html",), kernel=k)
            k._execute("import sys, pathlib; pathlib.Path({str(tmp_path / 'kmods')!r}).write_text(str('lark' in sys.modules))")
        finally:
            k.shutdown()
        print("lark" in sys.modules, "papermill" in sys.modules, out["html"].stat().st_size > 100_000)
    """)
    assert got == ["False", "True", "True"]
    assert (tmp_path / "kmods").read_text() == "False"
