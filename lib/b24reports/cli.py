"""Command line: a thin skin over the Python API (``sync.sync``, ``render.render_all``,
``reports``). Entry point ``b24reports = "b24reports.cli:main"``.

Commands: ``demo``, ``sync``, ``render``, ``list``, ``run-schedule``, ``serve``. Exit codes: 0 ok; 2 bad input (a
``BadInput``/``B24AuthError`` or a usage error; the message names the input); 3 a sync that
could not show a pass complete (``SyncIncomplete``: a deletion refused, rows the portal counts not
received; nothing stored was lost); 1 any other failure (one line; the traceback only with
``--debug``). The webhook URL is never printed:
every message goes through :func:`redact`.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from b24reports.core.errors import B24ReportsError, BadParameter, SyncIncomplete

_SECRETS: list[str] = []


#: Redactors of live secrets that change while running (an application token refreshed mid-sync).
_REDACTORS: list[Any] = []


def redact(text: str) -> str:
    """``text`` with every webhook URL this process saw (and its token path), the client secret
    and the application's access/refresh tokens masked."""
    for s in _SECRETS:
        if s:
            text = text.replace(s, "***")
    for r in _REDACTORS:
        text = r(text)
    return text


def _remember_secret(url: str | None) -> None:
    if url:
        u = url.strip()
        _SECRETS.extend(x for x in {u, u.rstrip("/")} if x not in _SECRETS)
        parts = u.rstrip("/").split("/")
        if len(parts) >= 2 and "rest" in parts:  # .../rest/<user>/<token>
            tok = parts[-1]
            if len(tok) >= 6 and tok not in _SECRETS:
                _SECRETS.append(tok)


def _echo(msg: str, err: bool = False) -> None:
    click.echo(redact(msg), err=err)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(package_name="b24reports")
def cli(debug: bool) -> None:
    """b24reports: sales analytics for Bitrix24 portals (sync into DuckDB, render reports)."""


# --------------------------------------------------------------------------- list


@cli.command("list")
@click.option("--lang", type=click.Choice(["ru", "en"]), default="ru", show_default=True, help="Language of the list.")
def list_cmd(lang: str) -> None:
    """List the reports and their parameters."""
    from b24reports import reports
    from b24reports.core.texts import LIST_WORDS, param_help

    words = LIST_WORDS[lang]
    specs = reports.all_reports()
    if not specs:
        _echo(words["none"])
        return
    _echo(words["common"])
    for p in reports.COMMON_PARAMS:
        choices = f" [{'|'.join(p.choices)}]" if p.choices else ""
        _echo(f"  {p.name:<14} {p.kind:<9} {param_help(p.name, p.help, lang)}{choices}")
    for s in specs:
        _echo("")
        _echo(f"{s.name} — {s.title.get(lang, s.name)}")
        tables = ", ".join(s.tables)
        _echo(f"  {words['tables']}: {tables}")
        for p in s.params:
            d = ",".join(map(str, p.default)) if isinstance(p.default, tuple | list) else p.default
            default = "" if d in (None, "") else f" ({words['default']} {d})"
            choices = f" [{'|'.join(p.choices)}]" if p.choices else ""
            _echo(f"  --param {p.name}=…  {p.kind}{choices}: {param_help(p.name, p.help, lang, s.name)}{default}")


# --------------------------------------------------------------------------- sync


def _sync_log(msg: str) -> None:
    """Sync's progress lines (one per table: ``deals: 2 500 rows written``) on stderr, so a log
    of a run without a terminal (no tqdm bars) still shows each table; its closing summary is
    left to :func:`_print_sync`."""
    if not msg.startswith("sync "):
        _echo(f"  {msg}", err=True)


def _print_sync(rep: Any) -> None:
    from b24reports.core.i18n import count_text
    from b24reports.core.texts import translate_warning

    rows = sum((getattr(rep, "rows", {}) or {}).values())
    _echo(f"sync {getattr(rep, 'mode', '?')}: {getattr(rep, 'status', '?')}, {count_text(rows, 'row', 'en')} written, "
          f"{count_text(getattr(rep, 'requests', 0), 'request', 'en')}, {getattr(rep, 'seconds', 0):.1f} s -> "
          f"{getattr(rep, 'store_path', '')}", err=True)
    for table, why in (getattr(rep, "skipped", {}) or {}).items():
        _echo(f"  skipped {table}: {why}", err=True)
    ws = list(getattr(rep, "warnings", []) or [])
    if ws:
        _echo(f"  {count_text(len(ws), 'data_warning', 'en')} (shown in the reports); first: {translate_warning(ws[0], 'en')}",
              err=True)


@cli.command("sync")
@click.option("--webhook", envvar="B24_WEBHOOK_URL", metavar="URL", show_envvar=True,
              help="Inbound webhook URL (https://<portal>/rest/<user>/<token>/). Better: set B24_WEBHOOK_URL.")
@click.option("--app", "use_app", is_flag=True,
              help="Sync as the installed local application: its tokens are kept next to --store "
                   "(<store>.app-tokens.json, written by `serve --app` at install); B24_CLIENT_ID and "
                   "B24_CLIENT_SECRET from the environment, B24_OAUTH_URL optional.")
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), help="DuckDB store (default data/<host>.duckdb).")
@click.option("--full", is_flag=True, help="Re-read every table (stage history and calls too), add what the store lacks "
                                            "and delete what the portal no longer has, once its count agrees.")
def sync_cmd(webhook: str | None, use_app: bool, store: Path | None, full: bool) -> None:
    """Pull the portal's CRM data into the local DuckDB store (incremental by default)."""
    from b24reports.ingest.sync import sync

    if use_app:
        from b24reports.ingest.auth import AppToken, app_tokens_path
        from b24reports.ingest.client import B24Client

        if store is None:
            raise BadParameter("store", None, "--app needs --store: the application's tokens are kept next to it")
        _SECRETS.append(os.environ.get("B24_CLIENT_SECRET", ""))
        auth = AppToken.load(app_tokens_path(store))
        _REDACTORS.append(auth.redact)
        with B24Client(auth) as client:
            try:
                rep = sync(client, store, full=full, progress=True, log=_sync_log)
            except SyncIncomplete as e:
                _print_sync(e.report)
                raise
        _print_sync(rep)
        return
    if not webhook:
        raise BadParameter("webhook", None, "give --webhook URL or set B24_WEBHOOK_URL (or --app)")
    _remember_secret(webhook)

    try:
        rep = sync(webhook, store, full=full, progress=True, log=_sync_log)
    except SyncIncomplete as e:  # synced, but a pass was not shown complete: summary, then exit 3
        _print_sync(e.report)
        raise
    _print_sync(rep)
    if getattr(rep, "status", "ok") != "ok":
        raise B24ReportsError(f"sync failed: {getattr(rep, 'error', '')}")


# --------------------------------------------------------------------------- render


def _parse_kv(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for it in items:
        if "=" not in it or not it.split("=", 1)[0].strip():
            raise BadParameter("param", it, "expected NAME=VALUE")
        k, v = it.split("=", 1)
        k = k.strip().replace("-", "_")
        if k in out:
            raise BadParameter(k, v, "given twice")
        out[k] = v
    return out


def _print_outputs(outputs: dict[str, dict[str, Path]]) -> None:
    for name, files in outputs.items():
        for fmt, path in files.items():
            _echo(f"{name:<12} {fmt:<5} {path}")


def _render(report: str, store: Path, raw: dict[str, Any], out: Path, formats: str, workers: int, progress: bool) -> None:
    from b24reports.outputs import render
    from b24reports import reports

    names = None if report == "all" else [reports.get(report).name]
    fmts = render.parse_formats(formats)
    try:
        outputs = render.render_all(store, raw, out, fmts, names=names, workers=workers, progress=progress)
    except render.RenderError as e:
        _print_outputs(e.outputs)
        raise
    _print_outputs(outputs)


@cli.command("render")
@click.argument("report")
@click.option("--store", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), envvar="B24REPORTS_STORE",
              help="DuckDB store written by `b24reports sync`.")
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="Period start (inclusive).")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Period end (inclusive).")
@click.option("--as-of", "as_of", metavar="ISO", help="The report's 'now' (default: now).")
@click.option("--plan", type=click.Path(dir_okay=False), help="Plan file (CSV/XLSX) for the plan report.")
@click.option("--lang", type=click.Choice(["ru", "en"]), help="Report language (default ru).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Any declared parameter; repeatable.")
@click.option("--formats", default="html,pdf,xlsx,json", show_default=True, help="Comma-separated formats.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output directory.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16), help="Reports rendered at a time.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def render_cmd(report: str, store: Path, date_from: str | None, date_to: str | None, as_of: str | None, plan: str | None,
               lang: str | None, params: tuple[str, ...], formats: str, out: Path, workers: int, no_progress: bool) -> None:
    """Render REPORT (a name from `b24reports list`, or `all`) into OUT/<report>/."""
    raw: dict[str, Any] = _parse_kv(params)
    for k, v in (("date_from", date_from), ("date_to", date_to), ("as_of", as_of), ("plan", plan), ("lang", lang)):
        if v is not None:
            if k in raw:
                raise BadParameter(k, v, "given both as an option and as --param")
            raw[k] = v
    _render(report, store, raw, out, formats, workers, not no_progress)


# --------------------------------------------------------------------------- demo


@cli.command("demo")
@click.option("--out", default="outputs/demo", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--store", default="data/demo.duckdb", show_default=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Portal size (1 = ~2,500 deals).")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--anchor", metavar="YYYY-MM-DD", help="The demo portal's today (default: today).")
@click.option("--formats", default="html,pdf,xlsx,json", show_default=True)
@click.option("--lang", type=click.Choice(["ru", "en"]), help="Report language (default ru).")
@click.option("--advance-days", default=7, show_default=True, type=click.IntRange(min=0),
              help="Sync the portal as it was this many days before --anchor, let it live through them "
                   "(new deals, stage moves, slipped dates, changed amounts and owners), sync again "
                   "(0: one sync of the portal as of --anchor).")
def demo_cmd(out: Path, store: Path, scale: float, seed: int, anchor: str | None, formats: str, lang: str | None,
             advance_days: int) -> None:
    """Generate a demo portal, serve it on loopback, sync it, let it live a week and sync again
    (so the pipeline report and the dynamics slips have history), render every report."""
    from b24reports.demo.generator import generate_portal, sync_with_history
    from b24reports.demo.server import DemoServer
    from b24reports.ingest.sync import sync

    try:
        day = dt.date.fromisoformat(anchor) if anchor else dt.date.today()
    except ValueError:
        raise BadParameter("anchor", anchor, "expected YYYY-MM-DD") from None
    start = day - dt.timedelta(days=advance_days)
    # the portal starts advance_days before the reports' day and lives up to it: say both dates,
    # or a reader takes the first for the reports' "today"
    lives = f" as it was on {start}, to live {advance_days} days up to" if advance_days else " as of"
    _echo(f"generating the demo portal (seed {seed}, scale {scale}){lives} {day}, the reports' day (12:00)…", err=True)
    portal = generate_portal(seed=seed, scale=scale, anchor=start)
    store.parent.mkdir(parents=True, exist_ok=True)

    def lived(days: int, done: dict) -> None:
        _echo(f"the demo portal lived {days} days, to {dt.date.fromtimestamp(portal.now)}: " + ", ".join(
            f"{k} {len(v)}" for k, v in done.items() if v) + "; syncing again…", err=True)

    with DemoServer(portal) as srv:
        _remember_secret(srv.webhook_url)
        # each sync's summary as it ends, before the portal lives on (not all three at the end)
        sync_with_history(portal, srv.webhook_url, store, advance_days, sync=sync, on_advance=lived,
                          on_sync=_print_sync, progress=True, log=_sync_log)
    from b24reports.outputs.render import find_chromium, parse_formats

    fmts = parse_formats(formats)
    if "pdf" in fmts and find_chromium() is None:
        _echo("warning: chromium not found, skipping PDF (install it: sudo apt-get install -y chromium)", err=True)
        fmts = tuple(f for f in fmts if f != "pdf")
    formats = ",".join(fmts)
    raw: dict[str, Any] = {"as_of": f"{day.isoformat()}T12:00:00"}  # the demo portal's "now"
    from b24reports.ingest.store import open_store

    # a later `render`/`serve` of this store without --as-of takes the same "now" (in any language),
    # not the machine's clock: the reports of the demo and of a re-render agree
    with open_store(store) as st:
        st.set_info("clock", raw["as_of"])
    from b24reports.ingest.dataset import Dataset
    from b24reports.demo.plan import demo_plan

    # the plan report needs a plan file: a plausible one for the demo portal, next to the store
    raw["plan"] = str(demo_plan(Dataset.load(store), raw["as_of"], store.parent / "demo_plan.csv"))
    if lang:
        raw["lang"] = lang
    _render("all", store, raw, out, formats, 2, True)
    _echo(f"done: open {out.resolve()}/<report>/report.html", err=True)


# --------------------------------------------------------------------------- serve


@cli.command("serve")
@click.option("--store", default="data/demo.duckdb", show_default=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--port", default=8866, show_default=True, type=click.IntRange(1, 65535))
@click.option("--ip", default="127.0.0.1", show_default=True, help="Bind address (keep loopback behind a proxy).")
@click.option("--lang", type=click.Choice(["ru", "en"]), default="ru", show_default=True, help="Landing page language.")
@click.option("--pool-size", default=1, show_default=True, type=click.IntRange(0, 8), help="Preheated kernels per report.")
@click.option("--cull-idle", default=900, show_default=True, type=click.IntRange(0), help="Shut idle kernels down after N s.")
@click.option("--plan", type=click.Path(exists=True, dir_okay=False),
              help="Plan file for the plan dashboard [default: demo_plan.csv next to the store when "
                   "`b24reports demo` wrote one, else params/plan.csv].")
@click.option("--param", "param", multiple=True, metavar="NAME=VALUE", help="A report parameter for every dashboard.")
@click.option("--app", "app_mode", is_flag=True,
              help="Bitrix24 local application mode: /b24/install and /b24/app; every viewer sees what their "
                   "Bitrix24 rights allow (README, \"installing the local application\").")
@click.option("--portal", metavar="https://DOMAIN", help="With --app: the only portal that may install and open it "
                                                        "(default: the first install decides).")
@click.option("--public-url", metavar="URL", help="With --app: the https address Bitrix24 reaches this server at "
                                                  "(behind a reverse proxy); default: the request's own.")
@click.option("--fork/--no-fork", default=True, show_default=True,
              help="Fork kernels from one process that holds the store (shared memory, ready in under a "
                   "second); --no-fork starts each kernel on its own.")
def serve_cmd(store: Path, port: int, ip: str, lang: str, pool_size: int, cull_idle: int, plan: str | None,
              param: tuple[str, ...], app_mode: bool, portal: str | None, public_url: str | None, fork: bool) -> int:
    """Serve the reports as live dashboards (Voila): landing page, filters, Excel export."""
    from b24reports.outputs.serve import serve

    app = None
    if app_mode:
        from b24reports.outputs.appmode import AppConfig
        from b24reports.ingest.auth import _portal_of

        app = AppConfig(store=str(store.resolve()), portal=_portal_of(portal, "portal") if portal else None,
                        public_url=public_url)
    elif portal or public_url:
        raise BadParameter("portal", portal or public_url, "--portal and --public-url go with --app")

    raw = _parse_kv(param)
    demo_plan = store.parent / "demo_plan.csv"  # the plan `demo` rendered its plan report with
    if not plan and "plan" not in raw and demo_plan.exists():
        plan = str(demo_plan)
    if plan:
        raw["plan"] = str(Path(plan).resolve())
    from b24reports.ingest.plan_file import plan_path

    _echo(f"plan dashboard reads: {raw.get('plan') or plan_path(None)}")
    return serve(store, port=port, ip=ip, lang=lang, pool_size=pool_size, cull_idle_timeout=cull_idle, params=raw,
                 echo=_echo, app=app, fork=fork)


# --------------------------------------------------------------------------- run-schedule


@cli.command("run-schedule")
@click.argument("schedule_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--only", multiple=True, metavar="NAME", help="Run just this entry (ignores cron); repeatable.")
@click.option("--all", "run_all", is_flag=True, help="Run every entry now, whatever its cron line.")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="An existing Dask scheduler (default: a LocalCluster).")
@click.option("--workers", type=click.IntRange(1, 256), help="LocalCluster workers (default: min(entries, CPUs)).")
@click.option("--as-of", "as_of", metavar="ISO", help="The reports' 'now' and output date (default: now).")
@click.option("--window-minutes", default=60, show_default=True, type=click.IntRange(1),
              help="An entry with cron runs when its cron time fell within this many minutes before now.")
@click.option("--threads", is_flag=True, help="LocalCluster workers as threads of this process (light; small runs).")
@click.option("--check", is_flag=True, help="Only validate the schedule file and exit.")
def run_schedule_cmd(schedule_file: Path, only: tuple[str, ...], run_all: bool, scheduler: str | None,
                     workers: int | None, as_of: str | None, window_minutes: int, threads: bool, check: bool) -> int:
    """Sync, render and email the entries of SCHEDULE_FILE in parallel (see params/schedule.yaml).

    Exit code 1 when any entry failed (the summary table says which and why), 2 when the
    schedule is invalid (nothing ran)."""
    from b24reports.outputs.schedule import run_schedule
    from b24reports.outputs.schedule_file import load_schedule

    sched = load_schedule(schedule_file, only=list(only) or None)
    for e in sched.entries:
        _remember_secret(os.environ.get(e.portal.webhook_env))
    if check:
        from b24reports.core.i18n import count_text

        _echo(f"{schedule_file}: {count_text(len(sched.entries), 'entry', 'en')} OK")
        return 0
    try:
        when = dt.datetime.fromisoformat(as_of) if as_of else None
        if as_of and len(as_of.strip()) == 10:  # a date alone: the end of that day, as for reports
            when = dt.datetime.combine(when.date(), dt.time(23, 59, 59))
    except ValueError:
        raise BadParameter("as-of", as_of, "expected an ISO date or datetime") from None
    summary = run_schedule(sched, only=list(only) or None, scheduler=scheduler, workers=workers, as_of=when,
                           run_all=run_all, window=dt.timedelta(minutes=window_minutes), processes=not threads,
                           on_result=lambda r: _echo(f"{r.entry}: {r.status} ({r.duration:.1f} s)", err=True))
    _echo(summary.table())
    return summary.exit_code


# --------------------------------------------------------------------------- entry point


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code (see module docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args  # accepted anywhere on the line
    args = [a for a in args if a != "--debug"]
    try:
        rv = cli.main(args=args, prog_name="b24reports", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.Abort:
        _echo("aborted", err=True)
        return 1
    except click.UsageError as e:
        _echo(f"error: {e.format_message()}", err=True)
        if e.ctx is not None:
            _echo(f"try: {e.ctx.command_path} --help", err=True)
        return 2
    except click.ClickException as e:
        _echo(f"error: {e.format_message()}", err=True)
        return e.exit_code
    except B24ReportsError as e:
        if debug:
            _echo(traceback.format_exc(), err=True)
        _echo(f"error: {e}", err=True)
        return int(getattr(e, "exit_code", 1))
    except KeyboardInterrupt:
        _echo("interrupted", err=True)
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line, traceback only with --debug
        if debug:
            _echo(traceback.format_exc(), err=True)
        _echo(f"error: {type(e).__name__}: {e}" + ("" if debug else " (run with --debug for details)"), err=True)
        return 1


def main(argv: list[str] | None = None) -> None:
    """Console entry point: ``sys.exit(run(argv))``."""
    sys.exit(run(argv))


if __name__ == "__main__":  # pragma: no cover
    main()
