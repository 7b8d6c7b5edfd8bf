"""The store's tables as typed pandas frames in portal time: what every metric reads.

``Dataset.load(store_path)`` reads a DuckDB store written by :mod:`b24reports.ingest.sync`;
``Dataset.from_frames(...)`` builds one from small hand-made frames (tests, notebooks). Both
give every table of :mod:`b24reports.ingest.schema` with the schema's columns and these dtypes:

============================  =========================================
schema type                   pandas dtype
============================  =========================================
BIGINT / INTEGER              ``Int64``
VARCHAR                       ``object`` (``None`` for missing)
DECIMAL                       ``float64``
BOOLEAN                       ``boolean``
TIMESTAMPTZ                   ``datetime64[ns, <portal UTC offset>]``
DATE                          ``datetime64[ns]`` (naive midnight: a calendar date)
BIGINT[] / JSON               ``object``
============================  =========================================
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from pathlib import Path

import pandas as pd

from b24reports.core.errors import StoreError
from b24reports.ingest.schema import ALL_TABLES, TABLES

T = TypeVar("T")

#: Tables a Dataset carries (entities plus deal versions).
DATASET_TABLES: tuple[str, ...] = (*TABLES.keys(), "deal_versions")


def _columns(ddl_body: str) -> dict[str, str]:
    """Parse a DDL column list of :mod:`schema` into ``{column: SQL type}``."""
    body = re.sub(r"--[^\n]*", "", ddl_body)
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    cols: dict[str, str] = {}
    for p in parts:
        p = p.strip()
        if not p or p.upper().startswith("PRIMARY KEY"):
            continue
        name, sqltype = p.split(None, 1)
        cols[name] = sqltype.replace("PRIMARY KEY", "").strip().upper()
    return cols


#: ``{table: {column: SQL type}}`` for every store table.
COLUMNS: dict[str, dict[str, str]] = {t: _columns(b) for t, b in ALL_TABLES.items()}


def parse_offset(text: str | None) -> dt.tzinfo:
    """``'+03:00'`` → fixed-offset tzinfo. ``None``/empty → UTC.

    Raises ``ValueError`` naming the text when it is not ``±HH:MM``.
    """
    if not text:
        return dt.timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text.strip())
    if not m:
        raise ValueError(f"timezone {text!r} is not an offset like +03:00")
    sign = 1 if m.group(1) == "+" else -1
    return dt.timezone(sign * dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))


def format_offset(tz: dt.tzinfo) -> str:
    """Fixed-offset tzinfo → ``'+03:00'``."""
    off = dt.datetime(2000, 1, 1, tzinfo=tz).utcoffset() or dt.timedelta(0)
    total = int(off.total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{sign}{total // 60:02d}:{total % 60:02d}"


def coerce_frame(table: str, df: pd.DataFrame | None, tz: dt.tzinfo) -> pd.DataFrame:
    """Give ``df`` exactly the schema columns of ``table`` with the dtypes of this module.

    Missing columns are added empty; extra columns are kept at the end. Naive timestamps are
    read as portal time (``tz``); aware ones are converted to it. Strings in DATE/TIMESTAMPTZ
    columns are parsed. Raises ``KeyError`` for an unknown table.
    """
    cols = COLUMNS[table]
    df = pd.DataFrame(columns=list(cols)) if df is None else df.copy()
    out = {}
    n = len(df)
    for col, sqltype in cols.items():
        s = df[col] if col in df.columns else pd.Series([None] * n, index=df.index, dtype="object")
        out[col] = _coerce_series(s, sqltype, tz)
    for col in df.columns:
        if col not in cols:
            out[col] = df[col]
    return pd.DataFrame(out, index=df.index).reset_index(drop=True)


def _coerce_series(s: pd.Series, sqltype: str, tz: dt.tzinfo) -> pd.Series:
    if sqltype in ("BIGINT", "INTEGER"):
        return pd.to_numeric(s, errors="coerce").astype("Int64")
    if sqltype.startswith("DECIMAL") or sqltype in ("DOUBLE", "FLOAT"):
        return pd.to_numeric(s, errors="coerce").astype("float64")
    if sqltype == "BOOLEAN":
        return s.astype("boolean")
    if sqltype == "TIMESTAMPTZ":
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            return s.dt.tz_convert(tz).dt.as_unit("ns")
        if not len(s) or s.isna().all():
            return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]").dt.tz_convert(tz)
        try:
            parsed = pd.to_datetime(s, errors="coerce", format="mixed")
        except ValueError:  # mixed UTC offsets: read each as an instant
            parsed = pd.to_datetime(s, errors="coerce", utc=True, format="mixed")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            return parsed.dt.tz_convert(tz).dt.as_unit("ns")
        return parsed.dt.tz_localize(tz).dt.as_unit("ns")
    if sqltype == "DATE":
        parsed = pd.to_datetime(s, errors="coerce", format="mixed") if len(s) else pd.to_datetime(s)
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
        return parsed.dt.normalize().dt.as_unit("ns")
    if sqltype == "VARCHAR":
        return s.astype("object").where(s.notna(), None)
    return s.astype("object")


def _fresh(value: Any) -> Any:
    """A copy of a cached value safe to hand out: frames/Series shallow (copy-on-write),
    tuples, lists and dicts element-wise, anything else as is."""
    if isinstance(value, pd.DataFrame | pd.Series):
        return value.copy(deep=False)
    if isinstance(value, tuple):
        return tuple(_fresh(v) for v in value)
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, set):
        return set(value)
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def memoized(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator for ``fn(ds: Dataset, *args, **kwargs)`` whose result depends only on the
    dataset and hashable arguments: caches it with :meth:`Dataset.memo`."""

    @functools.wraps(fn)
    def wrapper(ds: "Dataset", *args: Any, **kwargs: Any) -> T:
        key = (fn.__module__, fn.__qualname__, args, tuple(sorted(kwargs.items())))
        return ds.memo(key, lambda: fn(ds, *args, **kwargs))

    return wrapper


@dataclass
class Dataset:
    """Every store table as a typed frame (see module docstring), plus portal facts.

    Attributes named as the store tables: ``deals``, ``leads``, ``deal_stage_history``,
    ``lead_status_history``, ``activities``, ``calls``, ``tasks``, ``users``, ``departments``,
    ``workgroups``, ``pipelines``, ``statuses``, ``currencies``, ``deal_versions``.
    ``portal`` is ``scheme://host`` (never the webhook path), ``timezone`` the portal's UTC
    offset, ``base_currency`` the portal's base currency, ``warnings`` data-quality warnings
    found on load, ``telephony`` whether call statistics were synced, ``visibility`` what a
    viewer may open when this dataset was cut to their Bitrix24 rights
    (:func:`b24reports.ingest.visibility.restrict`; ``None``: the whole store). ``clock``: the
    portal's own "now" when the store is of a simulated portal (``portal_info`` key ``clock``,
    written by ``b24reports demo``: its portal lives at noon of its day, not at the machine's
    time), the default ``as_of`` of every report on it; ``None`` for a real portal (now).
    """

    frames: dict[str, pd.DataFrame]
    portal: str = ""
    timezone: dt.tzinfo = dt.timezone.utc
    base_currency: str = "RUB"
    telephony: bool = False
    warnings: list[str] = field(default_factory=list)
    visibility: Any = None
    clock: dt.datetime | None = None
    _memo: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False, compare=False)

    #: Most derived frames kept by :meth:`memo` (least recently used dropped first).
    MEMO_SIZE: ClassVar[int] = 32

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, cached on this dataset under ``key`` (a hashable tuple naming the
        function and its arguments besides the dataset).

        Used for the facts every filter of a report shares (``metrics.facts.deal_facts``,
        ``lead_facts``, ``activity_facts``): a live dashboard recomputes a report on every filter
        change, and on a 100k-deal portal these take most of the time. A Dataset is treated as
        read-only once built: change its frames and cached results go stale (build a new one).
        Frames come back as shallow copies (pandas copy-on-write), so a caller that adds or
        changes a column does not change the cache; lists are copied.
        """
        memo = self._memo
        if key in memo:
            memo.move_to_end(key)
        else:
            memo[key] = compute()
            while len(memo) > self.MEMO_SIZE:
                memo.popitem(last=False)
        return _fresh(memo[key])

    def __getattr__(self, name: str) -> pd.DataFrame:
        frames = self.__dict__.get("frames", {})
        if name in frames:
            return frames[name]
        raise AttributeError(name)

    @classmethod
    def from_frames(
        cls,
        *,
        portal: str = "https://demo.bitrix24.ru",
        timezone: str | dt.tzinfo = "+03:00",
        base_currency: str | None = None,
        telephony: bool | None = None,
        **frames: pd.DataFrame,
    ) -> "Dataset":
        """Build a Dataset from frames named as store tables (missing ones are empty).

        Frames may hold only the columns a test needs; the rest are added empty. Raises
        ``KeyError`` naming an unknown table.
        """
        tz = parse_offset(timezone) if isinstance(timezone, str) else timezone
        unknown = set(frames) - set(DATASET_TABLES)
        if unknown:
            raise KeyError(f"unknown tables: {sorted(unknown)}")
        coerced = {t: coerce_frame(t, frames.get(t), tz) for t in DATASET_TABLES}
        if base_currency is None:
            cur = coerced["currencies"]
            base = cur.loc[cur["base"].fillna(False).astype(bool), "currency"]
            base_currency = str(base.iloc[0]) if len(base) else "RUB"
        if telephony is None:
            telephony = len(coerced["calls"]) > 0
        return cls(frames=coerced, portal=portal, timezone=tz, base_currency=base_currency, telephony=telephony)

    @classmethod
    def load(cls, store_path: str | Path) -> "Dataset":
        """Read every table of a b24reports DuckDB store (read-only).

        Raises ``StoreError`` when the file is missing, is not a b24reports store, or holds
        no completed sync (e.g. the first sync failed): reports never show a half-synced portal
        as if it were complete. After one completed sync, a later failed run leaves the last
        consistent state readable.
        """
        import duckdb

        path = Path(store_path)
        if not path.exists():
            raise StoreError(f"store {str(path)!r} does not exist: run `b24reports sync` (or `b24reports demo`) first")
        try:
            con = duckdb.connect(str(path), read_only=True)
        except Exception as exc:  # locked, not a DuckDB file, ...
            raise StoreError(f"store {str(path)!r} cannot be opened: {exc}") from exc
        try:
            con.execute("SET TimeZone = 'UTC'")
            have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if "deals" not in have or "portal_info" not in have:
                raise StoreError(f"store {str(path)!r} is not a b24reports store (no deals/portal_info tables)")
            if "sync_runs" in have:
                runs = con.execute("SELECT status, error FROM sync_runs ORDER BY run_id").fetchall()
                if runs and not any(status == "ok" for status, _ in runs):
                    last_error = runs[-1][1] or runs[-1][0]
                    raise StoreError(
                        f"store {str(path)!r} has no completed sync (last run: {last_error}); "
                        "run `b24reports sync` until it completes"
                    )
            info = dict(con.execute("SELECT key, value FROM portal_info").fetchall())
            tz = parse_offset(info.get("timezone"))
            frames = {}
            for t in DATASET_TABLES:
                if t not in have:
                    frames[t] = coerce_frame(t, None, tz)
                    continue
                frames[t] = coerce_frame(t, con.execute(f"SELECT * FROM {t} ORDER BY ALL").df(), tz)
        finally:
            con.close()
        ds = cls(
            frames=frames,
            portal=info.get("portal", ""),
            timezone=tz,
            base_currency=info.get("base_currency") or "RUB",
            telephony=info.get("telephony") == "yes",
            clock=_clock(info.get("clock"), tz),
        )
        return ds


def _clock(value: str | None, tz: dt.tzinfo) -> dt.datetime | None:
    """``portal_info['clock']`` (ISO datetime; naive: portal time ``tz``) as an aware datetime;
    None when absent or not a datetime."""
    if not value:
        return None
    try:
        c = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return c if c.tzinfo else c.replace(tzinfo=tz)
