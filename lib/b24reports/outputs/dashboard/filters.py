"""The dimensions a dashboard filters by: the options of each dropdown
(:func:`filter_options`, names from the store) and what a click on a chart point or a table cell
sets (:func:`click_target`)."""

from __future__ import annotations

import datetime as dt
import html as _html
from collections.abc import Mapping
from typing import Any

from b24reports import reports
from b24reports.outputs.dashboard.texts import UI as _UI

#: Filter names of the bar -> report parameter they set (one value each; "" = all).
DIMENSIONS = ("pipelines", "departments", "employees", "stages", "sources", "utm_source", "utm_medium", "utm_campaign",
              "step")


#: Key columns of report tables -> the filter a click on such a cell sets (live tables carry
#: ``data-b24r-key``/``data-b24r-value`` on these cells: ``views.common.table_html(keys=...)``).
KEY_PARAMS = {"employee_id": "employees", "source_id": "sources", "pipeline_id": "pipelines",
              "department_id": "departments", "stage_id": "stages"}


def _isna(v: Any) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


def filter_options(dataset: Any, spec: reports.ReportSpec, lang: str = "ru") -> dict[str, list[tuple[str, str]]]:
    """Choices of each filter the report declares: ``{param: [(label, value), ...]}``, the
    first item ``(All, "")``. Values are strings as a URL would carry them.

    Sources: ``crm.category.list`` (pipelines, by sort), ``department.get`` (departments,
    indented by depth under their parent), ``user.get`` (employees by name, active first),
    ``crm.status.list`` entity ``SOURCE`` plus ``-`` = not set (sources), distinct lead
    UTM values (``crm.lead.list``; deals when the portal has no leads).
    """
    ui = _UI[lang]
    declared = {p.name for p in spec.all_params}
    out: dict[str, list[tuple[str, str]]] = {}
    allv = [(ui["all"], "")]
    if "pipelines" in declared:
        p = dataset.pipelines.sort_values(["sort", "id"], na_position="last")
        out["pipelines"] = allv + [(str(n), str(int(i))) for i, n in zip(p["id"], p["name"])]
    if "departments" in declared:
        d = dataset.departments
        children: dict[Any, list[tuple[int, str, int]]] = {}
        for i, n, par, s in zip(d["id"], d["name"], d["parent"], d["sort"]):
            key = None if _isna(par) else int(par)
            children.setdefault(key, []).append((0 if _isna(s) else int(s), str(n), int(i)))
        ids = {int(i) for i in d["id"]}
        roots = [k for k in children if k is None or k not in ids]
        items: list[tuple[str, str]] = []

        def walk(parent: Any, depth: int) -> None:
            for _s, n, i in sorted(children.get(parent, [])):
                items.append(("\u00a0\u00a0" * depth + n, str(i)))
                walk(i, depth + 1)

        for r in roots:
            walk(r, 0)
        out["departments"] = allv + items
    if "employees" in declared:
        from b24reports.metrics.common import user_names

        u = dataset.users
        names = user_names(u)
        rows = sorted(((_isna(a) or not bool(a), names[int(i)], int(i)) for i, a in zip(u["id"], u["active"])))
        out["employees"] = allv + [(f"{name} ({ui['dismissed']})" if inactive else name, str(i)) for inactive, name, i in rows]
    if "sources" in declared:
        st = dataset.statuses
        src = st[st["entity_id"].astype(str) == "SOURCE"].sort_values(["sort", "status_id"], na_position="last")
        out["sources"] = allv + [(str(n), str(c)) for c, n in zip(src["status_id"], src["name"])] + [(ui["not_set"], "-")]
    if "stages" in declared:
        from b24reports.metrics.common import pipeline_stages

        st = pipeline_stages(dataset)
        pnames = dict(zip(dataset.pipelines["id"], dataset.pipelines["name"]))
        many = st["pipeline_id"].nunique() > 1
        out["stages"] = allv + [((f"{pnames.get(p, p)} · {n}" if many else str(n)), str(sid))
                                for p, sid, n in zip(st["pipeline_id"], st["stage_id"], st["name"])]
    if "step" in declared:  # a waterfall step (pipeline report): its deals
        out["step"] = allv + [(by_lang.get(lang) or by_lang["en"], k) for k, by_lang in _step_labels().items()]
    for tag in ("utm_source", "utm_medium", "utm_campaign"):
        if tag in declared:
            frame = dataset.leads if len(dataset.leads) else dataset.deals
            vals = sorted({str(x) for x in frame[tag].dropna() if str(x).strip()}) if tag in frame.columns else []
            out[tag] = allv + [(v, v) for v in vals]
    return out


def _step_labels() -> dict[str, dict[str, str]]:
    """Waterfall steps a click or the filter bar can pick (``texts.VALUE_LABELS['step']`` without
    the start and end totals)."""
    from b24reports.core.texts import VALUE_LABELS

    return {k: v for k, v in VALUE_LABELS.get("step", {}).items() if k not in ("start", "end")}


def click_target(point_values: list[Any], labels: Mapping[str, Mapping[Any, str]],
                 declared: set[str]) -> tuple[str, str] | None:
    """What a click on a chart point refilters to: ``(param, value)`` or ``None``.

    ``point_values``: the point's x, y, trace name, customdata items and text, in that order.
    A value equal to a manager's display name (``labels['employee_id']``) or to an employee
    id given as customdata gives ``('employees', id)``; a lead source name
    (``labels['source_id']``) gives ``('sources', code)`` when the report declares
    ``sources``; a month (a date/Timestamp or ``YYYY-MM``/``YYYY-MM-DD`` string) gives
    ``('month', 'YYYY-MM-01')`` (drill down to that month).
    """
    emp = {str(v): k for k, v in (labels.get("employee_id") or {}).items()}
    src = {str(v): k for k, v in (labels.get("source_id") or {}).items()}
    stage_ids = {str(k) for k in (labels.get("stage_id") or {})}
    by_stage_name: dict[str, list[str]] = {}
    for k, v in (labels.get("stage_id") or {}).items():
        by_stage_name.setdefault(str(v), []).append(str(k))
    # chart text is entity-escaped (views.common.escape_figure_text)
    texts = [_html.unescape(str(v)) for v in point_values if v is not None]
    for s in texts:
        if "employees" in declared and s in emp:
            return "employees", str(emp[s])
        if "sources" in declared and s in src:
            return "sources", str(src[s])
    if "step" in declared:  # a waterfall step id (customdata): list that step's deals
        for s in texts:
            if s in _step_labels():
                return "step", s
    if "stages" in declared:  # a stage id (customdata) first, else a stage name used by one stage only
        for s in texts:
            if s in stage_ids:
                return "stages", s
        for s in texts:
            if len(by_stage_name.get(s, ())) == 1:
                return "stages", by_stage_name[s][0]
    for v in point_values[:1]:  # a month is only taken from the x axis
        if isinstance(v, dt.date):
            return "month", v.replace(day=1).isoformat() if not isinstance(v, dt.datetime) else v.date().replace(day=1).isoformat()
        if isinstance(v, str) and len(v) >= 7 and v[4:5] == "-" and v[:4].isdigit() and v[5:7].isdigit():
            return "month", f"{v[:7]}-01"
    return None
