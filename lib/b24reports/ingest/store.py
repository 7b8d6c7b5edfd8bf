"""The local store: one DuckDB file per portal, tables from :mod:`b24reports.ingest.schema`.

* ``open_store(path, read_only=False)`` / ``Store(path)`` create missing tables (writer).
* ``upsert(table, rows)`` loads a whole batch as one frame and ``INSERT OR REPLACE``s it by
  primary key (fast: one statement per batch, values cast by DuckDB from text).
* ``transaction()``: everything a sync writes for one entity batch (rows, versions, sync
  state) is committed together; DuckDB's WAL makes a kill -9 at any point leave the last
  committed state readable.
* ``portal_info`` key/value, ``sync_state`` per entity, ``sync_runs`` per run.

Default location: ``data/<host>.duckdb`` (:func:`default_store_path`).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from b24reports.core.errors import BadParameter, StoreError, StoreNotSynced
from b24reports.ingest.schema import ALL_TABLES, META_TABLES, TABLES, ddl

#: Primary key column(s) per table, parsed from the DDL.
_COL_RE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s+([A-Z][A-Z0-9_(), \[\]]*?)(\s+PRIMARY KEY)?\s*,?\s*(--.*)?$")


def _parse_ddl(body: str) -> tuple[list[tuple[str, str]], list[str]]:
    cols: list[tuple[str, str]] = []
    pk: list[str] = []
    for line in body.splitlines():
        line = line.split("--")[0].strip().rstrip(",")
        if not line:
            continue
        m = re.match(r"^PRIMARY KEY\s*\(([^)]*)\)$", line)
        if m:
            pk = [c.strip() for c in m[1].split(",")]
            continue
        name, _, rest = line.partition(" ")
        typ = rest.replace("PRIMARY KEY", "").strip()
        if "PRIMARY KEY" in rest:
            pk = [name]
        cols.append((name, typ))
    return cols, pk


SCHEMA: dict[str, tuple[list[tuple[str, str]], list[str]]] = {t: _parse_ddl(b) for t, b in ALL_TABLES.items()}


def columns(table: str) -> list[str]:
    """Column names of a store table, in DDL order. Raises BadParameter for an unknown table."""
    if table not in SCHEMA:
        raise BadParameter("table", table, f"not a store table; known: {', '.join(SCHEMA)}")
    return [c for c, _ in SCHEMA[table][0]]


def primary_key(table: str) -> list[str]:
    """Primary key columns of a store table."""
    columns(table)
    return SCHEMA[table][1]


def default_store_path(portal: str, data_dir: str | Path = "data") -> Path:
    """``data/<host>.duckdb`` for a portal ``scheme://host[:port]`` (port joined with ``_``)."""
    host = re.sub(r"^[a-z]+://", "", portal).strip("/").replace(":", "_")
    if not host or "/" in host:
        raise BadParameter("portal", portal, "expected scheme://host[:port]")
    return Path(data_dir) / f"{host}.duckdb"


def _text(v: Any) -> str | None:
    """A Python value as the text DuckDB casts back to the column type exactly."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(str(int(x)) for x in v) + "]"
    if isinstance(v, float) and v != v:  # NaN
        return None
    return str(v)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


def _micros(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        if v.microsecond == 0:
            return int(v.timestamp()) * 1_000_000  # exact for whole seconds (Bitrix24 sends seconds)
        return (v - _EPOCH) // _US
    if isinstance(v, str):
        return _micros(datetime.fromisoformat(v)) if v.strip() else None
    raise TypeError(f"not a datetime: {type(v).__name__}")


def _column(values: list, typ: str) -> Any:
    """One column for DuckDB: typed where that is fast and exact, else text cast by DuckDB."""
    try:
        kinds = set(map(type, values))
        if typ in ("BIGINT", "INTEGER") and kinds <= {int, type(None)}:
            return pd.array(values, dtype="Int64")
        if typ == "BOOLEAN" and kinds <= {bool, type(None)}:
            return pd.array(values, dtype="boolean")
        if typ == "VARCHAR":
            return pd.array([None if v is None else str(v) for v in values], dtype=object)
        if typ == "TIMESTAMPTZ":
            if kinds <= {datetime, type(None)}:
                return pd.array([None if v is None else (int(v.timestamp()) * 1_000_000
                                                         if v.microsecond == 0 and v.tzinfo else _micros(v))
                                 for v in values], dtype="Int64")
            return pd.array([_micros(v) for v in values], dtype="Int64")
    except (TypeError, ValueError) as e:
        if typ == "TIMESTAMPTZ":
            raise BadParameter("rows", str(e), "a TIMESTAMPTZ column needs datetime values") from None
    return pd.array([_text(v) for v in values], dtype=object)


class Store:
    """A b24reports DuckDB store.

    Args:
        path: the ``.duckdb`` file (parent directories are created for a writer).
        read_only: open without creating tables; fails if the file does not exist.

    Raises:
        StoreError: the file is locked by another process, missing (read_only), or not a
            DuckDB database.
    """

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise StoreError(f"store {self.path} does not exist; run a sync first")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as e:
            msg = str(e)
            if "lock" in msg.lower():
                raise StoreError(f"store {self.path} is in use by another process (a sync running?)") from None
            raise StoreError(f"cannot open store {self.path}: {msg}") from None
        except duckdb.Error as e:
            raise StoreError(f"{self.path} is not a b24reports store: {e}") from None
        self._in_tx = False
        if not read_only:
            for t in ALL_TABLES:
                self.con.execute(ddl(t))
        else:
            have = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            missing = set(META_TABLES) - have
            if missing:
                raise StoreError(f"{self.path} is not a b24reports store (missing {', '.join(sorted(missing))})")

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """``BEGIN``...``COMMIT``; rolls back on any exception. Nested use joins the outer one."""
        if self._in_tx:
            yield self
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield self
        except BaseException:
            self._in_tx = False
            self.con.execute("ROLLBACK")
            raise
        self._in_tx = False
        self.con.execute("COMMIT")

    # ------------------------------------------------------------------ rows
    def _frame(self, table: str, rows: Sequence[dict] | pd.DataFrame) -> pd.DataFrame:
        """Column-wise frame DuckDB reads fast: ints -> Int64, flags -> boolean, datetimes ->
        Int64 microseconds since the epoch (UTC), text -> object; the rest as exact text."""
        cols = columns(table)
        if isinstance(rows, pd.DataFrame):
            extra = set(rows.columns) - set(cols)
            if extra:
                raise BadParameter("rows", sorted(extra), f"not columns of {table}")
            rows = rows.to_dict("records")
        if all(len(r) == len(cols) for r in rows):
            try:  # staged rows carry every column: read them at C speed
                get = operator.itemgetter(*cols)
                cols_values = list(zip(*map(get, rows))) if len(cols) > 1 else [tuple(map(get, rows))]
            except KeyError:
                cols_values = [[r.get(c) for r in rows] for c in cols]
        else:
            cols_values = [[r.get(c) for r in rows] for c in cols]
        data = {c: _column(list(v), typ) for (c, typ), v in zip(SCHEMA[table][0], cols_values)}
        return pd.DataFrame(data)

    def _select_cast(self, table: str, src: str) -> str:
        out = []
        for c, t in SCHEMA[table][0]:
            if t == "TIMESTAMPTZ":
                out.append(f'make_timestamp({src}."{c}") AT TIME ZONE \'UTC\' AS "{c}"')
            else:
                out.append(f'CAST({src}."{c}" AS {t}) AS "{c}"')
        return ", ".join(out)

    def upsert(self, table: str, rows: Sequence[dict] | pd.DataFrame) -> int:
        """Insert or replace ``rows`` (dicts keyed by column; missing keys -> NULL) by primary key.

        Returns the number of rows written. Raises BadParameter for an unknown table/column,
        StoreError if the store is read-only.
        """
        if self.read_only:
            raise StoreError(f"store {self.path} is open read-only")
        if len(rows) == 0:
            return 0
        df = self._frame(table, rows)
        pk = primary_key(table)
        if len(df) != len(df.drop_duplicates(subset=pk, keep="last")):
            df = df.drop_duplicates(subset=pk, keep="last")
        name = f"_in_{table}"
        self.con.register(name, df)
        try:
            verb = "INSERT OR REPLACE" if pk else "INSERT"
            self.con.execute(f"{verb} INTO {table} SELECT {self._select_cast(table, name)} FROM {name}")
        finally:
            self.con.unregister(name)
        return len(df)

    def insert_ignore(self, table: str, rows: Sequence[dict]) -> int:
        """Insert rows whose primary key is not stored yet; returns rows offered."""
        if not rows:
            return 0
        df = self._frame(table, rows).drop_duplicates(subset=primary_key(table), keep="first")
        self.con.register("_ins", df)
        try:
            self.con.execute(f"INSERT OR IGNORE INTO {table} SELECT {self._select_cast(table, '_ins')} FROM _ins")
        finally:
            self.con.unregister("_ins")
        return len(df)

    def ids(self, table: str) -> set[int]:
        """All ids of an entity table."""
        columns(table)
        return {r[0] for r in self.con.execute(f"SELECT id FROM {table}").fetchall()}

    def delete_ids(self, table: str, ids: Iterable[int]) -> int:
        """Delete rows by id; returns how many ids were given."""
        ids = sorted({int(i) for i in ids})
        if not ids:
            return 0
        columns(table)
        df = pd.DataFrame({"id": ids}, dtype="int64")
        self.con.register("_del", df)
        try:
            self.con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM _del)")
        finally:
            self.con.unregister("_del")
        return len(ids)

    def count(self, table: str) -> int:
        """Row count of a table."""
        columns(table)
        return self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]

    def frame(self, table: str) -> pd.DataFrame:
        """A whole table as a pandas frame (for tests and tools; metrics use ``data.Dataset``)."""
        columns(table)
        return self.con.execute(f"SELECT * FROM {table}").df()

    def max_id(self, table: str) -> int:
        """Largest id stored (0 when empty)."""
        columns(table)
        return int(self.con.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchall()[0][0])

    # ------------------------------------------------------------------ deal versions
    def record_deal_versions(self, deal_rows: Sequence[dict], seen_at: datetime) -> int:
        """Add the versions of ``deal_rows`` (staged ``deals`` rows) not seen yet to
        ``deal_versions`` (key: id + DATE_MODIFY) and recompute ``valid_to`` of those deals
        (= the next version's ``valid_from``; NULL for the current one). Returns rows offered."""
        vcols = columns("deal_versions")
        rows = []
        for d in deal_rows:
            vf = d.get("date_modify") or d.get("date_create")
            if vf is None:
                continue
            rows.append({**{c: d.get(c) for c in vcols}, "valid_from": vf, "valid_to": None, "seen_at": seen_at})
        if not rows:
            return 0
        self.insert_ignore("deal_versions", rows)
        df = pd.DataFrame({"id": sorted({int(r["id"]) for r in rows})}, dtype="int64")
        self.con.register("_vid", df)
        try:
            self.con.execute("""
                UPDATE deal_versions AS v SET valid_to = n.next_from
                FROM (SELECT id, valid_from,
                             lead(valid_from) OVER (PARTITION BY id ORDER BY valid_from) AS next_from
                      FROM deal_versions WHERE id IN (SELECT id FROM _vid)) AS n
                WHERE v.id = n.id AND v.valid_from = n.valid_from
                  AND v.valid_to IS DISTINCT FROM n.next_from
            """)
        finally:
            self.con.unregister("_vid")
        return len(rows)

    def close_deal_versions(self, ids: Iterable[int], at: datetime) -> int:
        """Set ``valid_to`` = ``at`` on the current version (``valid_to`` NULL) of deals ``ids``
        (deals the portal no longer has, so their last version ends when a sync saw them gone).
        Returns how many versions were closed."""
        ids = sorted({int(i) for i in ids})
        if not ids:
            return 0
        df = pd.DataFrame({"id": ids}, dtype="int64")
        self.con.register("_gone", df)
        try:
            n = self.con.execute("UPDATE deal_versions SET valid_to = ? WHERE valid_to IS NULL AND id IN (SELECT id FROM _gone)",
                                 [at]).fetchall()[0][0]  # DuckDB returns the rows changed
        finally:
            self.con.unregister("_gone")
        return int(n)

    # ------------------------------------------------------------------ portal_info
    def get_info(self, key: str, default: str | None = None) -> str | None:
        """A ``portal_info`` value (portal, timezone, base_currency, telephony)."""
        r = self.con.execute("SELECT value FROM portal_info WHERE key = ?", [key]).fetchall()
        return r[0][0] if r else default

    def set_info(self, key: str, value: str | None) -> None:
        """Set a ``portal_info`` value."""
        self.con.execute("INSERT OR REPLACE INTO portal_info VALUES (?, ?)", [key, value])

    def delete_info(self, key: str) -> None:
        """Remove a ``portal_info`` value (nothing when absent)."""
        self.con.execute("DELETE FROM portal_info WHERE key = ?", [key])

    def portal_info(self) -> dict[str, str]:
        """All ``portal_info`` as a dict."""
        return dict(self.con.execute("SELECT key, value FROM portal_info").fetchall())

    # ------------------------------------------------------------------ sync_state
    def get_state(self, entity: str) -> dict[str, Any] | None:
        """``sync_state`` row of an entity as a dict, or None before its first complete pass."""
        cur = self.con.execute("SELECT * FROM sync_state WHERE entity = ?", [entity])
        rows = cur.fetchall()
        if not rows:
            return None
        return dict(zip([d[0] for d in cur.description], rows[0]))

    def set_state(self, entity: str, **fields: Any) -> None:
        """Update ``sync_state`` of an entity (``watermark``, ``last_id``, ``last_full_at``);
        fields not given keep their value. ``updated_at`` is set to now."""
        allowed = {"watermark", "last_id", "last_full_at"}
        bad = set(fields) - allowed
        if bad:
            raise BadParameter("fields", sorted(bad), f"sync_state has {sorted(allowed)}")
        old = self.get_state(entity) or {}
        row = {k: fields.get(k, old.get(k)) for k in allowed}
        self.con.execute(
            "INSERT OR REPLACE INTO sync_state VALUES (?, ?, ?, ?, ?)",
            [entity, row["watermark"], row["last_id"], row["last_full_at"], datetime.now(timezone.utc)],
        )

    # ------------------------------------------------------------------ sync_runs
    def start_run(self, mode: str, started_at: datetime) -> int:
        """Insert a ``sync_runs`` row with status 'running'; returns its run_id."""
        run_id = int(self.con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM sync_runs").fetchall()[0][0])
        self.con.execute("INSERT INTO sync_runs (run_id, started_at, status, mode) VALUES (?, ?, 'running', ?)",
                         [run_id, started_at, mode])
        return run_id

    def finish_run(self, run_id: int, *, status: str, finished_at: datetime, requests: int,
                   rows: dict[str, int], warnings: list[str], error: str | None = None) -> None:
        """Close a ``sync_runs`` row."""
        self.con.execute(
            "UPDATE sync_runs SET finished_at = ?, status = ?, requests = ?, rows = ?, warnings = ?, error = ? "
            "WHERE run_id = ?",
            [finished_at, status, requests, json.dumps(rows), json.dumps(warnings, ensure_ascii=False), error, run_id],
        )

    def runs(self) -> pd.DataFrame:
        """``sync_runs`` ordered by run_id."""
        return self.con.execute("SELECT * FROM sync_runs ORDER BY run_id").df()


def check_synced(path: str | Path) -> None:
    """Raise :class:`~b24reports.core.errors.StoreNotSynced` (exit code 2) when the store at ``path``
    cannot give a report because no sync of it completed: the file does not exist, its
    ``sync_runs`` has runs but none with status ``ok`` (a failed first sync, e.g. an expired
    webhook on the very first ``b24reports sync``), or it has no runs, no ``portal_info`` and no
    deals (an empty store). The message is one line: the store path, why, and "run
    `b24reports sync` first". Nothing is deleted: a store with one completed sync passes even
    when later runs failed (its last consistent state stays readable). A file that cannot be
    opened or is not a b24reports store passes too (``Dataset.load`` names that problem)."""
    p = Path(path)
    if not p.exists():
        raise StoreNotSynced(f"store {str(p)!r} does not exist: run `b24reports sync` first")
    try:
        con = duckdb.connect(str(p), read_only=True)
    except duckdb.Error:
        return
    try:
        have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if not {"sync_runs", "portal_info", "deals"} <= have:
            return
        runs = con.execute("SELECT status, error FROM sync_runs ORDER BY run_id").fetchall()
        if any(status == "ok" for status, _ in runs):
            return
        if runs:
            last = " ".join(str(runs[-1][1] or runs[-1][0] or "").split())
            last = last if len(last) <= 160 else last[:157] + "..."
            why = f"the sync failed: {last}" if len(runs) == 1 else f"no sync completed; the last one failed: {last}"
        else:
            empty = (con.execute("SELECT count(*) FROM portal_info").fetchall()[0][0] == 0
                     and con.execute("SELECT count(*) FROM deals").fetchall()[0][0] == 0)
            if not empty:
                return  # data written without run records (older stores, tests): readable
            why = "it is empty, never synced"
    finally:
        con.close()
    raise StoreNotSynced(f"store {str(p)!r} has no data to report ({why}): run `b24reports sync` first")


def open_store(path: str | Path, read_only: bool = False) -> Store:
    """Open (and for a writer, create) a store; see :class:`Store`."""
    return Store(path, read_only=read_only)


__all__ = ["Store", "open_store", "check_synced", "columns", "primary_key", "default_store_path", "TABLES", "META_TABLES"]
