"""The schedule file (``params/schedule.yaml``): its model (:class:`Schedule`, :class:`Entry`,
:class:`Portal`), and its validation before anything runs (:func:`load_schedule`): an unknown key,
report, preset, format or language, a bad cron line, a missing environment variable → one
:class:`~b24reports.core.errors.ScheduleFileError` listing every problem as
``<file>:<line>: entry '<name>': <what>``. :func:`is_due` says whether an entry's cron line is due.
Running the entries is :mod:`b24reports.outputs.schedule`.
"""


from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from b24reports.core.errors import B24ReportsError, BadInput, ScheduleFileError
from b24reports.core.i18n import LANGS, plural
from b24reports.ingest.visibility import SEES
from b24reports.reports.presets import PRESETS, preset_period


#: Formats an entry may render (``outputs.render`` exporters).
FORMATS: tuple[str, ...] = ("html", "pdf", "xlsx", "json")

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_EMAIL_RE = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TOP_KEYS = {"version", "output_dir", "store_dir", "smtp", "portals", "defaults", "entries"}
_PORTAL_KEYS = {"webhook_env", "store"}
_DEFAULT_KEYS = {"period", "formats", "lang", "recipients", "params", "sees"}
_ENTRY_KEYS = {"name", "portal", "reports", "period", "formats", "lang", "recipients", "cron", "params", "enabled", "sees"}
_USER_KEYS = {"user", "sees"}



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
class UserRecipient:
    """A recipient who is a Bitrix24 user (``- user: 12`` under ``recipients``): ``user_id``,
    ``sees`` (``own`` | ``department`` | ``all``, or None = by the portal's structure: the
    head of a department sees it with its sub-departments, anyone else their own records).
    The address is the user's ``EMAIL`` (store, else ``user.get``); the files are cut to what
    the user sees (``ingest.visibility.structure_visibility``)."""

    user_id: int
    sees: str | None = None


@dataclass(frozen=True)
class Entry:
    """One scheduled job: ``name``, ``portal`` (:class:`Portal`), ``reports`` (names),
    ``period`` (a preset of :data:`b24reports.reports.presets.PRESETS`), ``formats``, ``lang``,
    ``recipients`` (email addresses; empty = render only), ``cron`` (5-field cron line or
    None = every run), ``params`` (extra report parameters, handed to the reports that
    declare them), ``line`` (line of the entry in the schedule file), ``users`` (Bitrix24-user
    recipients, :class:`UserRecipient`: each gets a message of their own with files cut to
    their records; ``recipients`` get the whole store)."""

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
    users: tuple[UserRecipient, ...] = ()

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
        entry_sees, spath = get("sees")
        if entry_sees is not None and entry_sees not in SEES:
            probs.add(spath, f"sees {entry_sees!r}: use one of {', '.join(SEES)}", name)
        recipients: list[str] = []
        users: list[UserRecipient] = []
        for j, r in enumerate(_as_list(raw_rcpt)):
            rpath_j = rcpath + (j,) if rcpath[-1] == "recipients" else rcpath
            if isinstance(r, dict):
                bad_k = [k for k in r if k not in _USER_KEYS]
                uid, sees = r.get("user"), r.get("sees", entry_sees)
                if bad_k:
                    probs.add(rpath_j, f"recipient: unknown key(s) {', '.join(map(repr, bad_k))}; "
                              f"known: {', '.join(sorted(_USER_KEYS))}", name)
                elif isinstance(uid, bool) or not isinstance(uid, int) or uid <= 0:
                    probs.add(rpath_j, f"recipient user {uid!r} is not a Bitrix24 user id (a positive integer)", name)
                elif sees is not None and sees not in SEES:
                    probs.add(rpath_j, f"recipient user {uid}: sees {sees!r}: use one of {', '.join(SEES)}", name)
                else:
                    users.append(UserRecipient(uid, sees))
                continue
            r = str(r).strip()
            if not _EMAIL_RE.fullmatch(r):
                probs.add(rcpath, f"recipient {r!r} is not an email address", name)
            recipients.append(r)

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
                                 recipients=tuple(recipients), cron=cron, params=params, line=lines.get(epath, 0),
                                 users=tuple(users)))
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
        if any(e.recipients or e.users for e in entries):
            try:
                smtp = SmtpSettings.resolve(doc.get("smtp"), env)
            except BadInput as ex:
                first = next(e for e in entries if e.recipients or e.users)
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
