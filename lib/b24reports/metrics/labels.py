"""Readable names for key columns (employee, department, project, pipeline, stage, lead
status, source), looked up in the loaded store (``b24reports.ingest.dataset.Dataset``).

Used by the Excel exporter (``render.write_xlsx``) to put a name column right after each
key column; ``metrics.json`` keeps ids only (METRICS.md "Outputs"). Sources:

=================  ==================  =====================================================
key column         name column         Bitrix24 source (store table)
=================  ==================  =====================================================
``employee_id``    ``employee_name``   user.get (``users``: NAME LAST_NAME, else ``#id``)
``responsible_id`` ``employee_name``   user.get (``users``)
``department_id``  ``department_name`` department.get (``departments.name``)
``group_id``       ``group_name``      sonet_group.get (``workgroups.name``)
``pipeline_id``    ``pipeline_name``   crm.category.list (``pipelines.name``)
``stage_id``       ``stage_name``      crm.status.list ENTITY_ID ``DEAL_STAGE[_n]``
``status_id``      ``status_name``     crm.status.list ENTITY_ID ``STATUS`` (lead statuses)
``source_id``      ``source_name``     crm.status.list ENTITY_ID ``SOURCE``
=================  ==================  =====================================================

Stage ids are unique across pipelines (``NEW`` in pipeline 0, ``C2:NEW`` in pipeline 2),
so one ``{STATUS_ID: NAME}`` map per entity serves every pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from b24reports.core.i18n import is_null
from b24reports.metrics.common import user_names

#: key column id -> name column id (both in ``b24reports.core.columns.CATALOG``).
NAME_COLUMNS: dict[str, str] = {
    "employee_id": "employee_name",
    "responsible_id": "employee_name",
    "department_id": "department_name",
    "group_id": "group_name",
    "pipeline_id": "pipeline_name",
    "stage_id": "stage_name",
    "status_id": "status_name",
    "source_id": "source_name",
    # the pipeline report's «было» columns: a stage code and an owner id read as raw values in Excel
    "stage_from": "stage_from_name",
    "employee_from": "employee_from_name",
}


def _frame(ds: Any, table: str):
    frames = getattr(ds, "frames", None) or {}
    return frames.get(table)


def _by_id(df: Any, key: str = "id", name: str = "name") -> dict[Any, str]:
    if df is None or len(df) == 0 or key not in df.columns or name not in df.columns:
        return {}
    out: dict[Any, str] = {}
    for k, n in zip(df[key].tolist(), df[name].tolist()):
        if is_null(k) or not isinstance(n, str) or not n.strip():
            continue
        out[int(k) if not isinstance(k, str) else k] = n
    return out


def _statuses(ds: Any, match) -> dict[Any, str]:
    st = _frame(ds, "statuses")
    if st is None or len(st) == 0:
        return {}
    sel = st[st["entity_id"].astype(str).map(match)]
    return _by_id(sel, "status_id", "name")


def name_maps(ds: Any, lang: str | None = None) -> dict[str, dict[Any, str]]:
    """``{key column id: {raw key value: name}}`` for every column of :data:`NAME_COLUMNS`
    from the Dataset's ``users``, ``departments``, ``workgroups``, ``pipelines`` and
    ``statuses`` tables. Integer keys for ids, str keys for codes; a missing table gives an
    empty map (never an error). With ``lang``, a dismissed employee (user.get ``ACTIVE`` N)
    is named so: «Михайлов Виктор (уволен)» / "… (dismissed)" — his open deals need a new
    owner, not a talk (two fresh readers of issue 20 read him as an active manager)."""
    users = _frame(ds, "users")
    emp: dict[Any, str] = user_names(users) if users is not None and len(users) else {}
    if lang is not None and emp and "active" in users.columns:
        from b24reports.core.i18n import t

        mark = t("dismissed_mark", lang)
        act = users["active"]
        # an unknown flag (NA) is not a dismissal
        gone = {int(u) for u in users.loc[act.notna() & ~act.fillna(True).astype(bool), "id"]}
        emp = {k: f"{v}{mark}" if k in gone else v for k, v in emp.items()}
    stages = _statuses(ds, lambda e: e == "DEAL_STAGE" or e.startswith("DEAL_STAGE_"))
    return {
        "employee_id": emp,
        "responsible_id": emp,
        "employee_from": emp,
        "stage_from": stages,
        "department_id": _by_id(_frame(ds, "departments")),
        "group_id": _by_id(_frame(ds, "workgroups")),
        "pipeline_id": _by_id(_frame(ds, "pipelines")),
        "stage_id": stages,
        "status_id": _statuses(ds, lambda e: e == "STATUS"),
        "source_id": _statuses(ds, lambda e: e == "SOURCE"),
    }


def lookup_name(maps: Mapping[str, Mapping[Any, str]], column_id: str, value: Any) -> str | None:
    """Name of ``value`` of key column ``column_id`` in ``maps`` (:func:`name_maps`), or None
    (null value, unknown id, or not a key column). Accepts ids as int, float or digit str."""
    m = maps.get(column_id)
    if not m or is_null(value):
        return None
    if value in m:
        return m[value]
    try:
        iv = int(value)
    except (TypeError, ValueError):
        return None
    return m.get(iv) if (not isinstance(value, float) or float(iv) == value) else None


def with_name_columns(columns: list[str], maps: Mapping[str, Mapping[Any, str]]) -> list[tuple[str, str | None]]:
    """Export layout: ``[(column id, key column it names or None), ...]`` with a name column
    inserted right after each key column of :data:`NAME_COLUMNS` that has a non-empty map
    (and whose name column is not already in ``columns``)."""
    out: list[tuple[str, str | None]] = []
    added: set[str] = set()
    for c in columns:
        out.append((c, None))
        nc = NAME_COLUMNS.get(c)
        if nc and nc not in columns and nc not in added and maps.get(c):
            out.append((nc, c))
            added.add(nc)
    return out
