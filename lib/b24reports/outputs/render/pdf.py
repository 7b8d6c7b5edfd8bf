"""The ``pdf`` exporter: headless Chromium prints ``report.html``; one Chromium for a whole run, a
tab per worker (:class:`PdfPrinter`, Playwright)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any


log = logging.getLogger(__name__)
from b24reports.outputs.render.job import ChromiumNotFound, RenderError, RenderJob

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

def find_chromium() -> str | None:
    """Path of a chromium/chrome executable: env ``B24REPORTS_CHROMIUM``, else the first of
    :data:`CHROMIUM_NAMES` on PATH, else ``None``."""
    env = os.environ.get("B24REPORTS_CHROMIUM")
    if env:
        return env if Path(env).exists() else shutil.which(env)
    for n in CHROMIUM_NAMES:
        p = shutil.which(n)
        if p:
            return p
    return None


#: an inline ``<script>`` whose code is this long (plotly.js, ~4.8 MB) is printed from a file
BIG_SCRIPT = 100_000
#: JS: true once every plotly chart given data has been drawn (``Plotly.newPlot`` finished)
_CHARTS_DRAWN = ("() => [...document.querySelectorAll('.plotly-graph-div')]"
                 ".every(d => !d.data || (d._fullLayout && d.querySelector('.main-svg')))")
#: Chromium flags of the print (rendering-notes.md); Playwright adds headless and no-sandbox
_CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


class PdfPrinter:
    """One headless Chromium for a whole run, printing pages in parallel (``pages`` tabs).

    Playwright drives the system chromium (:func:`find_chromium`) from a thread of its own,
    so :meth:`print` may be called from any thread and blocks until its PDF is written. Each
    tab is reused from report to report: a report page inlines plotly.js (~4.8 MB), which
    Chromium compiles in ~1 s; the page is printed from a copy that loads that script from one
    file instead (:meth:`_print_copy`), so a tab compiles it once and takes it from V8's cache
    for the next report. The copy runs the same code on the same page: the PDF is the one the
    inline page gives, printed as ``chromium --print-to-pdf`` did (A4 by the page's ``@page``
    CSS, no header/footer, backgrounds, tagged).

    Raises ``ChromiumNotFound`` (no chromium) or ``RenderError`` (it would not start) when
    created. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, pages: int = 2, timeout: int = 120):
        import asyncio

        exe = find_chromium()
        if exe is None:
            raise ChromiumNotFound()
        try:
            import playwright.async_api  # noqa: F401 - a dependency; checked before any thread starts
        except ImportError:
            raise RenderError({"pdf": "PDF needs the Python package playwright (`pip install playwright`; "
                                      "it drives the system chromium, no browser download)"}) from None
        self.timeout = timeout
        self._dir = Path(tempfile.mkdtemp(prefix="b24r-print-"))
        self._scripts: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="b24r-pdf", daemon=True)
        self._thread.start()
        try:
            self._call(self._start(exe, max(1, int(pages))), timeout)
        except BaseException:
            self.close()
            raise

    def _call(self, coro: Any, timeout: float) -> Any:
        import asyncio

        try:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
        except TimeoutError:
            raise RenderError({"pdf": f"chromium did not finish within {timeout:.0f} s"}) from None

    async def _start(self, exe: str, pages: int) -> None:
        import asyncio

        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        try:
            self._browser = await self._pw.chromium.launch(executable_path=exe, args=_CHROMIUM_ARGS)
        except Exception as e:
            await self._pw.stop()
            self._pw = None
            raise RenderError({"pdf": f"chromium would not start: {str(e).splitlines()[0][:200]}"}) from None
        context = await self._browser.new_context(viewport={"width": 800, "height": 600})  # chromium's own default
        self._tabs: asyncio.Queue = asyncio.Queue()
        for _ in range(pages):
            self._tabs.put_nowait(await context.new_page())

    def _print_copy(self, html_path: Path) -> Path:
        """``html_path`` with each big inline script (:data:`BIG_SCRIPT`) replaced by a
        ``<script src>`` of a file holding the same code (one file per distinct code, named by
        its sha256), written next to it as ``.print-<name>``."""
        import hashlib

        html = html_path.read_text(encoding="utf-8")
        parts, pos = [], 0
        # each "</script>" closes the last "<script" before it (a CSS comment may say "<script>")
        while (close := html.find("</script>", pos)) >= 0:
            start = html.rfind("<script", pos, close)
            open_end = html.find(">", start, close) if start >= 0 else -1
            if open_end < 0:
                parts.append(html[pos:close])
            elif close - open_end - 1 >= BIG_SCRIPT and " src=" not in html[start:open_end]:
                code = html[open_end + 1:close]
                digest = hashlib.sha256(code.encode("utf-8")).hexdigest()[:16]
                with self._lock:
                    if digest not in self._scripts:
                        f = self._dir / f"{digest}.js"
                        f.write_text(code, encoding="utf-8")
                        self._scripts[digest] = f
                parts.append(html[pos:open_end] + f' src="{self._scripts[digest].as_uri()}">')
            else:
                parts.append(html[pos:close])
            parts.append("</script>")
            pos = close + len("</script>")
        copy = html_path.with_name(f".print-{html_path.name}")
        copy.write_text("".join(parts) + html[pos:], encoding="utf-8")
        return copy

    async def _print(self, url: str, pdf_path: str) -> None:
        page = await self._tabs.get()
        try:
            await page.goto(url, wait_until="load", timeout=self.timeout * 1000)
            try:  # charts drawn (as the command line's --virtual-time-budget=5000 waited for)
                await page.wait_for_function(_CHARTS_DRAWN, timeout=5000)
            except Exception:  # noqa: BLE001 - print what is there, as the command line did
                log.warning("pdf: charts of %s not drawn within 5 s; printing as is", url)
            # as chromium --print-to-pdf: backgrounds, the page's @page size, a tagged PDF (its
            # structure and language for screen readers)
            await page.pdf(path=pdf_path, prefer_css_page_size=True, print_background=True, tagged=True)
            await page.goto("about:blank")
        finally:
            self._tabs.put_nowait(page)

    def print(self, html_path: Path, pdf_path: Path) -> None:
        """Print ``html_path`` to ``pdf_path`` (A4 by the page's print CSS). Raises
        ``RenderError`` (chromium failed or took over ``timeout`` s) with no PDF left behind."""
        try:
            copy = self._print_copy(Path(html_path))
        except OSError as e:
            raise RenderError({"pdf": f"cannot read {Path(html_path).name}: {e.strerror}"}) from None
        try:
            self._call(self._print(copy.resolve().as_uri(), str(pdf_path)), self.timeout)
        except RenderError:
            Path(pdf_path).unlink(missing_ok=True)
            raise
        except Exception as e:
            Path(pdf_path).unlink(missing_ok=True)
            raise RenderError({"pdf": f"chromium failed: {str(e).splitlines()[0][:200]}"}) from None
        finally:
            copy.unlink(missing_ok=True)
        if not Path(pdf_path).exists() or Path(pdf_path).stat().st_size == 0:
            raise RenderError({"pdf": "chromium wrote no PDF"})

    async def _stop(self) -> None:
        if getattr(self, "_pw", None) is not None:
            try:
                await self._browser.close()
            finally:
                await self._pw.stop()

    def close(self) -> None:
        """Stop chromium and the printing thread; remove the script files."""
        import asyncio

        if self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
            except Exception:  # noqa: BLE001 - best effort at the end of a run
                log.debug("chromium did not stop cleanly", exc_info=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PdfPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def html_to_pdf(html_path: Path, pdf_path: Path, timeout: int = 120) -> None:
    """Print ``html_path`` to ``pdf_path`` (A4, by the page's print CSS) with headless
    chromium (a :class:`PdfPrinter` of one tab, for this page only). Raises
    ``ChromiumNotFound`` or ``RenderError``."""
    with PdfPrinter(pages=1, timeout=timeout) as printer:
        printer.print(html_path, pdf_path)


def write_pdf(job: RenderJob, path: Path) -> None:
    """``report.pdf`` from the ``report.html`` built in the same run, printed by the run's
    :class:`PdfPrinter` (``job.printer``), else by one of its own."""
    if job.printer is not None:
        job.printer.print(job.files["html"], path)
    else:
        html_to_pdf(job.files["html"], path)
