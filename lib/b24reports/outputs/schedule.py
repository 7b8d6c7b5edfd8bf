"""Scheduled runs for many portals: sync, render, deliver by email — in parallel on Dask.

``run-schedule params/schedule.yaml`` (see the commented example there) does, per entry:

1. sync the entry's portal incrementally into its own store (``<store_dir>/<portal>.duckdb``;
   the webhook URL is read from the environment variable NAMED in the file, on the worker);
2. render the entry's reports for its period preset (:mod:`b24reports.reports.presets`) into
   ``<output_dir>/<portal>/<report>/<as_of date>/`` (``report.pdf``, ``report.xlsx``, …);
3. email the files (the PDFs when rendered, otherwise every file) with an HTML summary of the
   headline numbers (:mod:`b24reports.outputs.delivery`) to the entry's recipients.

Validation comes first (:func:`load_schedule`): an unknown key, report, preset, format or
language, a bad cron line, a missing environment variable → one
:class:`~b24reports.core.errors.ScheduleFileError` listing every problem as
``<file>:<line>: entry '<name>': <what>`` before anything runs.

Entries run in parallel as Dask tasks (:func:`run_schedule`): a ``LocalCluster`` by default,
an existing scheduler by address. An entry's failure (bad webhook, API down, render or send
error) is caught and reported in its :class:`EntryResult`; the others go on. Two entries of
the same portal never use its store at the same time: sync + render hold a per-portal lock
(``distributed.Lock`` keyed on the portal on a cluster, plus a file lock next to the store,
which also covers two overlapping ``run-schedule`` processes on one machine).

An entry with a ``cron`` line runs only when one of its cron times falls within the
``window`` before ``now`` (default 1 hour: call ``run-schedule`` hourly from cron or a
systemd timer); ``--only NAME`` and ``--all`` ignore cron.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from b24reports.core.errors import B24ReportsError, BadInput, ScheduleFileError, SyncIncomplete
from b24reports.core.i18n import plural
from b24reports.reports.presets import PRESETS, preset_period


FORMATS: tuple[str, ...] = ("html", "pdf", "xlsx", "json")
LANGS: tuple[str, ...] = ("ru", "en")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_EMAIL_RE = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TOP_KEYS = {"version", "output_dir", "store_dir", "smtp", "portals", "defaults", "entries"}
_PORTAL_KEYS = {"webhook_env", "store"}
_DEFAULT_KEYS = {"period", "formats", "lang", "recipients", "params"}
_ENTRY_KEYS = {"name", "portal", "reports", "period", "formats", "lang", "recipients", "cron", "params", "enabled"}


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Portal:
    """A portal of the schedule: ``name`` (directory name under the output dir),
    ``webhook_env`` (NAME of the environment variable holding the webhook URL), ``store``
    (path of its DuckDB store)."""

    name: str
    webhook_env: str
    store: Path


@dataclass(frozen=True)
class Entry:
    """One scheduled job: ``name``, ``portal`` (:class:`Portal`), ``reports`` (names),
    ``period`` (a preset of :data:`b24reports.reports.presets.PRESETS`), ``formats``, ``lang``,
    ``recipients`` (email addresses; empty = render only), ``cron`` (5-field cron line or
    None = every run), ``params`` (extra report parameters, handed to the reports that
    declare them), ``line`` (line of the entry in the schedule file)."""

    name: str
    portal: Portal
    reports: tuple[str, ...]
    period: str
    formats: tuple[str, ...]
    lang: str
    recipients: tuple[str, ...] = ()
    cron: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0

    def report_params(self, as_of: dt.datetime | None) -> dict[str, Any]:
        """Raw report parameters for a run at ``as_of`` (portal time; None = the report's
        default, now): ``date_from``/``date_to`` of the period preset (entry ``params`` may
        override them), ``lang``, ``as_of``, plus the entry's ``params``."""
        day = (as_of or dt.datetime.now()).date()
        d0, d1 = preset_period(self.period, day)
        out: dict[str, Any] = {"date_from": d0.isoformat(), "date_to": d1.isoformat(), "lang": self.lang}
        if as_of is not None:
            out["as_of"] = as_of.isoformat()
        out.update(self.params)
        return out


@dataclass(frozen=True)
class Schedule:
    """A validated schedule file: ``path``, ``entries`` (in file order), ``output_dir``,
    ``smtp`` (:class:`b24reports.outputs.delivery.SmtpSettings` or None when no entry sends)."""

    path: Path
    entries: tuple[Entry, ...]
    output_dir: Path
    smtp: Any = None

    def entry(self, name: str) -> Entry:
        """The entry called ``name``; unknown -> ``ScheduleFileError``."""
        for e in self.entries:
            if e.name == name:
                return e
        raise ScheduleFileError(f"{self.path}: no entry named {name!r}; entries: {', '.join(e.name for e in self.entries)}")


@dataclass
class EntryResult:
    """Outcome of one entry: ``entry``, ``portal``, ``status`` (``ok`` | ``failed`` |
    ``skipped``), ``duration`` (seconds, wall), ``files`` (written paths, kept on failure),
    ``error`` (one line naming the step: ``sync: …``, ``render: …``, ``email: …``; never
    the webhook), ``emailed`` (recipients the message was accepted for), ``out_dir``,
    ``timings`` (seconds per step: ``lock_wait``, ``sync``, ``render``, ``email``)."""

    entry: str
    portal: str
    status: str
    duration: float = 0.0
    files: list[str] = field(default_factory=list)
    error: str = ""
    emailed: list[str] = field(default_factory=list)
    out_dir: str = ""
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class RunSummary:
    """All entry results of a run, in schedule order. ``exit_code``: 0 when none failed,
    else 1."""

    results: list[EntryResult]
    wall_seconds: float = 0.0

    @property
    def failed(self) -> list[EntryResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_frame(self):
        """The summary table: a DataFrame with columns ``entry``, ``portal``, ``status``,
        ``duration_s`` (1 decimal), ``files`` (count), ``error``."""
        import pandas as pd

        return pd.DataFrame(
            [{"entry": r.entry, "portal": r.portal, "status": r.status, "duration_s": round(r.duration, 1),
              "files": len(r.files), "error": r.error} for r in self.results],
            columns=["entry", "portal", "status", "duration_s", "files", "error"],
        )

    def table(self) -> str:
        """The summary table as plain text, one row per entry, then a totals line."""
        df = self.to_frame()
        left = {c: (lambda w: (lambda v: f"{v:<{w}}"))(max([len(c), *(len(str(v)) for v in df[c])]))
                for c in ("entry", "portal", "status", "error")}
        body = df.to_string(index=False, formatters=left, justify="left") if len(df) else "(no entries ran)"
        n_ok = sum(r.status == "ok" for r in self.results)
        return (f"{body}\n{n_ok} ok, {len(self.failed)} failed, "
                f"{sum(r.status == 'skipped' for r in self.results)} skipped in {self.wall_seconds:.1f} s")


# --------------------------------------------------------------------------- YAML with lines


def _compose(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML into plain Python values plus {path tuple: 1-based line}."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ScheduleFileError(f"{where}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
    lines: dict[tuple, int] = {}
    constructor = yaml.SafeLoader("")

    def conv(node: Any, path: tuple) -> Any:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                key = conv(knode, path + ("<key>",))
                if key in out:
                    raise ScheduleFileError(f"{source}:{knode.start_mark.line + 1}: duplicate key {key!r}")
                out[key] = conv(vnode, path + (key,))
                lines[path + (key,)] = knode.start_mark.line + 1  # a block value: point at its key
            return out
        if isinstance(node, yaml.SequenceNode):
            return [conv(v, path + (i,)) for i, v in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    return (conv(root, ()) if root is not None else None), lines


class _Problems:
    def __init__(self, source: str, lines: dict[tuple, int]):
        self.source, self.lines, self.items = source, lines, []

    def add(self, path: tuple, what: str, entry: str | None = None) -> None:
        line = None
        p = path
        while line is None and p:
            line = self.lines.get(p)
            p = p[:-1]
        line = line or self.lines.get((), 1)
        who = f"entry {entry!r}: " if entry else ""
        self.items.append(f"{self.source}:{line}: {who}{what}")

    def raise_if_any(self) -> None:
        if self.items:
            head = "schedule is invalid (nothing was run):\n  " if len(self.items) > 1 else ""
            raise ScheduleFileError(head + "\n  ".join(self.items))


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    if isinstance(v, list):
        return v
    return [v]


def _known_reports() -> dict[str, Any]:
    from b24reports import reports

    return {s.name: s for s in reports.all_reports()}


# --------------------------------------------------------------------------- load + validate


def load_schedule(path: str | os.PathLike, *, only: str | Sequence[str] | None = None, check_env: bool = True,
                  env: Mapping[str, str] | None = None, base_dir: str | os.PathLike | None = None) -> Schedule:
    """Read and validate a schedule file.

    ``only``: entry name(s) to keep (others are still checked for syntax, but their
    environment variables are not required). ``check_env``: require the webhook variables of
    the kept entries, and the SMTP settings/credentials when a kept entry has recipients.
    ``base_dir``: where relative ``output_dir``/``store_dir``/``store`` paths start
    (default: the current directory).

    Returns a :class:`Schedule`. Raises :class:`ScheduleFileError` (exit 2) listing every
    problem as ``<file>:<line>: entry '<name>': <what>``: unknown keys, reports, presets,
    formats, languages, report parameters, portals; bad cron lines or addresses; duplicate
    entry names; missing environment variables. The webhook value is never read into the
    error or the result — only the variable's name.
    """
    from b24reports.outputs.delivery import SmtpSettings

    env = os.environ if env is None else env
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScheduleFileError(f"schedule file {p}: cannot read: {e.strerror or e}") from None
    src = str(p)
    doc, lines = _compose(text, src)
    probs = _Problems(src, lines)
    if not isinstance(doc, dict):
        raise ScheduleFileError(f"{src}:1: expected a mapping with 'portals' and 'entries'")
    for k in doc:
        if k not in _TOP_KEYS:
            probs.add((k,), f"unknown key {k!r}; known: {', '.join(sorted(_TOP_KEYS))}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    out_dir = base / str(doc.get("output_dir") or "outputs")
    store_dir = base / str(doc.get("store_dir") or "stores")

    # portals
    portals: dict[str, Portal] = {}
    raw_portals = doc.get("portals")
    if not isinstance(raw_portals, dict) or not raw_portals:
        probs.add(("portals",), "'portals' must map portal names to {webhook_env: VAR}")
        raw_portals = {}
    for pname, pdef in raw_portals.items():
        ppath = ("portals", pname)
        if not isinstance(pname, str) or not _NAME_RE.fullmatch(pname):
            probs.add(ppath, f"portal name {pname!r}: use letters, digits, '.', '_' or '-'")
            continue
        if not isinstance(pdef, dict):
            probs.add(ppath, f"portal {pname!r}: expected a mapping with webhook_env")
            continue
        for k in pdef:
            if k not in _PORTAL_KEYS:
                probs.add(ppath + (k,), f"portal {pname!r}: unknown key {k!r}; known: {', '.join(sorted(_PORTAL_KEYS))}")
        var = pdef.get("webhook_env")
        if not isinstance(var, str) or not _ENV_RE.fullmatch(var):
            probs.add(ppath + ("webhook_env",), f"portal {pname!r}: webhook_env must NAME an environment variable "
                      "(e.g. ACME_B24_WEBHOOK), never hold the webhook URL itself")
            continue
        store = base / str(pdef["store"]) if pdef.get("store") else store_dir / f"{pname}.duckdb"
        portals[pname] = Portal(pname, var, store)

    # defaults
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        probs.add(("defaults",), "'defaults' must be a mapping")
        defaults = {}
    for k in defaults:
        if k not in _DEFAULT_KEYS:
            probs.add(("defaults", k), f"unknown key {k!r} in defaults; known: {', '.join(sorted(_DEFAULT_KEYS))}")

    known_reports: dict[str, Any] | None = None
    try:
        known_reports = _known_reports()
    except B24ReportsError as e:  # a broken spec module: report it once
        probs.add((), f"cannot load the report registry: {e}")

    # entries
    entries: list[Entry] = []
    raw_entries = doc.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        probs.add(("entries",), "'entries' must be a non-empty list")
        raw_entries = []
    seen: set[str] = set()
    for i, e in enumerate(raw_entries):
        epath = ("entries", i)
        if not isinstance(e, dict):
            probs.add(epath, f"entry #{i + 1}: expected a mapping")
            continue
        name = e.get("name")
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            probs.add(epath + ("name",), f"entry #{i + 1}: 'name' is required (letters, digits, '.', '_', '-')")
            name = f"#{i + 1}"
        elif name in seen:
            probs.add(epath + ("name",), "duplicate entry name", name)
        seen.add(name)
        before = len(probs.items)
        for k in e:
            if k not in _ENTRY_KEYS:
                probs.add(epath + (k,), f"unknown key {k!r}; known: {', '.join(sorted(_ENTRY_KEYS))}", name)

        def get(key: str, default: Any = None, _e: dict = e) -> tuple[Any, tuple]:
            if key in _e:
                return _e[key], epath + (key,)
            if key in defaults:
                return defaults[key], ("defaults", key)
            return default, epath

        portal = portals.get(e.get("portal")) if isinstance(e.get("portal"), str) else None
        if portal is None:
            probs.add(epath + ("portal",), f"portal {e.get('portal')!r} is not defined under 'portals' "
                      f"(defined: {', '.join(portals) or 'none'})", name)

        raw_reports, rpath = get("reports")
        rep_names = [str(r) for r in _as_list(raw_reports)]
        if rep_names == ["all"] and known_reports is not None:
            rep_names = sorted(known_reports)
        if not rep_names:
            probs.add(rpath, "'reports' must list at least one report (or 'all')", name)
        if known_reports is not None:
            for r in rep_names:
                if r not in known_reports:
                    probs.add(rpath, f"unknown report {r!r}; known: {', '.join(sorted(known_reports)) or '(none)'}", name)

        period, ppath_ = get("period", "last_week")
        if period not in PRESETS:
            probs.add(ppath_, f"unknown period preset {period!r}; known: {', '.join(PRESETS)}", name)

        raw_formats, fpath = get("formats", ["pdf", "xlsx"])
        formats = [str(f).strip().lower() for f in _as_list(raw_formats)]
        bad_f = [f for f in formats if f not in FORMATS]
        if bad_f or not formats:
            probs.add(fpath, f"unknown format(s) {bad_f or formats}; use some of {', '.join(FORMATS)}", name)

        lang, lpath = get("lang", "ru")
        if lang not in LANGS:
            probs.add(lpath, f"unknown lang {lang!r}; use one of {', '.join(LANGS)}", name)

        raw_rcpt, rcpath = get("recipients", [])
        recipients = [str(r).strip() for r in _as_list(raw_rcpt)]
        for r in recipients:
            if not _EMAIL_RE.fullmatch(r):
                probs.add(rcpath, f"recipient {r!r} is not an email address", name)

        cron = e.get("cron")
        if cron is not None:
            cron = str(cron).strip()
            if not _cron_valid(cron):
                probs.add(epath + ("cron",), f"bad cron line {cron!r} (expected 5 fields: "
                          "minute hour day-of-month month day-of-week, e.g. '0 8 * * 1')", name)

        params: dict[str, Any] = {}
        for src_params, spath in ((defaults.get("params"), ("defaults", "params")), (e.get("params"), epath + ("params",))):
            if src_params is None:
                continue
            if not isinstance(src_params, dict):
                probs.add(spath, "'params' must be a mapping of report parameters", name)
                continue
            params.update({str(k): v for k, v in src_params.items()})
        for reserved in ("lang",):
            if reserved in params:
                probs.add(epath + ("params",), f"set {reserved!r} as an entry key, not in params", name)
        if known_reports is not None and rep_names and all(r in known_reports for r in rep_names) and period in PRESETS:
            from b24reports import reports as _reports

            specs = [known_reports[r] for r in rep_names]
            trial = {"date_from": "2000-01-01", "date_to": "2000-01-31", "lang": lang if lang in LANGS else "ru", **params}
            try:
                split = _reports.split_params(trial, specs)
                for s in specs:
                    s.parse_params(split[s.name])
            except BadInput as ex:
                probs.add(epath + ("params",), str(ex), name)

        enabled = e.get("enabled", True)
        if len(probs.items) == before and portal is not None and enabled is not False:
            entries.append(Entry(name=name, portal=portal, reports=tuple(rep_names), period=str(period),
                                 formats=tuple(f for f in FORMATS if f in formats), lang=str(lang),
                                 recipients=tuple(recipients), cron=cron, params=params, line=lines.get(epath, 0)))
    probs.raise_if_any()

    # selection + environment
    wanted = [only] if isinstance(only, str) else list(only or [])
    if wanted:
        names = {e.name for e in entries}
        for w in wanted:
            if w not in names:
                raise ScheduleFileError(f"{src}: --only {w!r}: no such enabled entry; entries: {', '.join(sorted(names))}")
        entries = [e for e in entries if e.name in wanted]
    smtp = None
    if check_env:
        missing: dict[str, list[str]] = {}
        for e in entries:
            if not env.get(e.portal.webhook_env):
                missing.setdefault(e.portal.name, []).append(e.name)
        for pname, names in missing.items():
            var = portals[pname].webhook_env
            probs.add(("portals", pname, "webhook_env"), f"environment variable {var} (webhook of portal {pname!r}) "
                      f"is not set; needed by {plural(len(names), 'entry', 'en')} {', '.join(map(repr, names))}")
        if any(e.recipients for e in entries):
            try:
                smtp = SmtpSettings.resolve(doc.get("smtp"), env)
            except BadInput as ex:
                first = next(e for e in entries if e.recipients)
                where = tuple(str(getattr(ex, "name", "smtp")).split("."))
                probs.add(where if where[0] == "smtp" else ("smtp",), f"{ex} (needed to email entry {first.name!r})")
        probs.raise_if_any()
    return Schedule(path=p, entries=tuple(entries), output_dir=out_dir, smtp=smtp)


def _cron_valid(line: str) -> bool:
    from croniter import croniter

    return len(line.split()) == 5 and croniter.is_valid(line)


def is_due(cron: str | None, now: dt.datetime, window: dt.timedelta = dt.timedelta(hours=1)) -> bool:
    """True when ``cron`` (5-field line, machine local time) fired within ``(now − window,
    now]``; an entry without cron is always due. E.g. ``'0 8 * * 1'`` at Monday 08:20 with
    a 1-hour window → True, at 09:30 → False."""
    if not cron:
        return True
    from croniter import croniter

    nxt = croniter(cron, now - window).get_next(dt.datetime)
    return nxt <= now


# --------------------------------------------------------------------------- running one entry


@dataclass(frozen=True)
class Hooks:
    """The steps of an entry, replaceable (tests, other transports). Each ``None`` means the
    package's own: ``sync(webhook_url, store_path)`` → :func:`b24reports.ingest.sync.sync`
    (incremental, no progress bar); ``render(names, store_path, params, out_dir, formats,
    generated_at)`` → :func:`b24reports.outputs.render.render_all` returning {report: {format:
    Path}}; ``send(message, smtp_settings)`` → :func:`b24reports.outputs.delivery.send_message`."""

    sync: Callable[[str, Path], Any] | None = None
    render: Callable[..., dict[str, dict[str, Path]]] | None = None
    send: Callable[[Any, Any], Any] | None = None


@dataclass(frozen=True)
class EntryJob:
    """Everything a worker needs for one entry (picklable): ``entry``, ``output_dir``,
    ``smtp`` settings (or None), ``as_of`` (None = now), ``generated_at`` (UTC), ``hooks``."""

    entry: Entry
    output_dir: Path
    smtp: Any
    as_of: dt.datetime | None
    generated_at: dt.datetime
    hooks: Hooks = Hooks()
    lock_timeout: float = 3600.0


def _default_sync(webhook_url: str, store: Path) -> Any:
    from b24reports.ingest.sync import sync

    return sync(webhook_url, store, full=False, progress=False)


def _default_render(names: Sequence[str], store: Path, params: Mapping[str, Any], out_dir: Path,
                    formats: Sequence[str], generated_at: dt.datetime) -> dict[str, dict[str, Path]]:
    from b24reports.outputs.render import render_all

    return render_all(store, params, out_dir, formats, generated_at, names=list(names), workers=1, progress=False)


def _default_send(message: Any, smtp: Any) -> Any:
    from b24reports.outputs.delivery import send_message

    return send_message(message, smtp)


@contextmanager
def portal_lock(portal: Portal, timeout: float = 3600.0):
    """Hold the portal's store exclusively: a ``distributed.Lock`` named after the portal when
    running inside a Dask worker (cluster-wide), and a file lock ``<store>.lock`` (threads and
    processes on this machine). Raises ``TimeoutError`` after ``timeout`` seconds."""
    from filelock import FileLock, Timeout

    dlock = None
    try:
        from distributed import Lock, get_worker

        get_worker()
        dlock = Lock(f"b24reports-portal-{portal.name}")
    except (ImportError, ValueError):
        dlock = None
    if dlock is not None and not dlock.acquire(timeout=timeout):
        raise TimeoutError(f"portal {portal.name!r} stayed locked for {timeout:.0f} s")
    try:
        portal.store.parent.mkdir(parents=True, exist_ok=True)
        flock = FileLock(str(portal.store) + ".lock", thread_local=False)
        try:
            flock.acquire(timeout=timeout)
        except Timeout:
            raise TimeoutError(f"store of portal {portal.name!r} stayed locked for {timeout:.0f} s") from None
        try:
            yield
        finally:
            flock.release()
    finally:
        if dlock is not None:
            dlock.release()


def _scrub(text: str, secret: str) -> str:
    if secret:
        text = text.replace(secret, "<webhook>")
        try:
            from b24reports.ingest.auth import Webhook

            text = Webhook(secret).redact(text)
        except Exception:  # noqa: BLE001 -- a malformed URL: the plain replace above is enough
            pass
    return " ".join(str(text).split())


def _step_error(step: str, exc: BaseException, secret: str) -> str:
    return _scrub(f"{step}: {type(exc).__name__}: {exc}", secret)


_FILENAMES = {"html": "report.html", "pdf": "report.pdf", "xlsx": "report.xlsx", "json": "metrics.json"}


def _place(rendered: Mapping[str, Mapping[str, Path]], final_root: Path, day: str,
           reports: Sequence[str] = (), formats: Sequence[str] = ()) -> list[Path]:
    """Move ``<tmp>/<report>/<file>`` into ``<final_root>/<report>/<day>/<file>``; a file of
    an earlier run the same day whose format failed this time is removed (never stale)."""
    placed: list[Path] = []
    for report in dict.fromkeys([*reports, *rendered]):
        files = rendered.get(report, {})
        dest_dir = final_root / report / day
        for fmt in formats:
            old = dest_dir / _FILENAMES.get(fmt, "")
            if fmt not in files and old.is_file():
                old.unlink()
        if not files:
            continue
        dest_dir.mkdir(parents=True, exist_ok=True)
        for _fmt, src in files.items():
            dest = dest_dir / Path(src).name
            os.replace(src, dest)
            placed.append(dest)
    return placed


def run_entry(job: EntryJob) -> EntryResult:
    """Run one entry (sync → render → email); never raises for the entry's own failures.

    Files go to ``<output_dir>/<portal>/<report>/<as_of date>/`` (``report.pdf``,
    ``report.xlsx``, ``report.html``, ``metrics.json``); the files of reports that did render
    stay even when another report or the email failed. Returns an :class:`EntryResult` whose
    ``error`` names the failed step; the webhook URL never appears in it.
    """
    from b24reports.outputs.delivery import build_message, pick_attachments, read_metrics, subject_line, summary_html

    e, t0 = job.entry, time.monotonic()
    res = EntryResult(entry=e.name, portal=e.portal.name, status="ok")
    secret = os.environ.get(e.portal.webhook_env, "")
    hooks = job.hooks
    day = (job.as_of or dt.datetime.now()).date().isoformat()
    portal_out = job.output_dir / e.portal.name
    res.out_dir = str(portal_out)
    params = e.report_params(job.as_of)
    errors: list[str] = []
    placed: list[Path] = []
    docs: list[dict[str, Any]] = []
    # json is always rendered when mailing (cheap: the computed result) for the summary numbers
    fmts = tuple(f for f in FORMATS if f in e.formats or (f == "json" and e.recipients))
    try:
        if not secret:
            raise BadInput(f"environment variable {e.portal.webhook_env} is not set")
        t_lock = time.monotonic()
        with portal_lock(e.portal, job.lock_timeout):
            t_sync = time.monotonic()
            res.timings["lock_wait"] = t_sync - t_lock
            try:
                (hooks.sync or _default_sync)(secret, e.portal.store)
            except SyncIncomplete as ex:  # synced, nothing lost: render and send, but the entry fails
                errors.append(_step_error("sync", ex, secret))
            except Exception as ex:  # noqa: BLE001 -- reported per entry
                raise _StepFailed(_step_error("sync", ex, secret)) from None
            finally:
                res.timings["sync"] = time.monotonic() - t_sync
            t_render = time.monotonic()
            portal_out.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{e.name}-", dir=portal_out))
            try:
                try:
                    rendered = (hooks.render or _default_render)(e.reports, e.portal.store, params, tmp, fmts,
                                                                 job.generated_at)
                except Exception as ex:  # noqa: BLE001
                    rendered = getattr(ex, "outputs", None) or {}
                    errors.append(_step_error("render", ex, secret))
                # metrics.json feeds the email summary; it is kept only when json was asked for
                docs = read_metrics(f for files in rendered.values() for fmt, f in files.items() if fmt == "json")
                if "json" not in e.formats:
                    rendered = {r: {f: p for f, p in files.items() if f != "json"} for r, files in rendered.items()}
                placed = _place(rendered, portal_out, day, e.reports, e.formats)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
                res.timings["render"] = time.monotonic() - t_render
        res.files = [str(p) for p in placed]
        if e.recipients:
            if not placed:
                errors.append("email: not sent, no file was rendered")
            elif job.smtp is None:
                errors.append("email: not sent, no SMTP settings (the schedule was loaded without check_env)")
            else:
                attach = pick_attachments(placed)
                names = [f"{p.parent.parent.name}{p.suffix}" if p.name.startswith("report.") else
                         f"{p.parent.parent.name}-{p.name}" for p in attach]
                period = (params["date_from"], params["date_to"])
                msg = build_message(sender=job.smtp.sender, recipients=e.recipients,
                                    subject=subject_line(e.name, period, e.lang),
                                    html_body=summary_html(e.name, period, docs, lang=e.lang, titles=_titles(e)),
                                    attachments=attach, attachment_names=names)
                t_mail = time.monotonic()
                try:
                    (hooks.send or _default_send)(msg, job.smtp)
                    res.emailed = list(e.recipients)
                except Exception as ex:  # noqa: BLE001
                    errors.append(_step_error("email", ex, secret) + " (files kept)")
                res.timings["email"] = time.monotonic() - t_mail
    except _StepFailed as ex:
        errors.append(str(ex))
    except Exception as ex:  # noqa: BLE001 -- one entry's failure must not stop the others
        errors.append(_step_error("config" if isinstance(ex, BadInput) else "run", ex, secret))
    res.files = [str(p) for p in placed]
    if errors:
        res.status, res.error = "failed", "; ".join(errors)
    res.duration = time.monotonic() - t0
    return res


def _run_entry_after(job: EntryJob, _previous: Any) -> EntryResult:
    """:func:`run_entry` once the previous entry of the same portal is done (a Dask dependency)."""
    return run_entry(job)


class _StepFailed(Exception):
    pass


def _titles(e: Entry) -> dict[str, str]:
    try:
        from b24reports import reports

        return {r: reports.get(r).title.get(e.lang, r) for r in e.reports}
    except Exception:  # noqa: BLE001 -- titles are cosmetic
        return {}


# --------------------------------------------------------------------------- running a schedule


def run_schedule(schedule: Schedule | str | os.PathLike, *, only: str | Sequence[str] | None = None,
                 scheduler: str | None = None, workers: int | None = None, processes: bool = True,
                 as_of: dt.datetime | None = None, now: dt.datetime | None = None, run_all: bool = False,
                 window: dt.timedelta = dt.timedelta(hours=1), hooks: Hooks | None = None, client: Any = None,
                 on_result: Callable[[EntryResult], None] | None = None) -> RunSummary:
    """Validate the schedule (when given a path), then run its due entries in parallel on Dask.

    ``only``: run just these entries (ignores cron). ``scheduler``: address of an existing
    Dask scheduler (``tcp://host:port``); default a ``LocalCluster`` of ``workers`` workers
    (default min(entries, CPUs)), one thread each, ``processes`` (False: threads in this
    process, light for tests). ``client``: an existing ``distributed.Client`` (wins over
    both). ``as_of``: the reports' as_of (portal time, naive; default now) — also the date of
    the output folder and of the period presets. ``now``/``window``/``run_all``: cron
    selection (see :func:`is_due`). ``on_result``: called with each result as it arrives.

    Returns a :class:`RunSummary` (``exit_code`` 1 when an entry failed). Raises
    ``ScheduleFileError`` for an invalid schedule before anything runs.
    """
    t0 = time.monotonic()
    if not isinstance(schedule, Schedule):
        schedule = load_schedule(schedule, only=only)
    elif only:
        wanted = [only] if isinstance(only, str) else list(only)
        schedule = replace(schedule, entries=tuple(schedule.entry(n) for n in wanted))
    now = now or dt.datetime.now()
    results: dict[str, EntryResult] = {}
    todo: list[Entry] = []
    for e in schedule.entries:
        if only or run_all or is_due(e.cron, now, window):
            todo.append(e)
        else:
            results[e.name] = EntryResult(entry=e.name, portal=e.portal.name, status="skipped",
                                          error=f"cron {e.cron!r} not due")
    generated_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    jobs = [EntryJob(e, schedule.output_dir, schedule.smtp, as_of, generated_at, hooks or Hooks()) for e in todo]
    if jobs:
        for r in _run_on_dask(jobs, scheduler=scheduler, workers=workers, processes=processes, client=client,
                              on_result=on_result):
            results[r.entry] = r
    ordered = [results[e.name] for e in schedule.entries if e.name in results]
    return RunSummary(ordered, wall_seconds=time.monotonic() - t0)


def _run_on_dask(jobs: list[EntryJob], *, scheduler: str | None, workers: int | None, processes: bool,
                 client: Any, on_result: Callable[[EntryResult], None] | None) -> Iterable[EntryResult]:
    from distributed import Client, LocalCluster, as_completed

    own_cluster = own_client = None
    try:
        if client is None:
            if scheduler:
                client = own_client = Client(scheduler, timeout="30s")
            else:
                n = workers or max(1, min(len(jobs), os.cpu_count() or 1))
                own_cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                                           dashboard_address=None, silence_logs=logging.ERROR)
                client = own_client = Client(own_cluster)
        # entries of one portal form a chain (each task depends on the previous one of its
        # portal), so no worker sits blocked on a portal lock while other portals wait
        futures: dict[Any, EntryJob] = {}
        last_of_portal: dict[str, Any] = {}
        for j in jobs:
            prev = last_of_portal.get(j.entry.portal.name)
            key = f"b24reports-entry-{j.entry.name}-{time.time_ns()}"
            fut = (client.submit(run_entry, j, key=key, pure=False) if prev is None
                   else client.submit(_run_entry_after, j, prev, key=key, pure=False))
            last_of_portal[j.entry.portal.name] = fut
            futures[fut] = j
        out: list[EntryResult] = []
        for fut in as_completed(futures):
            j = futures[fut]
            try:
                r = fut.result()
            except Exception as ex:  # noqa: BLE001 -- a lost worker, a pickling error
                r = EntryResult(entry=j.entry.name, portal=j.entry.portal.name, status="failed",
                                error=_scrub(f"dask: {type(ex).__name__}: {ex}",
                                             os.environ.get(j.entry.portal.webhook_env, "")))
            if on_result:
                on_result(r)
            out.append(r)
        return out
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
