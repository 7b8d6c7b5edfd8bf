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
   the start of the pass and advances only after all the pass's rows are committed;
3. append-only entities by ``>ID`` from the largest stored id: deal and lead stage history
   (crm.stagehistory.list), calls (voximplant.statistic.get, when the webhook has the
   ``telephony`` scope);
4. deletions: with ``full=True`` and every ``id_pass_every`` (default 1 day) an ID-only export
   (select ID) deletes stored rows the portal no longer returns.

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

from .auth import Webhook
from .client import B24Client
from .errors import B24ApiError, B24AuthError, B24ReportsError, BadParameter
from .i18n import count_text
from .staging import STAGERS, Warnings, utc_offset_text
from .store import Store, columns, default_store_path

logger = logging.getLogger(__name__)

#: rows per store transaction (one fast-export HTTP request brings up to 2,500)
FLUSH_ROWS = 2500


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
    status: str                         # 'ok' or 'failed'
    store_path: Path
    portal: str
    started_at: datetime
    finished_at: datetime | None = None
    requests: int = 0
    rows: dict[str, int] = field(default_factory=dict)      # rows written per table
    deleted: dict[str, int] = field(default_factory=dict)   # rows deleted per table
    warnings: list[str] = field(default_factory=list)
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
        """Log one line per synced table: ``deals: 2 500 rows written`` (plural by
        ``i18n.count_text``)."""
        line = f"{table}: {count_text(self.rows.get(table, 0), 'row', 'en')} written"
        if self.deleted.get(table):
            line += f", {count_text(self.deleted[table], 'row', 'en')} deleted"
        self.log(line)

    def fmt_time(self, dt: datetime) -> str:
        """Filter value for a datetime: ISO 8601 with the portal offset."""
        return dt.astimezone(self.tz).isoformat(timespec="seconds")

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
                    for r in c.list_all("user.get", {"sort": "ID", "order": "ASC", "FILTER": {"ACTIVE": active}}):
                        users.setdefault(r.get("ID"), r)
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
    def write(self, spec: EntitySpec, raw: list[dict], **state: Any) -> int:
        staged = self.stage(spec.table, raw)
        with self.s.transaction():
            n = self.s.upsert(spec.table, staged)
            if spec.table == "deals":
                self.s.record_deal_versions(staged, _now())
            if state:
                self.s.set_state(spec.table, **state)
        self.rows[spec.table] = self.rows.get(spec.table, 0) + n
        return n

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
            return False
        raise B24AuthError("insufficient_scope", msg, method=spec.method)

    def sync_mutable(self, spec: EntitySpec) -> set[int] | None:
        """Returns the ids seen when this run made a complete full pass from id 0, else None."""
        state = self.s.get_state(spec.table) or {}
        in_progress = state.get("last_id") is not None
        bar = self.bar(spec.table)
        if self.full or in_progress or state.get("watermark") is None:
            resume = int(state["last_id"]) if in_progress else 0
            if in_progress:
                pass_start = state["watermark"]
                self.log(f"{spec.table}: resuming full pass after id {resume}")
            else:
                pass_start = self.server_now()
                with self.s.transaction():
                    self.s.set_state(spec.table, watermark=pass_start, last_id=0)
            seen: set[int] | None = set() if resume == 0 else None
            for raw in self.pages(spec, start_after=resume):
                last = int(raw[-1][spec.row_id])
                self.write(spec, raw, last_id=last)
                if seen is not None:
                    seen.update(int(r[spec.row_id]) for r in raw)
                bar.update(len(raw))
            with self.s.transaction():
                self.s.set_state(spec.table, watermark=pass_start, last_id=None,
                                 **({"last_full_at": pass_start} if seen is not None else {}))
            bar.close()
            return seen
        pass_start = self.server_now()
        since = state["watermark"] - self.overlap
        flt = {f">={spec.modified}": self.fmt_time(since)}
        for raw in self.pages(spec, filter=flt):
            self.write(spec, raw)
            bar.update(len(raw))
        with self.s.transaction():
            self.s.set_state(spec.table, watermark=pass_start)
        bar.close()
        return None

    def sync_append_only(self, spec: EntitySpec) -> None:
        start = self.s.max_id(spec.table)  # the store is the cursor: resumable per batch
        bar = self.bar(spec.table)
        if start == 0 and not self.s.get_state(spec.table):
            self.s.set_state(spec.table, last_id=0)
        for raw in self.pages(spec, start_after=start):
            self.write(spec, raw, last_id=int(raw[-1][spec.row_id]))
            bar.update(len(raw))
        bar.close()

    def delete_missing(self, spec: EntitySpec, portal_ids: set[int] | None) -> None:
        if portal_ids is None:
            portal_ids = set()
            for raw in self.pages(spec, select=[spec.row_id.upper()]):
                portal_ids.update(int(r[spec.row_id]) for r in raw)
        gone = self.s.ids(spec.table) - portal_ids
        now = self.server_now()
        with self.s.transaction():
            self.s.delete_ids(spec.table, gone)
            if spec.table == "deals":  # the deal's history stays; its last version ends now
                self.s.close_deal_versions(gone, now)
            self.s.set_state(spec.table, last_full_at=now)
        self.deleted[spec.table] = len(gone)
        if gone:
            self.log(f"{spec.table}: deleted {count_text(len(gone), 'row', 'en')} the portal no longer has")

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
        self.s.set_info("portal", self.c.portal)
        telephony = self.has_scope("telephony") and self.scopes is not None
        self.s.set_info("telephony", "yes" if telephony else "no")
        self.sync_dictionaries()
        for spec in MUTABLE + APPEND_ONLY:
            if not self.want(spec.table) or not self.available(spec):
                continue
            try:
                if spec in MUTABLE:
                    seen = self.sync_mutable(spec)
                else:
                    self.sync_append_only(spec)
                    seen = None
                if self.due_id_pass(spec):
                    self.delete_missing(spec, seen)
                self.done(spec.table)
            except B24AuthError as e:
                if not spec.optional:
                    raise
                self.w.add(f"{spec.table} not synced: {e}")
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

    Raises:
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
            report.status = "ok"
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
            report.client_stats = client.stats()
            try:
                store.finish_run(run_id, status=report.status, finished_at=report.finished_at,
                                 requests=report.requests, rows=report.rows, warnings=report.warnings,
                                 error=report.error)
            except Exception:  # never mask the real error
                logger.exception("could not record the sync run")
        emit(f"sync {mode} ok: {count_text(report.requests, 'request', 'en')}, "
             f"{count_text(sum(report.rows.values()), 'row', 'en')} written, "
             f"{count_text(sum(report.deleted.values()), 'row', 'en')} deleted")
        return report
    finally:
        store.close()
        if nothing_written:
            for p in (path, path.with_name(path.name + ".wal")):
                p.unlink(missing_ok=True)
        if own_client:
            client.close()


__all__ = ["sync", "SyncReport", "EntitySpec", "ENTITIES", "MUTABLE", "APPEND_ONLY", "B24ReportsError"]
