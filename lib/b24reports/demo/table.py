"""Columnar, thread-safe tables of the demo portal, and the Bitrix24 list-query engine over them.

Rows are kept column by column (numpy arrays, one per field) so a portal of 1,000,000
activities fits in memory and a filtered page costs a few vectorised comparisons; only the
page served is turned into Bitrix24 wire dicts (:meth:`Table.query`).

Column kinds (how a value is stored -> how it goes on the wire):

* ``int``   int64, :data:`NULL` = empty -> ``"123"`` (string) or ``None``
* ``num``   int64 -> ``123`` (JSON number; crm.stagehistory.list, SORT of department.get)
* ``str``   object (``str`` or ``None``) -> as is
* ``dt``    int64 unix seconds, :data:`NULL` = empty -> ``"2025-01-31T10:00:00+03:00"`` or
  ``""`` (legacy methods) / ``None`` (tasks, stage history)
* ``yn``    bool -> ``"Y"`` / ``"N"``
* ``bool``  bool -> ``true`` / ``false`` (user.get ``ACTIVE``)
* ``money`` float64, NaN = empty -> ``"1500.00"`` or ``""``
* ``raw``   object -> as is (lists such as ``UF_DEPARTMENT``, dicts such as ``EXTRA``)

Mutations replace whole column arrays under a lock (copy on write), so readers that took
a snapshot never see a half-applied change.

Length: ~550 lines, one concern: a columnar table and the Bitrix24 list-query engine over it
(filters with their prefixes, order, select, paging); the query parser and the column store
share the type coercions, so they stay together.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

#: Portal time zone of the demo portal (Moscow, no DST).
TZ = dt.timezone(dt.timedelta(hours=3))
#: Sentinel of an empty ``int``/``dt``/``num`` value.
NULL = np.iinfo(np.int64).min
#: Fixed page size of Bitrix24 classic list methods.
PAGE_SIZE = 50


class QueryError(Exception):
    """A list query the portal refuses: HTTP 400 with ``code`` and ``description``."""

    def __init__(self, code: str, description: str, status: int = 400):
        self.code, self.description, self.status = code, description, status
        super().__init__(f"{code}: {description}")


def fmt_dt(ts: int) -> str:
    """Unix seconds -> ISO-8601 string in portal time (``+03:00``)."""
    return dt.datetime.fromtimestamp(int(ts), TZ).isoformat()


_DT_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")


def parse_dt(value: Any) -> int | None:
    """Datetime filter value -> unix seconds, or ``None`` when it is not a datetime.

    Accepts ISO-8601 with an offset (``2025-01-31T10:00:00+03:00``, ``...Z``), portal-time
    ``2025-01-31 10:00:00`` / ``2025-01-31T10:00:00`` (no offset = portal time, as Bitrix24
    reads it), a bare date ``2025-01-31`` (portal midnight), ``dd.mm.yyyy [hh:mm:ss]`` (the
    portal's display format) and ``datetime``/``date`` objects.
    """
    if isinstance(value, dt.datetime):
        d = value if value.tzinfo else value.replace(tzinfo=TZ)
        return int(d.timestamp())
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=TZ).timestamp())
    if not isinstance(value, str):
        return None
    s = value.strip()
    m = re.match(r"^(\d{2})\.(\d{2})\.(\d{4})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?$", s)
    if m:
        d_, mo, y, hh, mi, ss = m.groups()
        s = f"{y}-{mo}-{d_}" + (f" {hh}:{mi}:{ss or '00'}" if hh else "")
    m = _DT_RE.match(s)
    if not m:
        return None
    y, mo, d_, hh, mi, ss, off = m.groups()
    tz = TZ
    if off:
        if off == "Z":
            tz = dt.timezone.utc
        else:
            off = off.replace(":", "")
            sign = -1 if off[0] == "-" else 1
            tz = dt.timezone(sign * dt.timedelta(hours=int(off[1:3]), minutes=int(off[3:5])))
    try:
        d = dt.datetime(int(y), int(mo), int(d_), int(hh or 0), int(mi or 0), int(ss or 0), tzinfo=tz)
    except ValueError:
        return None
    return int(d.timestamp())


def php_intval(value: Any) -> int:
    """PHP ``intval``: leading integer of a string (``"12abc"`` -> 12, ``""`` -> 0),
    1 for a non-empty array/dict, 0 for an empty one."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float):
        return int(value)
    if isinstance(value, (list, tuple, dict)):
        return 1 if value else 0
    m = re.match(r"^\s*([+-]?\d+)", str(value))
    return int(m.group(1)) if m else 0


_OPS = ("!><", "><", ">=", "<=", "!=", "!@", "!%", "@", ">", "<", "=", "!", "%", "?")


def split_op(key: str) -> tuple[str, str]:
    """``">=DATE_MODIFY"`` -> (``">="``, ``"DATE_MODIFY"``); no prefix -> ``"="``."""
    for op in _OPS:
        if key.startswith(op):
            return op, key[len(op):]
    return "=", key


@dataclass(frozen=True)
class Field:
    """One column: internal ``name`` (UPPER_CASE), ``kind`` (see module doc) and its wire name."""

    name: str
    kind: str
    wire: str


class Table:
    """A columnar entity table with Bitrix24 list semantics.

    ``fields``: ordered ``{NAME: kind}``; ``data``: ``{NAME: sequence}`` of equal lengths in
    storage (ID ascending) order. ``wire_names`` maps internal names to the names sent on
    the wire (tasks: camelCase); ``empty_dt`` is what an empty ``dt`` becomes (``""`` for
    legacy CRM methods, ``None`` elsewhere); ``default_order`` e.g. ``[("ID", True)]``.
    """

    def __init__(
        self,
        name: str,
        fields: dict[str, str],
        data: dict[str, Iterable[Any]],
        *,
        wire_names: dict[str, str] | None = None,
        empty_dt: str | None = "",
        default_order: list[tuple[str, bool]] | None = None,
        aliases: dict[str, str] | None = None,
    ):
        self.name = name
        wire_names = wire_names or {}
        self.fields = {f: Field(f, k, wire_names.get(f, f)) for f, k in fields.items()}
        self.empty_dt = empty_dt
        self.default_order = default_order or [("ID", True)]
        self._lookup: dict[str, str] = {}
        for f in self.fields.values():
            self._lookup[f.name.upper()] = f.name
            self._lookup[f.wire.upper()] = f.name
        for alias, target in (aliases or {}).items():
            self._lookup[alias.upper()] = target
        self._lock = threading.RLock()
        self._cols = {f: to_array(self.fields[f].kind, data[f]) for f in self.fields}
        lens = {len(c) for c in self._cols.values()}
        if len(lens) > 1:
            raise ValueError(f"table {name}: columns of different lengths {sorted(lens)}")
        ids = self._cols["ID"]
        if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
            order = np.argsort(ids, kind="stable")
            self._cols = {f: c[order] for f, c in self._cols.items()}
        self._max_id = int(ids.max()) if len(ids) else 0

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._cols["ID"])

    def column(self, name: str) -> np.ndarray:
        """The stored array of one field (read-only snapshot; do not mutate)."""
        return self._cols[name]

    def snapshot(self) -> dict[str, np.ndarray]:
        """All columns as they are now (arrays are never mutated in place)."""
        return self._cols

    def resolve(self, name: str, *, what: str) -> str | None:
        """Internal field name for a client-given name (case-insensitive, wire or UPPER)."""
        return self._lookup.get(str(name).upper())

    def rows(self, idx: Iterable[int] | None = None, select: list[str] | None = None,
             cols: dict[str, np.ndarray] | None = None) -> list[dict]:
        """Rows at storage positions ``idx`` (default all) as wire dicts; ``cols``: the
        snapshot the positions refer to (default the current one)."""
        cols = self._cols if cols is None else cols
        if idx is None:
            idx = np.arange(len(cols["ID"]))
        idx = np.asarray(list(idx) if not isinstance(idx, np.ndarray) else idx, dtype=np.int64)
        names = select or list(self.fields)
        wires = [self.fields[f].wire for f in names]
        values = [self._wire_column(f, cols[f][idx]) for f in names]
        return [dict(zip(wires, vals)) for vals in zip(*values)] if len(idx) else []

    def _wire_column(self, f: str, a: np.ndarray) -> list:
        """Wire values of one field for an array of stored values (vectorised per kind)."""
        kind = self.fields[f].kind
        if kind == "int":
            return [None if v == NULL else str(v) for v in a.tolist()]
        if kind == "num":
            return [None if v == NULL else v for v in a.tolist()]
        if kind == "dt":
            null = a == NULL
            text = (np.where(null, 0, a) + 3 * 3600).astype("datetime64[s]").astype(str).tolist()
            empty = self.empty_dt
            return [empty if n else t + "+03:00" for t, n in zip(text, null.tolist())]
        if kind == "yn":
            return ["Y" if v else "N" for v in a.tolist()]
        if kind == "bool":
            return [bool(v) for v in a.tolist()]
        if kind == "money":
            return ["" if v != v else f"{v:.2f}" for v in a.tolist()]
        return a.tolist()

    def query(
        self,
        filter: dict | None = None,
        order: dict | list | None = None,
        select: list | None = None,
        start: int = 0,
        page_size: int = PAGE_SIZE,
        allow: Callable[[dict], np.ndarray] | None = None,
    ) -> tuple[list[dict], int | None, int | None]:
        """One Bitrix24 list page: (rows, total, next).

        ``filter``: ``{"[op]FIELD": value}`` with ops ``= ! != > >= < <= @ !@ >< !>< % !%``
        (list value with ``=``/``!`` means IN / NOT IN; with a comparison, OR over the
        elements, each coerced like PHP ``intval`` for integer fields; an empty list drops
        the condition). ``order``: ``{FIELD: "ASC"|"DESC"}``. ``select``: field names,
        ``"*"`` or empty = all; ``ID`` is always returned. ``start`` >= 0: offset paging,
        ``total`` = all matches, ``next`` = start+50 while rows remain; ``start`` = -1: the
        first 50 matches, ``total`` = 0, ``next`` = None (no COUNT). ``allow``: a predicate
        over the column snapshot giving the rows the caller may read (the viewer's rights);
        the others are invisible to filter, total and paging alike.
        Raises :class:`QueryError` (``INVALID_ARG_VALUE``) for unknown fields or bad values.
        """
        cols = self._cols
        ids = cols["ID"]
        lo, hi = 0, len(ids)
        conds = []
        for key, value in (filter or {}).items():
            op, fname = split_op(str(key))
            if fname.upper() in ("LOGIC",):
                continue
            f = self.resolve(fname, what="filter")
            if f is None:
                raise QueryError("INVALID_ARG_VALUE", f"Invalid filter: field '{fname}' is not allowed in filter")
            if f == "ID" and op in (">", ">=", "<", "<=") and not isinstance(value, (list, dict)) \
                    and value not in (None, ""):
                # IDs are stored ascending: a range on ID is a binary search, not a scan
                v = php_intval(value)
                if op in (">", ">="):
                    lo = max(lo, int(np.searchsorted(ids, v, side="right" if op == ">" else "left")))
                else:
                    hi = min(hi, int(np.searchsorted(ids, v, side="left" if op == "<" else "right")))
                continue
            conds.append((f, op, value, fname))
        hi = max(lo, hi)
        mask = np.ones(hi - lo, dtype=bool)
        for f, op, value, fname in conds:
            cond = self._condition(cols[f][lo:hi], self.fields[f].kind, op, value, fname)
            if cond is not None:
                mask &= cond
        if allow is not None:
            mask &= np.asarray(allow(cols), dtype=bool)[lo:hi]
        idx = np.flatnonzero(mask) + lo
        keys = self._order_keys(order)
        if keys == [("ID", True)]:
            pass  # storage order is ID ascending
        elif keys == [("ID", False)]:
            idx = idx[::-1]
        else:
            sort_cols = []
            for f, asc in reversed(keys + [("ID", True)]):
                c = cols[f][idx]
                c = _sortable(c, self.fields[f].kind)
                sort_cols.append(c if asc else _negate(c))
            idx = idx[np.lexsort(sort_cols)]
        if start is None:
            start = 0
        start = int(start)
        if start < 0:
            page = idx[:page_size]
            total, nxt = 0, None
        else:
            page = idx[start:start + page_size]
            total = int(len(idx))
            nxt = start + page_size if start + page_size < total else None
        return self.rows(page, self._select(select), cols), total, nxt

    def count(self, filter: dict | None = None) -> int:
        """Number of rows matching ``filter`` (what a COUNT(*) would scan)."""
        rows, total, _ = self.query(filter, None, ["ID"], start=0, page_size=0)
        return int(total or 0)

    def _select(self, select: Any) -> list[str]:
        if isinstance(select, dict):
            select = list(select.values())
        if isinstance(select, str):
            select = [select]
        if not select or "*" in select:
            return list(self.fields)
        names = ["ID"]
        for s in select:
            f = self.resolve(s, what="select")
            if f is not None and f not in names:
                names.append(f)
        return names

    def _order_keys(self, order: Any) -> list[tuple[str, bool]]:
        if not order:
            return list(self.default_order)
        items = order.items() if isinstance(order, dict) else [(o, "ASC") for o in order]
        keys = []
        for fname, direction in items:
            f = self.resolve(fname, what="order")
            d = str(direction).upper()
            if f is None:
                raise QueryError("INVALID_ARG_VALUE", f"Invalid order: field '{fname}' is not allowed in order")
            if d not in ("ASC", "DESC"):
                raise QueryError("INVALID_ARG_VALUE", f"Invalid order: allowed sort directions are ASC, DESC. But got '{direction}' for field '{fname}'")
            keys.append((f, d == "ASC"))
        return keys

    def _condition(self, col: np.ndarray, kind: str, op: str, value: Any, fname: str) -> np.ndarray | None:
        if isinstance(value, dict):
            value = list(value.values())
        if op in ("><", "!><"):
            if not isinstance(value, list) or len(value) != 2:
                raise QueryError("INVALID_ARG_VALUE", f"Invalid filter: field '{fname}' has invalid value")
            lo, hi = (self._coerce(kind, v, fname) for v in value)
            c = (col >= lo) & (col <= hi) & _notnull(col, kind)
            return ~c if op == "!><" else c
        if op in ("@", "!@"):
            vals = value if isinstance(value, list) else [v for v in str(value).split(",")]
            c = self._isin(col, kind, vals, fname)
            return ~c if op == "!@" else c
        if op in ("%", "!%", "?"):
            needle = str(value).lower()
            c = np.fromiter((needle in str(x).lower() if x is not None else False for x in col), bool, len(col))
            return ~c if op == "!%" else c
        if isinstance(value, list):
            if op in ("=", "!", "!="):
                c = self._isin(col, kind, value, fname)
                return c if op == "=" else ~c
            if not value:
                return None  # an empty array condition is dropped: matches everything
            out = np.zeros(len(col), bool)
            for v in value:
                if isinstance(v, (list, dict)):
                    if kind not in ("int", "num"):
                        continue
                    v = php_intval(v)
                c = self._condition(col, kind, op, v, fname)
                out |= c if c is not None else True
            return out
        if value is None or (isinstance(value, str) and value == "" and kind not in ("str",)):
            if op == "=":
                return ~_notnull(col, kind)
            if op in ("!", "!="):
                return _notnull(col, kind)
            return None
        if kind == "raw":
            c = np.fromiter((_raw_eq(x, value) for x in col), bool, len(col))
            return c if op == "=" else ~c if op in ("!", "!=") else None
        v = self._coerce(kind, value, fname)
        if kind == "str":
            col = np.where(col == None, "", col)  # noqa: E711
        if op == "=":
            return col == v
        if op in ("!", "!="):
            return col != v
        nn = _notnull(col, kind)
        if op == ">":
            return (col > v) & nn
        if op == ">=":
            return (col >= v) & nn
        if op == "<":
            return (col < v) & nn
        if op == "<=":
            return (col <= v) & nn
        raise QueryError("INVALID_ARG_VALUE", f"Invalid filter: operation '{op}' for field '{fname}'")

    def _isin(self, col, kind, vals, fname):
        if kind == "raw":
            return np.fromiter((any(_raw_eq(x, v) for v in vals) for x in col), bool, len(col))
        cv = [self._coerce(kind, v, fname) for v in vals if v is not None and not (isinstance(v, (list, dict)))]
        if kind == "str":
            col = np.where(col == None, "", col)  # noqa: E711
            return np.isin(col.astype(object), np.array(cv, dtype=object))
        return np.isin(col, np.array(cv, dtype=col.dtype))

    @staticmethod
    def _coerce(kind: str, value: Any, fname: str):
        if kind in ("int", "num"):
            return php_intval(value)
        if kind == "dt":
            ts = parse_dt(value)
            if ts is None:
                raise QueryError("INVALID_ARG_VALUE", f"Invalid filter: field '{fname}' has invalid value")
            return ts
        if kind in ("yn", "bool"):
            return str(value).upper() in ("Y", "TRUE", "1") or value is True
        if kind == "money":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise QueryError("INVALID_ARG_VALUE", f"Invalid filter: field '{fname}' has invalid value") from None
        return str(value)

    # ------------------------------------------------------------------ mutating
    def next_id(self) -> int:
        """Largest ID + 1 (IDs are never reused)."""
        return self._max_id + 1

    def append(self, row: dict[str, Any]) -> int:
        """Append one row (internal names, wire or native values); returns its ID."""
        with self._lock:
            row = {self.resolve(k, what="add") or k: v for k, v in row.items()}
            unknown = [k for k in row if k not in self.fields]
            if unknown:
                raise KeyError(f"table {self.name}: unknown field(s) {unknown}")
            if row.get("ID") in (None, ""):
                row["ID"] = self.next_id()
            new = {}
            for f, fld in self.fields.items():
                v = to_array(fld.kind, [row.get(f)])
                new[f] = np.concatenate([self._cols[f], v]) if fld.kind != "raw" and fld.kind != "str" else _obj_concat(self._cols[f], v)
            new_id = int(new["ID"][-1])
            if new_id in set(self._cols["ID"][self._cols["ID"] == new_id].tolist()):
                raise KeyError(f"table {self.name}: ID {new_id} exists")
            self._max_id = max(new_id, self._max_id)
            if len(self) and new_id <= int(self._cols["ID"][-1]):
                order = np.argsort(new["ID"], kind="stable")
                new = {f: c[order] for f, c in new.items()}
            self._cols = new
            return new_id

    def update(self, id_: int, fields: dict[str, Any]) -> None:
        """Set fields of the row with ``ID == id_``; KeyError when absent."""
        with self._lock:
            pos = self.position(id_)
            new = dict(self._cols)
            for k, v in fields.items():
                f = self.resolve(k, what="update")
                if f is None:
                    raise KeyError(f"table {self.name}: unknown field {k!r}")
                c = new[f].copy()
                c[pos] = to_array(self.fields[f].kind, [v])[0]
                new[f] = c
            self._cols = new

    def delete(self, id_: int) -> None:
        """Remove the row with ``ID == id_``; KeyError when absent."""
        with self._lock:
            pos = self.position(id_)
            keep = np.ones(len(self), bool)
            keep[pos] = False
            self._cols = {f: c[keep] for f, c in self._cols.items()}

    def position(self, id_: int, cols: dict[str, np.ndarray] | None = None) -> int:
        """Storage position of the row with ``ID == id_`` (in ``cols``, default the current
        snapshot); KeyError when absent."""
        ids = (self._cols if cols is None else cols)["ID"]
        pos = int(np.searchsorted(ids, int(id_)))
        if pos >= len(ids) or ids[pos] != int(id_):
            raise KeyError(f"table {self.name}: no row with ID {id_}")
        return pos

    def get(self, id_: int) -> dict:
        """One row (wire dict) by ID."""
        cols = self._cols
        return self.rows([self.position(id_, cols)], cols=cols)[0]


def _obj_concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(len(a) + len(b), dtype=object)
    out[: len(a)] = a
    out[len(a):] = b
    return out


def _raw_eq(x: Any, v: Any) -> bool:
    if isinstance(x, list):
        return any(str(e) == str(v) for e in x)
    return str(x) == str(v)


def _notnull(col: np.ndarray, kind: str) -> np.ndarray:
    if kind in ("int", "num", "dt"):
        return col != NULL
    if kind == "money":
        return ~np.isnan(col)
    if kind in ("str", "raw"):
        return np.fromiter((x is not None and x != "" for x in col), bool, len(col))
    return np.ones(len(col), bool)


def _sortable(c: np.ndarray, kind: str) -> np.ndarray:
    if kind in ("str", "raw"):
        return np.array(["" if x is None else str(x) for x in c])
    return c


def _negate(c: np.ndarray) -> np.ndarray:
    if c.dtype.kind in "iuf":
        return -c.astype(np.float64) if c.dtype.kind != "f" else -c
    if c.dtype.kind == "b":
        return ~c
    # strings: rank then negate
    _, inv = np.unique(c, return_inverse=True)
    return -inv


def to_array(kind: str, values: Iterable[Any]) -> np.ndarray:
    """Values (wire strings, native numbers, datetimes, None) -> the stored array of ``kind``."""
    if isinstance(values, np.ndarray) and kind in ("int", "num", "dt") and values.dtype == np.int64:
        return values
    if isinstance(values, np.ndarray) and kind in ("yn", "bool") and values.dtype == bool:
        return values
    if isinstance(values, np.ndarray) and kind == "money" and values.dtype == np.float64:
        return values
    values = list(values)
    if kind in ("int", "num"):
        return np.array([NULL if v is None or v == "" else php_intval(v) for v in values], dtype=np.int64)
    if kind == "dt":
        out = []
        for v in values:
            if v is None or v == "":
                out.append(NULL)
            elif isinstance(v, (int, np.integer)):
                out.append(int(v))
            else:
                ts = parse_dt(v)
                if ts is None:
                    raise ValueError(f"not a datetime: {v!r}")
                out.append(ts)
        return np.array(out, dtype=np.int64)
    if kind in ("yn", "bool"):
        return np.array([v is True or str(v).upper() in ("Y", "TRUE", "1") for v in values], dtype=bool)
    if kind == "money":
        return np.array([np.nan if v is None or v == "" else float(v) for v in values], dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
