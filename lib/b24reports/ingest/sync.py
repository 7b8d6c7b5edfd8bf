"""Sync a Bitrix24 portal into the local DuckDB store: full, incremental, deletions, versions.

``sync(webhook_or_client, store_path)`` runs, in order:

1. dictionaries (small, replaced every run): currencies, pipelines (crm.category.list
   entityTypeId=2; fallback crm.dealcategory.list), statuses (crm.status.list for DEAL_STAGE,
   DEAL_STAGE_{n}, STATUS, SOURCE, DEAL_TYPE), users (user.get, active and inactive),
   departments (department.get), workgroups (sonet_group.get; optional);
2. mutable entities by the fast ID-cursor export (:meth:`B24Client.export`): deals, leads
   (DATE_MODIFY), activities (LAST_UPDATED), tasks (CHANGED_DATE). The first pass is full and
   resumable (``sync_state.last_id`` is its committed cursor); later passes are incremental:
   filter ``>=`` watermark - overlap, paged by ID, upserted. The watermark is the server time at
   the start of the pass and advances only when one verification ``batch`` shows that the
   portal applied the date filter (the newest stored row is found by its own modified time)
   and that no row of the window is missing (the portal's count of rows modified between the
   window's start and the pass's start is not above what the pass received). A misread filter
   is retried in the other date form (``2026-11-30 12:00:00``, remembered per portal), then
   the table is read whole;
3. append-only entities by ``>ID`` from the largest stored id: deal and lead stage history
   (crm.stagehistory.list), calls (voximplant.statistic.get, when the webhook has the
   ``telephony`` scope); the first run and ``--full`` read them from id 0;
4. deletions: with ``full=True`` and every ``id_pass_every`` (default 1 day) an ID-only export
   (select ID) is compared with the portal's own count (one request); on disagreement it is
   read again. Only a pass proven complete deletes freely; otherwise at most
   ``UNPROVEN_DELETE_SHARE`` (1 %) of a table may go, and a larger deletion is refused with a
   warning naming both numbers (:class:`SyncIncomplete`, exit code 3). Rows the portal has and
   the store lacks (restored from the recycle bin) are fetched by id.

An optional entity (tasks, calls, workgroups) whose scope or method the portal lacks is
skipped with a warning and the rest goes on. Dictionaries without an ID cursor are read so that
no row can be skipped: ``user.get`` by ``>ID``, the others again until two reads agree.

Length: ~700 lines, one concern — a run's passes, the proofs that guard their deletions and
watermarks, and its record share one ``_Sync`` state; the split into an ``ingest`` package is
issue 15's.

Each batch of rows (with its deal versions and cursor) is one store transaction, so a sync
cut off at any point (exception or SIGKILL) leaves the last consistent state, and the next
run finishes the job with no row lost or doubled. Every run is recorded in ``sync_runs``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from b24reports.ingest.auth import Webhook
from b24reports.ingest.client import B24Client, as_total
from b24reports.core.errors import B24ApiError, B24AuthError, B24ReportsError, BadParameter, SyncIncomplete
from b24reports.core.i18n import count_text
from b24reports.ingest.staging import STAGERS, Warnings, utc_offset_text
from b24reports.ingest.store import Store, columns, default_store_path

logger = logging.getLogger(__name__)

#: rows per store transaction (one fast-export HTTP request brings up to 2,500)
FLUSH_ROWS = 2500
#: Without a pass proven complete (as many ids as the portal counts), a deletion pass may delete
#: at most this share of a table's stored rows; a larger deletion is refused (exit code 3).
UNPROVEN_DELETE_SHARE = 0.01
#: ids per ``@ID`` request when fetching rows an ID pass found missing from the store
FETCH_BY_ID = 500
#: Date forms of filter values: ISO 8601 with offset, or portal time without it (bitrix24-api.md §6.8).
DATE_FORMATS = ("atom", "portal")
DATE_EXAMPLE = {"atom": "2026-11-30T12:00:00+03:00", "portal": "'2026-11-30 12:00:00' (portal time)"}


@dataclass(frozen=True)
class EntitySpec:
    """How one store table is exported from Bitrix24."""

    table: str
    method: str
    select: tuple[str, ...]
    modified: str | None = None          # filter field of the modified time (mutable entities)
    modified_col: str | None = None      # store column of the modified time
    result_key: str | None = None        # wrapped results (tasks, items)
    row_id: str = "ID"                   # id key in rows
    extra: tuple[tuple[str, Any], ...] = ()
    filter_key: str = "filter"
    select_key: str = "select"
    order: tuple[tuple[str, Any], ...] | None = None
    scope: str = "crm"
    optional: bool = False               # missing scope -> warning instead of failure

    def export_kw(self) -> dict[str, Any]:
        return dict(result_key=self.result_key, row_id_field=self.row_id, extra=dict(self.extra),
                    filter_key=self.filter_key, select_key=self.select_key,
                    order=dict(self.order) if self.order is not None else None)


def _upper(table: str, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(c.upper() for c in columns(table) if c not in skip)


MUTABLE: tuple[EntitySpec, ...] = (
    EntitySpec("deals", "crm.deal.list", _upper("deals"), "DATE_MODIFY", "date_modify"),
    EntitySpec("leads", "crm.lead.list", _upper("leads"), "DATE_MODIFY", "date_modify"),
    EntitySpec("activities", "crm.activity.list", _upper("activities"), "LAST_UPDATED", "last_updated"),
    EntitySpec("tasks", "tasks.task.list", _upper("tasks"), "CHANGED_DATE", "changed_date",
               result_key="tasks", row_id="id", scope="task", optional=True),
)
APPEND_ONLY: tuple[EntitySpec, ...] = (
    EntitySpec("deal_stage_history", "crm.stagehistory.list", _upper("deal_stage_history"),
               result_key="items", extra=(("entityTypeId", 2),)),
    EntitySpec("lead_status_history", "crm.stagehistory.list", _upper("lead_status_history"),
               result_key="items", extra=(("entityTypeId", 1),)),
    EntitySpec("calls", "voximplant.statistic.get", _upper("calls"), filter_key="FILTER", select_key="SELECT",
               order=(("SORT", "ID"), ("ORDER", "ASC")), scope="telephony", optional=True),
)
ENTITIES = {s.table: s for s in MUTABLE + APPEND_ONLY}
STATUS_ENTITY_IDS = ("STATUS", "SOURCE", "DEAL_TYPE", "DEAL_STAGE")


@dataclass
class SyncReport:
    """What one sync run did (also stored in ``sync_runs``)."""

    run_id: int
    mode: str                           # 'full' or 'incremental'
    status: str                         # 'ok', 'incomplete' (see ``unproven``) or 'failed'
    store_path: Path
    portal: str
    started_at: datetime
    finished_at: datetime | None = None
    requests: int = 0
    rows: dict[str, int] = field(default_factory=dict)      # rows written per table
    deleted: dict[str, int] = field(default_factory=dict)   # rows deleted per table
    warnings: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)   # optional table -> why not synced
    unproven: dict[str, str] = field(default_factory=dict)  # table -> why its pass is not shown complete
    error: str | None = None
    client_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Wall time of the run, s."""
        return ((self.finished_at or self.started_at) - self.started_at).total_seconds()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Sync:
    def __init__(self, client: B24Client, store: Store, *, full: bool, progress: bool,
                 log: Callable[[str], None], overlap: timedelta, id_pass: bool | None,
                 id_pass_every: timedelta, entities: set[str] | None):
        self.c, self.s, self.full, self.log = client, store, full, log
        self.progress = progress  # the bars themselves stay off when stderr is not a terminal (bar())
        self.overlap, self.id_pass, self.id_pass_every = overlap, id_pass, id_pass_every
        self.only = entities
        self.w = Warnings()
        self.rows: dict[str, int] = {}
        self.deleted: dict[str, int] = {}
        self.scopes: set[str] | None = None
        self.tz = timezone.utc
        self.seen_offset: str | None = None
        self.date_format = "atom"
        self.unproven: dict[str, str] = {}   # table -> why its pass is not shown complete
        self.skipped: dict[str, str] = {}    # optional table -> why it was not synced

    # ------------------------------------------------------------------ helpers
    def want(self, table: str) -> bool:
        return self.only is None or table in self.only

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def stage(self, table: str, raw_rows: list[dict]) -> list[dict]:
        fn = STAGERS[table]
        out = [fn(r, self.w, self.tz) for r in raw_rows]
        if self.seen_offset is None:
            for r in out:
                for v in r.values():
                    if isinstance(v, datetime) and v.utcoffset() is not None:
                        self.seen_offset = utc_offset_text(v)
                        break
                if self.seen_offset:
                    break
        return out

    def server_now(self) -> datetime:
        return self.c.server_now() or _now()

    def bar(self, table: str) -> tqdm:
        # disable=None: tqdm itself turns the bar off when stderr is not a terminal (a log file
        # gets the per-table lines of :meth:`done` instead of carriage-return updates)
        return tqdm(desc=table, unit=" rows", disable=None if self.progress else True, file=sys.stderr, leave=False)

    def done(self, table: str) -> None:
        """Log one line per synced table: ``deals: 2 500 rows written``, and ``, 1 row deleted
        (no longer on the portal)`` when the pass deleted any (plural by ``i18n.count_text``)."""
        line = f"{table}: {count_text(self.rows.get(table, 0), 'row', 'en')} written"
        if self.deleted.get(table):
            line += f", {count_text(self.deleted[table], 'row', 'en')} deleted (no longer on the portal)"
        self.log(line)

    def fmt_time(self, dt: datetime, fmt: str | None = None) -> str:
        """Filter value for a datetime in the portal's time: ``atom`` = ISO 8601 with the offset
        (``2026-11-30T12:00:00+03:00``), ``portal`` = ``2026-11-30 12:00:00`` (bitrix24-api.md
        §6.8: some portals misread the first). Default: the form this portal was last seen to
        apply (``portal_info['date_filter_format']``)."""
        local = dt.astimezone(self.tz)
        if (fmt or self.date_format) == "portal":
            return local.strftime("%Y-%m-%d %H:%M:%S")
        return local.isoformat(timespec="seconds")

    # ------------------------------------------------------------------ dictionaries
    def replace(self, table: str, rows: list[dict]) -> None:
        with self.s.transaction():
            self.s.con.execute(f"DELETE FROM {table}")
            self.rows[table] = self.s.upsert(table, rows)
        self.done(table)

    def sync_dictionaries(self) -> None:
        c = self.c
        if self.want("currencies"):
            cur = self.stage("currencies", c.list_all("crm.currency.list", {}, id_field="CURRENCY"))
            self.replace("currencies", cur)
            base = [r["currency"] for r in cur if r["base"]]
            if base:
                self.s.set_info("base_currency", base[0])
            else:
                self.w.add("no base currency in crm.currency.list")
        pipelines = self.sync_pipelines() if self.want("pipelines") else [
            r[0] for r in self.s.con.execute("SELECT id FROM pipelines").fetchall()]
        if self.want("statuses"):
            ids = list(STATUS_ENTITY_IDS) + [f"DEAL_STAGE_{p}" for p in pipelines if p]
            rows: list[dict] = []
            for ent in ids:
                rows += c.list_all("crm.status.list", {"filter": {"ENTITY_ID": ent}, "order": {"SORT": "ASC"}},
                                   id_field="ID")
            self.replace("statuses", self.stage("statuses", rows))
        if self.want("users"):
            if self.has_scope("user") or self.has_scope("user_brief") or self.has_scope("user_basic"):
                users: dict[Any, dict] = {}
                for active in (True, False):  # dismissed users too: historical ASSIGNED_BY_IDs resolve
                    # by the >ID cursor: a user deactivated mid-export cannot shift another out
                    for r in c.list_by_id("user.get", {"sort": "ID", "order": "ASC", "FILTER": {"ACTIVE": active}}):
                        users[r.get("ID")] = r  # the inactive list is read last: a user deactivated meanwhile ends inactive
                staged = self.stage("users", list(users.values()))
                with self.s.transaction():  # never delete users: old deals still point at them
                    self.rows["users"] = self.s.upsert("users", staged)
                self.done("users")
            else:
                self.w.add("webhook has no 'user' scope: employees not synced")
        if self.want("departments"):
            if self.has_scope("department"):
                self.replace("departments", self.stage("departments", c.list_all("department.get", {})))
            else:
                self.w.add("webhook has no 'department' scope: departments not synced")
        if self.want("workgroups"):
            try:
                if not self.has_scope("sonet_group"):
                    raise B24AuthError("insufficient_scope", "no sonet_group scope")
                self.replace("workgroups", self.stage("workgroups", c.list_all("sonet_group.get", {})))
            except (B24AuthError, B24ApiError) as e:
                if isinstance(e, B24AuthError) or e.code == "ERROR_METHOD_NOT_FOUND":
                    self.w.add("webhook has no 'sonet_group' scope: workgroup (project) names not synced")
                else:
                    raise

    def sync_pipelines(self) -> list[int]:
        try:
            env = self.c.call("crm.category.list", {"entityTypeId": 2})
            raw = B24Client._unwrap(env.get("result"), "categories", "crm.category.list")
        except B24ApiError as e:
            if isinstance(e, B24AuthError) or e.code not in ("ERROR_METHOD_NOT_FOUND", "NOT_FOUND", ""):
                raise
            raw = self.c.list_all("crm.dealcategory.list", {"order": {"SORT": "ASC"}})
            if not any(str(r.get("ID")) == "0" for r in raw):
                raw = [{"ID": 0, "NAME": "Общая", "SORT": 0, "IS_DEFAULT": "Y"}] + raw
        staged = self.stage("pipelines", raw)
        self.replace("pipelines", staged)
        return [r["id"] for r in staged]

    # ------------------------------------------------------------------ entities
    def write(self, spec: EntitySpec, raw: list[dict], **state: Any) -> list[dict]:
        """Stage and upsert one batch of rows (with deal versions and ``state``) in one store
        transaction; returns the staged rows."""
        staged = self.stage(spec.table, raw)
        with self.s.transaction():
            n = self.s.upsert(spec.table, staged)
            if spec.table == "deals":
                self.s.record_deal_versions(staged, self.server_now())  # the portal's clock, like DATE_MODIFY
            if state:
                self.s.set_state(spec.table, **state)
        self.rows[spec.table] = self.rows.get(spec.table, 0) + n
        return staged

    def pages(self, spec: EntitySpec, *, select=None, filter=None, start_after=0) -> Iterator[list[dict]]:  # noqa: A002
        """Export pages grouped to ~FLUSH_ROWS rows."""
        buf: list[dict] = []
        for page in self.c.export(spec.method, select=list(select or spec.select), filter=filter,
                                  start_after=start_after, **spec.export_kw()):
            buf += page
            if len(buf) >= FLUSH_ROWS:
                yield buf
                buf = []
        if buf:
            yield buf

    def available(self, spec: EntitySpec) -> bool:
        if self.has_scope(spec.scope):
            return True
        msg = f"webhook has no '{spec.scope}' scope: {spec.table} not synced"
        if spec.optional:
            self.w.add(msg)
            self.skipped[spec.table] = f"no '{spec.scope}' scope"
            return False
        raise B24AuthError("insufficient_scope", msg, method=spec.method)

    def list_params(self, spec: EntitySpec, flt: dict | None = None, *, start: int = 0) -> dict:
        """Parameters of one plain list request of ``spec`` (ids only)."""
        order = dict(spec.order) if spec.order is not None else {"order": {"ID": "ASC"}}
        return {**dict(spec.extra), **order, spec.select_key: ["ID"] + ([spec.modified] if spec.modified else []),
                spec.filter_key: dict(flt or {}), "start": start}

    def portal_count(self, spec: EntitySpec) -> int | None:
        """The portal's own count of ``spec``'s rows: ``total`` of one offset page (one
        request). None when the method gives no ``total``."""
        return as_total(self.c.call(spec.method, self.list_params(spec)).get("total"))

    def full_pass(self, spec: EntitySpec, *, ids_only: bool = False, resume: int = 0) -> set[int]:
        """Read every row of ``spec`` by the ID cursor after ``resume``; rows are upserted (the
        cursor committed with each batch, so a cut pass resumes) unless ``ids_only``. Returns
        the ids seen."""
        seen: set[int] = set()
        bar = self.bar(spec.table)
        for raw in self.pages(spec, select=[spec.row_id.upper()] if ids_only else None, start_after=resume):
            if not ids_only:
                self.write(spec, raw, **({"last_id": int(raw[-1][spec.row_id])} if spec in MUTABLE else {}))
            seen.update(int(r[spec.row_id]) for r in raw)
            bar.update(len(raw))
        bar.close()
        return seen

    def proven_pass(self, spec: EntitySpec, read: Callable[[], set[int]]) -> tuple[set[int], int | None, bool]:
        """Run ``read`` (a pass over all rows) and compare the ids it saw with the portal's own
        count, taken right after it; on disagreement read once more. Returns (ids, the portal's
        count, proven): ``proven`` means the last read saw exactly as many rows as the portal
        counts; otherwise the ids are those of both reads (nothing seen once is taken as gone)."""
        seen = read()
        n = self.portal_count(spec)
        if n is None:
            return seen, None, False
        if len(seen) == n:
            return seen, n, True
        self.log(f"{spec.table}: the export returned {count_text(len(seen), 'row', 'en')} but the portal counts "
                 f"{n if n is not None else '(no count)'}; reading it again")
        again = read()
        n = self.portal_count(spec)
        if n is not None and len(again) == n:
            return again, n, True
        return seen | again, n, False

    def incomplete(self, table: str, msg: str) -> None:
        """Record that ``table``'s pass could not be shown complete (exit code 3 at the end)."""
        self.w.add(msg)
        self.unproven[table] = msg
        self.log(f"warning: {msg}")

    def sync_mutable(self, spec: EntitySpec) -> bool:
        """Full (first run, ``--full``, or resuming a cut full pass) or incremental pass of a
        mutable entity. Returns True when this run reconciled deletions itself (a complete full
        pass from id 0), so no separate ID pass is needed."""
        state = self.s.get_state(spec.table) or {}
        in_progress = state.get("last_id") is not None
        if self.full or in_progress or state.get("watermark") is None:
            return self.sync_full(spec, state, in_progress)
        return self.sync_incremental(spec, state)

    def sync_full(self, spec: EntitySpec, state: dict, in_progress: bool) -> bool:
        if in_progress:  # a cut full pass: finish it; the ID pass that follows checks the whole
            resume, pass_start = int(state["last_id"]), state["watermark"]
            self.log(f"{spec.table}: resuming full pass after id {resume}")
            self.full_pass(spec, resume=resume)
            with self.s.transaction():
                self.s.set_state(spec.table, watermark=pass_start, last_id=None)
            return False
        first = state.get("watermark") is None and self.s.count(spec.table) == 0
        pass_start = self.server_now()
        with self.s.transaction():  # a pass cut from here on resumes after its last committed id
            self.s.set_state(spec.table, watermark=pass_start, last_id=0)
        seen, n, proven = self.proven_pass(spec, lambda: self.full_pass(spec))
        if n is not None and len(seen) < n:
            # rows the portal has were not received: an incremental pass would never fetch them,
            # so no watermark, and the next run reads the whole table again
            with self.s.transaction():
                self.s.set_state(spec.table, watermark=None, last_id=None)
            what = "a first sync received" if first else "the full export returned"
            self.incomplete(spec.table, f"{spec.table}: {what} {len(seen)} rows but the portal counts {n}, "
                                        "twice; the next sync reads the whole table again")
        else:
            with self.s.transaction():
                self.s.set_state(spec.table, watermark=pass_start, last_id=None)
        self.delete_missing(spec, seen, n, proven)
        return True

    def sync_incremental(self, spec: EntitySpec, state: dict) -> bool:
        """Rows modified since the watermark (minus the overlap), then one verification request:
        the filter was applied (a probe on the newest stored row), and no row of the window is
        missing (the portal's count of rows modified in [since, pass start)). The watermark moves
        only when both hold; a misread date filter is retried in the other date form, then
        falls back to a full pass."""
        since = state["watermark"] - self.overlap
        tried: list[str] = []
        for fmt in (self.date_format, *[f for f in DATE_FORMATS if f != self.date_format]):
            pass_start = self.server_now()
            got = self.incremental_pass(spec, since, pass_start, fmt)
            applied, window_n = self.verify_window(spec, since, pass_start, fmt)
            tried.append(fmt)
            if applied is False:
                self.log(f"{spec.table}: the portal did not apply the {spec.modified} filter written as "
                         f"{self.fmt_time(since, fmt)!r}; trying the other date form")
                continue
            if fmt != self.date_format:
                self.date_format = fmt
                self.s.set_info("date_filter_format", fmt)
                self.w.add(f"the portal reads date filters only as {DATE_EXAMPLE[fmt]}; b24reports uses that form now")
            if window_n is not None and window_n > got:
                again = self.incremental_pass(spec, since, pass_start, fmt)
                applied, window_n = self.verify_window(spec, since, pass_start, fmt)
                if window_n is not None and window_n > again:
                    self.incomplete(spec.table, f"{spec.table}: the portal counts {window_n} rows modified since "
                                                f"{self.fmt_time(since, 'portal')} but the export returned {again}, "
                                                "twice; the watermark stays, so the next sync reads them again")
                    return False
            with self.s.transaction():
                self.s.set_state(spec.table, watermark=pass_start)
            return False
        self.log(f"{spec.table}: the portal applied the {spec.modified} filter in neither date form "
                 f"({', '.join(tried)}); reading the whole table instead")
        self.w.add(f"{spec.table}: the portal did not apply the {spec.modified} date filter; the table was re-read whole")
        return self.sync_full(spec, state, False)

    def incremental_pass(self, spec: EntitySpec, since: datetime, pass_start: datetime, fmt: str) -> int:
        """Upsert rows with ``modified >= since``; returns how many of them were modified
        before ``pass_start`` (the window the verification counts)."""
        flt = {f">={spec.modified}": self.fmt_time(since, fmt)}
        bar = self.bar(spec.table)
        in_window = 0
        for raw in self.pages(spec, filter=flt):
            staged = self.write(spec, raw)
            in_window += sum(1 for r in staged if r.get(spec.modified_col) is not None
                             and since <= r[spec.modified_col] < pass_start)
            bar.update(len(raw))
        bar.close()
        return in_window

    def verify_window(self, spec: EntitySpec, since: datetime, pass_start: datetime,
                      fmt: str) -> tuple[bool | None, int | None]:
        """One ``batch`` request: (was the date filter applied, the portal's count of rows
        modified in [since, pass_start)). ``applied`` is None when no stored row could serve as
        a probe (an empty table: nothing to compare with). The probe asks for the newest stored
        row with ``modified`` equal to its stored value (both bounds) beside the same row by id
        alone: returned by id but not by date means the date was misread; gone or changed
        since, the next newest row is tried (three at most)."""
        mod = spec.modified_col
        newest = self.s.con.execute(
            f"SELECT id, {mod} FROM {spec.table} WHERE {mod} IS NOT NULL ORDER BY {mod} DESC, id DESC LIMIT 3"
        ).fetchall()
        window = {f">={spec.modified}": self.fmt_time(since, fmt), f"<{spec.modified}": self.fmt_time(pass_start, fmt)}
        applied: bool | None = None
        window_n: int | None = None
        for k, (rid, t) in enumerate(newest or [(None, None)]):
            cmds: dict[str, tuple[str, dict]] = {}
            if k == 0:
                cmds["window"] = (spec.method, self.list_params(spec, window))
            if rid is not None:
                when = self.fmt_time(t, fmt)
                cmds["probe"] = (spec.method, self.list_params(
                    spec, {f">={spec.modified}": when, f"<={spec.modified}": when, "ID": rid}, start=-1))
                cmds["row"] = (spec.method, self.list_params(spec, {"ID": rid}, start=-1))
            br = self.c.batch(cmds, halt=False)
            if k == 0:
                window_n = as_total(br.result_total.get("window"))
            if rid is None:
                return None, window_n
            rows = {int(r[spec.row_id]): r for r in self.c._unwrap(br.result.get("row"), spec.result_key, spec.method)}
            if any(int(r[spec.row_id]) == rid for r in self.c._unwrap(br.result.get("probe"), spec.result_key, spec.method)):
                return True, window_n
            now = rows.get(int(rid))
            # staged apart (a throwaway Warnings): a row of two fields must not add data warnings
            staged = STAGERS[spec.table](now, Warnings(), self.tz) if now is not None else None
            if staged is not None and staged.get(mod) == t:
                applied = False  # the row is there, unchanged, but the date filter did not find it
                break
        return applied, window_n

    def sync_append_only(self, spec: EntitySpec) -> bool:
        """``--full`` and the first run read every row from id 0 (a row restored below the
        stored maximum is found) and reconcile by id; later runs read above the largest stored
        id. Returns True when this run reconciled deletions itself."""
        if self.full or self.s.count(spec.table) == 0:
            if not self.s.get_state(spec.table):
                self.s.set_state(spec.table, last_id=0)
            seen, n, proven = self.proven_pass(spec, lambda: self.full_pass(spec))
            if n is not None and len(seen) < n:
                self.incomplete(spec.table, f"{spec.table}: the export returned {len(seen)} rows but the portal counts "
                                            f"{n}, twice; the next sync reads on from the last stored row")
            self.delete_missing(spec, seen, n, proven)
            return True
        start = self.s.max_id(spec.table)  # the store is the cursor: resumable per batch
        bar = self.bar(spec.table)
        for raw in self.pages(spec, start_after=start):
            self.write(spec, raw, last_id=int(raw[-1][spec.row_id]))
            bar.update(len(raw))
        bar.close()
        return False

    def reconcile_ids(self, spec: EntitySpec) -> None:
        """The periodic deletion check: an ID-only pass, proven against the portal's count;
        rows the portal has but the store lacks (restored from the recycle bin, missed) are
        fetched, rows the store has but the portal no longer does are deleted."""
        seen, n, proven = self.proven_pass(spec, lambda: self.full_pass(spec, ids_only=True))
        missing = sorted(seen - self.s.ids(spec.table))
        for i in range(0, len(missing), FETCH_BY_ID):
            chunk = missing[i:i + FETCH_BY_ID]
            for raw in self.pages(spec, filter={"@ID": chunk}, start_after=chunk[0] - 1):
                self.write(spec, raw)
        if missing:
            self.log(f"{spec.table}: fetched {count_text(len(missing), 'row', 'en')} the store did not have")
        self.delete_missing(spec, seen, n, proven)

    def delete_missing(self, spec: EntitySpec, seen: set[int], n: int | None, proven: bool) -> None:
        """Delete stored rows the portal no longer has. Only a pass proven complete (as many
        ids as the portal counts) may delete any number of rows; without that proof at most
        ``UNPROVEN_DELETE_SHARE`` of the stored rows go, and a larger deletion is refused
        (kept, warned with both numbers, exit code 3)."""
        stored = self.s.ids(spec.table)
        gone = stored - seen
        if not proven and len(gone) > int(len(stored) * UNPROVEN_DELETE_SHARE):
            self.incomplete(spec.table, f"{spec.table}: refused to delete {len(gone)} of {len(stored)} stored rows: "
                                        f"the export returned {len(seen)} rows but the portal counts "
                                        f"{n if n is not None else '(no count)'}; nothing was deleted")
            return
        now = self.server_now()
        with self.s.transaction():
            self.s.delete_ids(spec.table, gone)
            if spec.table == "deals":  # the deal's history stays; its last version ends now
                self.s.close_deal_versions(gone, now)
            self.s.set_state(spec.table, last_full_at=now)
        self.deleted[spec.table] = len(gone)  # told once, in the table's line (done)

    def due_id_pass(self, spec: EntitySpec) -> bool:
        if self.full or self.id_pass:
            return True
        if self.id_pass is False:
            return False
        last = (self.s.get_state(spec.table) or {}).get("last_full_at")
        return last is None or self.server_now() - last >= self.id_pass_every

    # ------------------------------------------------------------------ run
    def run(self) -> None:
        try:
            self.scopes = self.c.scope()
        except B24ApiError as e:
            if isinstance(e, B24AuthError):
                raise
            self.scopes = None  # no `scope` method: try everything, warn on refusals
        if self.scopes is not None and "crm" not in self.scopes:
            raise B24AuthError("insufficient_scope", "the webhook needs the 'crm' scope", method="scope")
        tz = self.s.get_info("timezone")
        if tz:
            self.tz = datetime.strptime(tz.replace(":", ""), "%z").tzinfo
        self.date_format = self.s.get_info("date_filter_format") or "atom"
        self.s.set_info("portal", self.c.portal)
        # a sync reads a live portal: a simulated portal's clock (``b24reports demo`` writes it after
        # its syncs) no longer says when the data is from
        self.s.delete_info("clock")
        telephony = self.has_scope("telephony") and self.scopes is not None
        self.s.set_info("telephony", "yes" if telephony else "no")
        self.sync_dictionaries()
        for spec in MUTABLE + APPEND_ONLY:
            if not self.want(spec.table) or not self.available(spec):
                continue
            try:
                reconciled = self.sync_mutable(spec) if spec in MUTABLE else self.sync_append_only(spec)
                if not reconciled and self.due_id_pass(spec):
                    self.reconcile_ids(spec)
                self.done(spec.table)
            except B24ApiError as e:
                missing = e.code == "ERROR_METHOD_NOT_FOUND"
                if not spec.optional or not (missing or isinstance(e, B24AuthError)):
                    raise
                why = (f"{spec.method} is not available on this portal (ERROR_METHOD_NOT_FOUND)" if missing
                       else f"{spec.method} was refused ({e.code or 'no code'})")
                self.skipped[spec.table] = why
                self.w.add(f"{spec.table} not synced: {why}")
                self.log(f"{spec.table}: skipped, {why}")
            if self.seen_offset and not tz:
                tz = self.seen_offset
                self.s.set_info("timezone", tz)
                self.tz = datetime.strptime(tz.replace(":", ""), "%z").tzinfo


def sync(
    webhook_or_client: str | Webhook | B24Client,
    store_path: str | Path | None = None,
    *,
    full: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | logging.Logger | None = None,
    overlap: timedelta = timedelta(minutes=10),
    id_pass: bool | None = None,
    id_pass_every: timedelta = timedelta(days=1),
    entities: list[str] | None = None,
) -> SyncReport:
    """Sync a portal into its store; returns a :class:`SyncReport` (also in ``sync_runs``).

    Args:
        webhook_or_client: webhook URL, :class:`Webhook` or a ready :class:`B24Client`.
        store_path: DuckDB file; default ``data/<host>.duckdb``.
        full: re-export everything and delete rows the portal no longer has.
        progress: tqdm bars on stderr (only when stderr is a TTY).
        log: a ``logging.Logger`` or ``f(str)`` for progress messages (never the secret).
        overlap: incremental window overlap before the watermark (default 10 min).
        id_pass: True forces the ID-only deletion pass, False skips it, None = every
            ``id_pass_every`` (default 1 day).
        entities: limit to these tables (default all).

    Every pass that may delete rows is first compared with the portal's own count of the
    entity (one request) and read again on disagreement; an incremental watermark moves only
    after one verification request shows that the date filter was applied and no row of the
    window is missing. An optional entity (tasks, calls) whose scope or method the portal lacks
    is skipped with a warning (``SyncReport.skipped``).

    Raises:
        SyncIncomplete: a pass could not be shown complete (a deletion refused, rows the portal
            counts not received twice); everything else was synced and nothing stored was
            lost; ``err.report`` is the :class:`SyncReport` (status 'incomplete'). Exit code 3.
        B24AuthError: webhook refused or without the ``crm`` scope.
        B24ApiError / B24TransportError / B24RateLimitError / B24CursorError: the sync failed;
            everything committed before stays, the run is recorded as 'failed', and the next
            run continues from there.
        BadParameter("entities", ...): unknown table.
        StoreError: the store is locked or unreadable.
    """
    if entities is not None:
        bad = set(entities) - set(ENTITIES) - {"currencies", "pipelines", "statuses", "users", "departments",
                                               "workgroups"}
        if bad:
            raise BadParameter("entities", sorted(bad), "unknown tables")
    own_client = not isinstance(webhook_or_client, B24Client)
    client = webhook_or_client if not own_client else B24Client(
        webhook_or_client if isinstance(webhook_or_client, Webhook) else Webhook(webhook_or_client))
    if isinstance(log, logging.Logger):
        emit = log.info
    elif log is None:
        emit = logger.info
    else:
        emit = log
    if client.on_wait is None:  # a long wait is one line in the same log, terminal or not
        client.on_wait = emit if log is not None else logger.warning
    path = Path(store_path) if store_path else default_store_path(client.portal)
    first = not path.exists()  # a first sync that writes nothing leaves no empty store behind
    store = Store(path)
    started = _now()
    nothing_written = False
    try:
        # runs left 'running' were killed: record that
        store.con.execute("UPDATE sync_runs SET status = 'failed', error = 'interrupted (process killed)' "
                          "WHERE status = 'running'")
        mode = "full" if full or store.get_state("deals") is None else "incremental"
        run_id = store.start_run(mode, started)
        req0 = client.requests
        job = _Sync(client, store, full=full, progress=progress, log=emit, overlap=overlap, id_pass=id_pass,
                    id_pass_every=id_pass_every, entities=set(entities) if entities is not None else None)
        report = SyncReport(run_id=run_id, mode=mode, status="running", store_path=path, portal=client.portal,
                            started_at=started)
        try:
            job.run()
            report.status = "incomplete" if job.unproven else "ok"
        except BaseException as e:
            report.status = "failed"
            msg = client.auth.redact(f"{type(e).__name__}: {e}")
            report.error = msg
            nothing_written = first and not any(job.rows.values())
            raise
        finally:
            report.finished_at = _now()
            report.requests = client.requests - req0
            report.rows, report.deleted, report.warnings = job.rows, job.deleted, list(job.w)
            report.skipped, report.unproven = dict(job.skipped), dict(job.unproven)
            report.client_stats = client.stats()
            try:
                store.finish_run(run_id, status=report.status, finished_at=report.finished_at,
                                 requests=report.requests, rows=report.rows, warnings=report.warnings,
                                 error=report.error)
            except Exception:  # never mask the real error
                logger.exception("could not record the sync run")
        skipped = "".join(f"; skipped {t}: {why}" for t, why in report.skipped.items())
        emit(f"sync {mode} {report.status}: {count_text(report.requests, 'request', 'en')}, "
             f"{count_text(sum(report.rows.values()), 'row', 'en')} written, "
             f"{count_text(sum(report.deleted.values()), 'row', 'en')} deleted{skipped}")
        if report.unproven:
            err = SyncIncomplete("; ".join(report.unproven.values())
                                 + ". Nothing stored was lost. Run `b24reports sync --full` later; if this repeats, "
                                   "the portal's counts and its export disagree (README, \"Your portal\")")
            err.report = report
            raise err
        return report
    finally:
        store.close()
        if nothing_written:
            for p in (path, path.with_name(path.name + ".wal")):
                p.unlink(missing_ok=True)
        if own_client:
            client.close()


__all__ = ["sync", "SyncReport", "EntitySpec", "ENTITIES", "MUTABLE", "APPEND_ONLY", "B24ReportsError"]
