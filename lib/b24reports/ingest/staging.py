"""Staging: raw Bitrix24 rows (dicts as the REST API sends them) -> typed store rows.

One function per entity, named ``stage_<table>``; each takes a raw row and a
:class:`Warnings` collector and returns a dict whose keys are exactly the columns of that
table in :mod:`b24reports.ingest.schema`. This is the only module that knows payload quirks:

* ids/numbers come as strings (``"37"``) -> ``int``; ``""``/``None`` -> ``None``;
* ``"Y"``/``"N"`` (and JSON booleans) -> ``bool``;
* ISO 8601 datetimes with the portal offset -> tz-aware ``datetime`` (instant kept);
* date-only fields (CLOSEDATE, BEGINDATE) -> ``date``: the calendar date as sent, never
  shifted (``2024-08-30T02:00:00+02:00`` -> 2024-08-30);
* money -> ``Decimal``; empty OPPORTUNITY -> ``None`` plus a data-quality warning;
* tasks.task.list camelCase keys (``responsibleId``) -> snake_case columns;
* crm.status.list ``EXTRA.SEMANTICS`` (process/success/failure/apology) or ``SEMANTICS``
  (null/S/F) -> ``'P'``/``'S'``/``'F'``;
* user.get ``UF_DEPARTMENT`` -> ``list[int]``.

A value that cannot be parsed becomes ``None`` with a warning naming entity, id and field;
a row without a valid id raises :class:`~b24reports.core.errors.B24ApiError`
(``ERROR_UNEXPECTED_ANSWER``). Source: /work/shared/bitrix24-api.md section 4.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from b24reports.core.errors import B24ApiError


class Warnings:
    """Data-quality warnings collected while staging (deduplicated, order kept)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._seen: set[str] = set()

    def add(self, msg: str) -> None:
        if msg not in self._seen:
            self._seen.add(msg)
            self.items.append(msg)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


# ----------------------------------------------------------------------------- scalar parsers
def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def to_int(v: Any) -> int | None:
    """``"37"``/``37``/``"37.0"`` -> 37; ``""``/``None`` -> None. Raises ValueError otherwise."""
    if _empty(v):
        return None
    if isinstance(v, bool):
        raise ValueError(f"not an integer: {v!r}")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if v != int(v):
            raise ValueError(f"not an integer: {v!r}")
        return int(v)
    s = str(v).strip()
    if re.fullmatch(r"[+-]?\d+(\.0*)?", s):
        return int(s.split(".")[0])
    raise ValueError(f"not an integer: {v!r}")


def to_bool(v: Any) -> bool | None:
    """``"Y"``/``"N"``, ``true``/``false``, ``"1"``/``"0"`` -> bool; empty -> None."""
    if _empty(v):
        return None
    if isinstance(v, bool):
        return v
    s = str(v).strip().upper()
    if s in ("Y", "TRUE", "1"):
        return True
    if s in ("N", "FALSE", "0"):
        return False
    raise ValueError(f"not a Y/N flag: {v!r}")


def to_decimal(v: Any) -> Decimal | None:
    """``"1000000.00"``/``19000`` -> Decimal; empty -> None."""
    if _empty(v):
        return None
    if isinstance(v, bool):
        raise ValueError(f"not a number: {v!r}")
    try:
        d = Decimal(str(v).strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"not a number: {v!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a number: {v!r}")
    return d


def to_datetime(v: Any, default_tz: timezone = timezone.utc) -> datetime | None:
    """ISO 8601 (``2024-09-02T18:37:18+02:00``; also ``2024-09-02 18:37:18``) -> tz-aware
    datetime. A value without offset gets ``default_tz``. Empty -> None."""
    if _empty(v):
        return None
    s = str(v).strip()
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO datetime: {v!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    return dt


def to_date(v: Any) -> date | None:
    """Date-only field: the calendar date as sent (``2024-08-30T02:00:00+02:00`` ->
    2024-08-30), never converted between zones. Empty -> None."""
    if _empty(v):
        return None
    s = str(v).strip()
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})", s)
    if not m:
        m2 = re.match(r"^(\d{2})\.(\d{2})\.(\d{4})", s)  # dd.mm.yyyy (ru locale)
        if not m2:
            raise ValueError(f"not a date: {v!r}")
        return date(int(m2[3]), int(m2[2]), int(m2[1]))
    return date(int(m[1]), int(m[2]), int(m[3]))


def to_str(v: Any) -> str | None:
    """Text; ``""``/``None`` -> None."""
    if _empty(v):
        return None
    return str(v)


def to_int_list(v: Any) -> list[int]:
    """``[1, "2"]``/``"3"``/``"1,2"`` -> list of ints; empty -> []."""
    if _empty(v) or v is False:
        return []
    if isinstance(v, dict):
        v = list(v.values())
    if not isinstance(v, (list, tuple)):
        v = str(v).split(",")
    return [i for i in (to_int(x) for x in v) if i is not None]


# ----------------------------------------------------------------------------- row helper
class _Row:
    """Reads fields of one raw row, turning parse failures into warnings."""

    def __init__(self, raw: dict, entity: str, warnings: Warnings, id_key: str = "ID",
                 default_tz: timezone = timezone.utc):
        if not isinstance(raw, dict):
            raise B24ApiError("ERROR_UNEXPECTED_ANSWER", f"{entity}: row is not an object: {type(raw).__name__}")
        self.raw, self.entity, self.w, self.tz = raw, entity, warnings, default_tz
        try:
            self.id = to_int(raw.get(id_key))
        except ValueError:
            self.id = None
        if self.id is None and id_key:
            raise B24ApiError("ERROR_UNEXPECTED_ANSWER", f"{entity}: row without a valid {id_key}: {raw.get(id_key)!r}")

    def get(self, *keys: str) -> Any:
        for k in keys:
            if k in self.raw:
                return self.raw[k]
        return None

    def _conv(self, fn: Callable[[Any], Any], keys: tuple[str, ...]) -> Any:
        v = self.get(*keys)
        try:
            return fn(v)
        except ValueError as e:
            self.w.add(f"{self.entity} {self.id}: field {keys[0]}: {e}; stored as empty")
            return None

    def int(self, *k: str) -> int | None:
        return self._conv(to_int, k)

    def str(self, *k: str) -> str | None:
        return self._conv(to_str, k)

    def bool(self, *k: str) -> bool | None:
        return self._conv(to_bool, k)

    def dec(self, *k: str) -> Decimal | None:
        return self._conv(to_decimal, k)

    def dt(self, *k: str) -> datetime | None:
        return self._conv(lambda v: to_datetime(v, self.tz), k)

    def date(self, *k: str) -> date | None:
        return self._conv(to_date, k)


def _user_id(v: int | None) -> int | None:
    """User-id fields use 0 for "nobody"."""
    return None if not v else v


def _semantic(v: str | None) -> str | None:
    return v.upper() if v else None


# ----------------------------------------------------------------------------- entities
def stage_deal(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """crm.deal.list row -> ``deals`` row. Empty OPPORTUNITY -> None and a warning by id."""
    r = _Row(raw, "deal", w, default_tz=tz)
    opp = r.dec("OPPORTUNITY")
    if opp is None:
        w.add(f"deal {r.id}: empty OPPORTUNITY (counted as 0)")
    return {
        "id": r.id, "title": r.str("TITLE"), "type_id": r.str("TYPE_ID"),
        "category_id": r.int("CATEGORY_ID") or 0, "stage_id": r.str("STAGE_ID"),
        "stage_semantic_id": _semantic(r.str("STAGE_SEMANTIC_ID")),
        "opportunity": opp, "currency_id": r.str("CURRENCY_ID"), "probability": r.int("PROBABILITY"),
        "assigned_by_id": _user_id(r.int("ASSIGNED_BY_ID")), "created_by_id": _user_id(r.int("CREATED_BY_ID")),
        "date_create": r.dt("DATE_CREATE"), "date_modify": r.dt("DATE_MODIFY"), "moved_time": r.dt("MOVED_TIME"),
        "begindate": r.date("BEGINDATE"), "closedate": r.date("CLOSEDATE"), "closed": r.bool("CLOSED"),
        "lead_id": r.int("LEAD_ID") or None, "company_id": r.int("COMPANY_ID") or None,
        "contact_id": r.int("CONTACT_ID") or None, "source_id": r.str("SOURCE_ID"),
        "utm_source": r.str("UTM_SOURCE"), "utm_medium": r.str("UTM_MEDIUM"),
        "utm_campaign": r.str("UTM_CAMPAIGN"), "utm_content": r.str("UTM_CONTENT"), "utm_term": r.str("UTM_TERM"),
        "is_return_customer": r.bool("IS_RETURN_CUSTOMER"), "last_activity_time": r.dt("LAST_ACTIVITY_TIME"),
    }


def stage_lead(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """crm.lead.list row -> ``leads`` row."""
    r = _Row(raw, "lead", w, default_tz=tz)
    return {
        "id": r.id, "title": r.str("TITLE"), "name": r.str("NAME"), "last_name": r.str("LAST_NAME"),
        "company_title": r.str("COMPANY_TITLE"), "status_id": r.str("STATUS_ID"),
        "status_semantic_id": _semantic(r.str("STATUS_SEMANTIC_ID")), "source_id": r.str("SOURCE_ID"),
        "source_description": r.str("SOURCE_DESCRIPTION"), "opportunity": r.dec("OPPORTUNITY"),
        "currency_id": r.str("CURRENCY_ID"), "assigned_by_id": _user_id(r.int("ASSIGNED_BY_ID")),
        "created_by_id": _user_id(r.int("CREATED_BY_ID")), "date_create": r.dt("DATE_CREATE"),
        "date_modify": r.dt("DATE_MODIFY"), "date_closed": r.dt("DATE_CLOSED"), "moved_time": r.dt("MOVED_TIME"),
        "company_id": r.int("COMPANY_ID") or None, "contact_id": r.int("CONTACT_ID") or None,
        "utm_source": r.str("UTM_SOURCE"), "utm_medium": r.str("UTM_MEDIUM"),
        "utm_campaign": r.str("UTM_CAMPAIGN"), "utm_content": r.str("UTM_CONTENT"), "utm_term": r.str("UTM_TERM"),
        "is_return_customer": r.bool("IS_RETURN_CUSTOMER"),
    }


def stage_deal_stage_history(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """crm.stagehistory.list (entityTypeId=2) item -> ``deal_stage_history`` row."""
    r = _Row(raw, "deal stage history", w, default_tz=tz)
    return {
        "id": r.id, "type_id": r.int("TYPE_ID"), "owner_id": r.int("OWNER_ID"), "created_time": r.dt("CREATED_TIME"),
        "category_id": r.int("CATEGORY_ID"), "stage_id": r.str("STAGE_ID"),
        "stage_semantic_id": _semantic(r.str("STAGE_SEMANTIC_ID")),
    }


def stage_lead_status_history(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """crm.stagehistory.list (entityTypeId=1) item -> ``lead_status_history`` row."""
    r = _Row(raw, "lead status history", w, default_tz=tz)
    return {
        "id": r.id, "type_id": r.int("TYPE_ID"), "owner_id": r.int("OWNER_ID"), "created_time": r.dt("CREATED_TIME"),
        "status_id": r.str("STATUS_ID"), "status_semantic_id": _semantic(r.str("STATUS_SEMANTIC_ID")),
    }


def stage_activity(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """crm.activity.list row -> ``activities`` row."""
    r = _Row(raw, "activity", w, default_tz=tz)
    return {
        "id": r.id, "owner_type_id": r.int("OWNER_TYPE_ID"), "owner_id": r.int("OWNER_ID"),
        "type_id": r.int("TYPE_ID"), "provider_id": r.str("PROVIDER_ID"),
        "provider_type_id": r.str("PROVIDER_TYPE_ID"), "subject": r.str("SUBJECT"),
        "direction": r.int("DIRECTION"), "completed": r.bool("COMPLETED"), "status": r.int("STATUS"),
        "responsible_id": _user_id(r.int("RESPONSIBLE_ID")), "author_id": _user_id(r.int("AUTHOR_ID")),
        "created": r.dt("CREATED"), "last_updated": r.dt("LAST_UPDATED"), "start_time": r.dt("START_TIME"),
        "end_time": r.dt("END_TIME"), "deadline": r.dt("DEADLINE"), "origin_id": r.str("ORIGIN_ID"),
    }


def stage_call(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """voximplant.statistic.get row -> ``calls`` row (CALL_DURATION in seconds)."""
    r = _Row(raw, "call", w, default_tz=tz)
    return {
        "id": r.id, "call_id": r.str("CALL_ID"), "portal_user_id": _user_id(r.int("PORTAL_USER_ID")),
        "call_type": r.int("CALL_TYPE"), "call_duration": r.int("CALL_DURATION"),
        "call_start_date": r.dt("CALL_START_DATE"), "call_failed_code": r.str("CALL_FAILED_CODE"),
        "crm_entity_type": r.str("CRM_ENTITY_TYPE"), "crm_entity_id": r.int("CRM_ENTITY_ID") or None,
        "crm_activity_id": r.int("CRM_ACTIVITY_ID") or None,
    }


def stage_task(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """tasks.task.list row (camelCase; UPPER accepted too) -> ``tasks`` row."""
    r = _Row(raw, "task", w, id_key="id" if "id" in raw else "ID", default_tz=tz)
    return {
        "id": r.id, "title": r.str("title", "TITLE"), "status": r.int("status", "STATUS", "REAL_STATUS"),
        "responsible_id": _user_id(r.int("responsibleId", "RESPONSIBLE_ID")),
        "created_by": _user_id(r.int("createdBy", "CREATED_BY")),
        "closed_by": _user_id(r.int("closedBy", "CLOSED_BY")),
        "group_id": r.int("groupId", "GROUP_ID"),
        "created_date": r.dt("createdDate", "CREATED_DATE"), "changed_date": r.dt("changedDate", "CHANGED_DATE"),
        "closed_date": r.dt("closedDate", "CLOSED_DATE"), "date_start": r.dt("dateStart", "DATE_START"),
        "deadline": r.dt("deadline", "DEADLINE"), "start_date_plan": r.dt("startDatePlan", "START_DATE_PLAN"),
        "end_date_plan": r.dt("endDatePlan", "END_DATE_PLAN"),
    }


def stage_user(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """user.get row -> ``users`` row (ACTIVE bool, UF_DEPARTMENT list[int])."""
    r = _Row(raw, "user", w, default_tz=tz)
    try:
        depts = to_int_list(raw.get("UF_DEPARTMENT"))
    except ValueError as e:
        w.add(f"user {r.id}: field UF_DEPARTMENT: {e}; stored as empty")
        depts = []
    return {
        "id": r.id, "active": r.bool("ACTIVE"), "name": r.str("NAME"), "last_name": r.str("LAST_NAME"),
        "second_name": r.str("SECOND_NAME"), "email": r.str("EMAIL"), "work_position": r.str("WORK_POSITION"),
        "uf_department": depts, "user_type": r.str("USER_TYPE"),
    }


def stage_department(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """department.get row -> ``departments`` row (PARENT absent on the root -> None)."""
    r = _Row(raw, "department", w, default_tz=tz)
    return {"id": r.id, "name": r.str("NAME"), "sort": r.int("SORT"), "parent": r.int("PARENT") or None,
            "uf_head": _user_id(r.int("UF_HEAD"))}


def stage_workgroup(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """sonet_group.get row -> ``workgroups`` row."""
    r = _Row(raw, "workgroup", w, default_tz=tz)
    return {"id": r.id, "name": r.str("NAME")}


def stage_pipeline(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """crm.category.list item (``id, name, sort, isDefault``) or legacy crm.dealcategory.list
    row (``ID, NAME, SORT``) -> ``pipelines`` row."""
    r = _Row(raw, "pipeline", w, id_key="id" if "id" in raw else "ID", default_tz=tz)
    is_default = r.bool("isDefault", "IS_DEFAULT")
    return {"id": r.id, "name": r.str("name", "NAME"), "sort": r.int("sort", "SORT"),
            "is_default": bool(is_default) if is_default is not None else r.id == 0}


_EXTRA_SEMANTICS = {"process": "P", "success": "S", "failure": "F", "apology": "F"}


def stage_status(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """crm.status.list row -> ``statuses`` row. ``semantics`` from ``EXTRA.SEMANTICS``
    (process/success/failure/apology -> P/S/F), else ``SEMANTICS`` (null -> P). ``category_id``:
    ``CATEGORY_ID``, else from ENTITY_ID (``DEAL_STAGE`` -> 0, ``DEAL_STAGE_3`` -> 3), else None."""
    entity_id = to_str(raw.get("ENTITY_ID")) if isinstance(raw, dict) else None
    status_id = to_str(raw.get("STATUS_ID")) if isinstance(raw, dict) else None
    if not entity_id or not status_id:
        raise B24ApiError("ERROR_UNEXPECTED_ANSWER", f"status row without ENTITY_ID/STATUS_ID: {raw!r}"[:200])
    r = _Row(raw, f"status {entity_id}", w, id_key="", default_tz=tz)
    r.id = f"{entity_id}/{status_id}"
    extra = raw.get("EXTRA") if isinstance(raw.get("EXTRA"), dict) else {}
    sem = _EXTRA_SEMANTICS.get(str(extra.get("SEMANTICS", "")).lower())
    if sem is None:
        s = (to_str(raw.get("SEMANTICS")) or "").upper()
        sem = s if s in ("S", "F") else "P"
    cat = r.int("CATEGORY_ID")
    if cat is None:
        m = re.fullmatch(r"DEAL_STAGE(?:_(\d+))?", entity_id)
        cat = (int(m[1]) if m[1] else 0) if m else None
    return {"entity_id": entity_id, "status_id": status_id, "name": r.str("NAME"), "sort": r.int("SORT"),
            "semantics": sem, "category_id": cat}


def stage_currency(raw: dict, w: Warnings, tz: timezone = timezone.utc) -> dict:
    """crm.currency.list row -> ``currencies`` row (AMOUNT base units per AMOUNT_CNT units)."""
    cur = to_str(raw.get("CURRENCY")) if isinstance(raw, dict) else None
    if not cur:
        raise B24ApiError("ERROR_UNEXPECTED_ANSWER", "currency row without CURRENCY")
    r = _Row(raw, "currency", w, id_key="", default_tz=tz)
    r.id = cur
    return {"currency": cur, "amount_cnt": r.int("AMOUNT_CNT"), "amount": r.dec("AMOUNT"),
            "base": r.bool("BASE"), "sort": r.int("SORT")}


#: table name -> staging function
STAGERS: dict[str, Callable[..., dict]] = {
    "deals": stage_deal, "leads": stage_lead, "deal_stage_history": stage_deal_stage_history,
    "lead_status_history": stage_lead_status_history, "activities": stage_activity, "calls": stage_call,
    "tasks": stage_task, "users": stage_user, "departments": stage_department, "workgroups": stage_workgroup,
    "pipelines": stage_pipeline, "statuses": stage_status, "currencies": stage_currency,
}


def stage_rows(table: str, rows: Iterable[dict], warnings: Warnings, tz: timezone = timezone.utc) -> list[dict]:
    """Stage many raw rows of one table (see :data:`STAGERS`). Raises KeyError for an unknown table."""
    fn = STAGERS[table]
    return [fn(r, warnings, tz) for r in rows]


def utc_offset_text(dt: datetime | None) -> str | None:
    """``+03:00`` style offset of a tz-aware datetime (the portal timezone seen in data)."""
    if dt is None or dt.utcoffset() is None:
        return None
    total = int(dt.utcoffset().total_seconds() // 60)
    sign = "+" if total >= 0 else "-"
    h, m = divmod(abs(total), 60)
    return f"{sign}{h:02d}:{m:02d}"
