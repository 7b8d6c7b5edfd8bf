"""Team productivity from Bitrix24 tasks (METRICS.md "tasks"). Pure functions, frames in/out.

Source: ``tasks.task.list`` (store table ``tasks``), ``user.get`` (``users``, UF_DEPARTMENT),
``department.get`` (``departments``, PARENT tree), ``sonet_group.get`` (``workgroups``).

Definitions (METRICS.md "tasks"): a task is *closed* when CLOSED_DATE is set. Cohort: tasks
with DEADLINE in the period. Per task: ``finished_on_time`` (closed, CLOSED_DATE ≤ DEADLINE),
``finished_late`` (closed after DEADLINE), ``overdue_open`` (not closed, DEADLINE < as_of),
``not_started`` (no DATE_START, not closed), ``started_on_time`` (DATE_START — or CLOSED_DATE
when closed without a start — no later than the end of the day of START_DATE_PLAN when set,
otherwise no later than DEADLINE). Shares: ``started_on_time_pct`` and
``finished_on_time_pct`` over ``total``; ``execution_coefficient_pct`` = started share ×
finished share × 100 (benchmark 80 % × 80 % = 64 %); ``tasks_per_executor`` = total ÷
distinct responsible employees with cohort tasks.

Choices where METRICS.md is silent (written here, kept consistent):

* **as_of.** Tasks created after as_of do not exist yet. A CLOSED_DATE or DATE_START after
  as_of has not happened yet (the task is open / not started as of as_of).
* **no_deadline** counts tasks *without* DEADLINE whose CREATED_DATE is in the period (a
  task without a deadline has no deadline date to fall in the period). They are not in
  ``total`` and not in any ratio.
* Every status (2..7) is counted; "awaiting control" (4) counts as closed only when the
  portal has set CLOSED_DATE — the contract's only closing signal.
* "End of the day of START_DATE_PLAN" is that calendar day 23:59:59.999999 in the report
  timezone.
* ``departments``: a task belongs to every department (and its ancestors) of its
  responsible's UF_DEPARTMENT; a user in two departments counts once per department.
  Rows: departments with at least one cohort or no-deadline task.
* ``groups``: GROUP_ID 0 or empty is the row ``group_id = 0`` ("no project").
* ``by_period``: team level (all employees of the filter), one row per bucket of DEADLINE
  that overlaps the period (``granularity`` month | quarter | year; ``day`` too, an
  extension for the dashboard's drill-down into a month), empty buckets with zero counts and
  null ratios.
* ``accumulation``: month ends of the months overlapping the period and starting no later
  than as_of; the month end is the last instant of the month, or as_of for the month that
  contains as_of. ``open`` counts every task of the employee (not only the cohort) created
  by t and not closed by t; ``overdue`` those with DEADLINE < t. ``growing_backlog`` on the
  row of month m: overdue(m) > overdue(m−1) > overdue(m−2) > overdue(m−3) (a rise at each
  of the last 3 month ends; the 3 months before the period are computed for this and not
  shown). Rows: employees with at least one task, every month.
* **viewer** mode (``viewer`` = a user id): ``employees``, ``accumulation`` and the task list
  show only that employee; ``team``, ``departments``, ``groups`` and ``by_period`` stay
  team aggregates (the team averages to compare with).
* Titles are cut to ``title_chars`` characters + "…" (0: no title at all, for privacy).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from b24reports.ingest.dataset import Dataset, memoized
from b24reports.metrics import common as c
from b24reports.metrics.scope import Scope

#: Count columns of every aggregate table, in output order.
COUNT_COLUMNS = ["total", "finished_on_time", "finished_late", "overdue_open", "not_started", "started_on_time"]
#: Ratio columns of every aggregate table, in output order.
RATIO_COLUMNS = ["started_on_time_pct", "finished_on_time_pct", "execution_coefficient_pct", "tasks_per_executor"]
#: The common benchmark of the execution coefficient (80 % × 80 %), in %.
BENCHMARK_PCT = 64.0
#: Task statuses of tasks.task.list.
STATUS_NAMES = {2: "pending", 3: "in_progress", 4: "awaiting_control", 5: "completed", 6: "deferred", 7: "declined"}


def task_facts(tasks: pd.DataFrame, as_of: pd.Timestamp, tz: dt.tzinfo | None = None) -> pd.DataFrame:
    """One row per task that exists as of ``as_of``, with its per-task flags.

    In: the store table ``tasks`` (tasks.task.list). ``as_of``: tz-aware Timestamp; ``tz``:
    the report timezone for "end of day" (default: ``as_of``'s).
    Out columns: ``id``, ``title``, ``employee_id`` (RESPONSIBLE_ID), ``group_id`` (0 = no
    project), ``status`` (Int64), ``created``, ``deadline``, ``closed_date`` (NaT when not
    closed by as_of), ``date_start`` (NaT when not started by as_of), ``start_date_plan``,
    ``has_deadline``, ``closed``, ``finished_on_time``, ``finished_late``, ``overdue_open``,
    ``not_started``, ``started_on_time`` (bools; see the module docstring).
    """
    tz = tz or as_of.tzinfo
    t = tasks[tasks["created_date"].isna() | (tasks["created_date"] <= as_of)]
    created = t["created_date"].dt.tz_convert(tz)
    deadline = t["deadline"].dt.tz_convert(tz)
    closed_date = t["closed_date"].dt.tz_convert(tz)
    closed_date = closed_date.where(closed_date <= as_of)
    date_start = t["date_start"].dt.tz_convert(tz)
    date_start = date_start.where(date_start <= as_of)
    plan = t["start_date_plan"].dt.tz_convert(tz)
    closed = closed_date.notna()
    has_deadline = deadline.notna()
    start = date_start.where(date_start.notna(), closed_date)
    plan_eod = plan.dt.normalize() + pd.Timedelta(days=1)
    started_on_time = pd.Series(False, index=t.index)
    with_plan = plan.notna() & start.notna()
    started_on_time[with_plan] = start[with_plan] < plan_eod[with_plan]
    no_plan = plan.isna() & start.notna() & has_deadline
    started_on_time[no_plan] = start[no_plan] <= deadline[no_plan]
    group = t["group_id"].fillna(0).astype("Int64")
    out = pd.DataFrame(
        {
            "id": t["id"].astype("Int64"),
            "title": t["title"],
            "employee_id": t["responsible_id"].astype("Int64"),
            "group_id": group,
            "status": t["status"].astype("Int64"),
            "created": created,
            "deadline": deadline,
            "closed_date": closed_date,
            "date_start": date_start,
            "start_date_plan": plan,
            "has_deadline": has_deadline.astype(bool),
            "closed": closed.astype(bool),
            "finished_on_time": (closed & has_deadline & (closed_date <= deadline)).astype(bool),
            "finished_late": (closed & has_deadline & (closed_date > deadline)).astype(bool),
            "overdue_open": (~closed & has_deadline & (deadline < as_of)).astype(bool),
            "not_started": (date_start.isna() & ~closed).astype(bool),
            "started_on_time": started_on_time.astype(bool),
        }
    )
    return out.reset_index(drop=True)


@memoized
def _task_facts(ds: Dataset, as_of: pd.Timestamp, tz: dt.tzinfo) -> pd.DataFrame:
    """:func:`task_facts` of ``ds.tasks``, cached on the dataset (every filter of a live
    dashboard picks its rows from the same facts)."""
    return task_facts(ds.tasks, as_of, tz)


def cohort(facts: pd.DataFrame, period: c.Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split :func:`task_facts` rows into (cohort: DEADLINE in the period, no_deadline: no
    DEADLINE and CREATED_DATE in the period). METRICS.md "tasks" Cohort."""
    in_cohort = facts["has_deadline"] & period.contains(facts["deadline"]).fillna(False)
    no_dl = ~facts["has_deadline"] & period.contains(facts["created"]).fillna(False)
    return facts[in_cohort], facts[no_dl]


def summarize(cohort_facts: pd.DataFrame, no_deadline: pd.DataFrame | None = None) -> dict:
    """Counts and ratios of one set of cohort tasks (one row of any aggregate table).

    Out: ``{total, finished_on_time, finished_late, overdue_open, not_started,
    started_on_time, no_deadline, started_on_time_pct, finished_on_time_pct,
    execution_coefficient_pct, tasks_per_executor}``; counts are ints, ``*_pct`` 0–100 with 1
    decimal, ``tasks_per_executor`` 2 decimals, all ``None`` when ``total`` is 0.
    """
    total = int(len(cohort_facts))
    row = {"total": total}
    for col in COUNT_COLUMNS[1:]:
        row[col] = int(cohort_facts[col].sum())
    row["no_deadline"] = int(len(no_deadline)) if no_deadline is not None else 0
    row.update(_ratios(row["started_on_time"], row["finished_on_time"], total, cohort_facts["employee_id"].nunique()))
    return row


def _ratios(started: int, finished: int, total: int, executors: int) -> dict:
    return {
        "started_on_time_pct": c.pct(started, total),
        "finished_on_time_pct": c.pct(finished, total),
        # started share × finished share × 100 = 100 × s·f / t² (unrounded shares)
        "execution_coefficient_pct": c.pct(started * finished, total * total),
        "tasks_per_executor": c.ratio(total, executors),
    }


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """Rows → frame; ratio columns stay ``object`` so a null ratio is ``None`` (not NaN)."""
    df = pd.DataFrame(rows, columns=columns)
    for col in RATIO_COLUMNS:
        if col in df.columns:
            df[col] = pd.Series([r.get(col) for r in rows], index=df.index, dtype=object)
    return df


def _table(cohort_facts: pd.DataFrame, no_deadline: pd.DataFrame, key: str, keys: list) -> pd.DataFrame:
    # one groupby per frame instead of a mask over every row per key
    co, nd = _groups(cohort_facts, cohort_facts[key]), _groups(no_deadline, no_deadline[key])
    rows = [{key: k, **summarize(co.get(k, cohort_facts.iloc[:0]), nd.get(k, no_deadline.iloc[:0]))} for k in keys]
    return _frame(rows, [key, *COUNT_COLUMNS, "no_deadline", *RATIO_COLUMNS])


def _groups(frame: pd.DataFrame, by: pd.Series) -> dict:
    """``{key: rows of frame}`` (keys as Python ints or strings; rows with a null key left out)."""
    return {(int(k) if isinstance(k, (int, np.integer)) else k): g for k, g in frame.groupby(by, sort=False)}


def by_employee(cohort_facts: pd.DataFrame, no_deadline: pd.DataFrame) -> pd.DataFrame:
    """Table ``employees``: one row per ``employee_id`` (RESPONSIBLE_ID) with cohort or
    no-deadline tasks, sorted by id. Columns: ``employee_id``, counts, ``no_deadline``,
    ratios (:func:`summarize`)."""
    keys = sorted(set(cohort_facts["employee_id"].dropna().astype(int)) | set(no_deadline["employee_id"].dropna().astype(int)))
    return _table(cohort_facts, no_deadline, "employee_id", keys)


def by_group(cohort_facts: pd.DataFrame, no_deadline: pd.DataFrame) -> pd.DataFrame:
    """Table ``groups`` (projects, GROUP_ID; 0 = no project): one row per ``group_id`` with
    tasks, sorted by id. Columns as :func:`by_employee`."""
    keys = sorted(set(cohort_facts["group_id"].dropna().astype(int)) | set(no_deadline["group_id"].dropna().astype(int)))
    return _table(cohort_facts, no_deadline, "group_id", keys)


def by_department(cohort_facts: pd.DataFrame, no_deadline: pd.DataFrame, users: pd.DataFrame, departments: pd.DataFrame) -> pd.DataFrame:
    """Table ``departments``: one row per ``department_id`` with sub-departments rolled up
    (a department's tasks are those of users in it or below it, ``department.get`` PARENT
    tree and users' ``UF_DEPARTMENT``). Rows with at least one task, sorted by id."""
    rows = []
    for did in sorted(int(d) for d in departments["id"].dropna()):
        members = c.users_in_departments(users, departments, [did])
        co = cohort_facts[cohort_facts["employee_id"].isin(members)]
        nd = no_deadline[no_deadline["employee_id"].isin(members)]
        if len(co) or len(nd):
            rows.append({"department_id": did, **summarize(co, nd)})
    return _frame(rows, ["department_id", *COUNT_COLUMNS, "no_deadline", *RATIO_COLUMNS])


def by_period(cohort_facts: pd.DataFrame, period: c.Period, granularity: str = "month") -> pd.DataFrame:
    """Table ``by_period``: team counts and ratios per bucket of DEADLINE (``period``
    ``YYYY-MM`` / ``YYYY-Qn`` / ``YYYY`` / ``YYYY-MM-DD`` for month / quarter / year / day, the
    deadline's date in the report timezone), every bucket overlapping the period, in order.

    In: cohort rows of :func:`task_facts` (see :func:`cohort`). Out: ``period``, the
    :data:`COUNT_COLUMNS` (int) and :data:`RATIO_COLUMNS` (% 0–100, 1 decimal; tasks per
    executor 2 decimals; None on an empty bucket), as :func:`summarize`. Source: METRICS.md
    "tasks" (``by_period``). Raises ``ValueError`` for an unknown granularity."""
    keys = c.period_buckets(period.date_from, period.date_to, granularity)
    groups = _groups(cohort_facts, c.period_key(cohort_facts["deadline"], granularity))
    rows = [{"period": key, **summarize(groups.get(key, cohort_facts.iloc[:0]))} for key in keys]
    return _frame(rows, ["period", *COUNT_COLUMNS, *RATIO_COLUMNS])


def month_ends(period: c.Period, as_of: pd.Timestamp) -> list[tuple[str, pd.Timestamp]]:
    """``[(YYYY-MM, t)]`` for months overlapping the period that start no later than as_of,
    plus the 3 months before the period (for the backlog flag): t is the month's last
    instant (next month 00:00 minus 1 µs) or as_of for as_of's month."""
    first = pd.Timestamp(period.date_from).replace(day=1) - pd.DateOffset(months=3)
    out = []
    m = first
    while m.date() <= period.date_to:
        start = m.tz_localize(period.tz)
        if start > as_of:
            break
        end = (m + pd.DateOffset(months=1)).tz_localize(period.tz) - pd.Timedelta(microseconds=1)
        out.append((m.strftime("%Y-%m"), min(end, as_of)))
        m = m + pd.DateOffset(months=1)
    return out


def accumulation(all_facts: pd.DataFrame, period: c.Period, as_of: pd.Timestamp) -> pd.DataFrame:
    """Table ``accumulation`` (``month``, ``employee_id``): ``open`` and ``overdue`` tasks at
    each month end t, ``growing_backlog`` (bool) and ``flags`` (``["growing_backlog"]`` or
    ``[]``). In: every task of :func:`task_facts` (not only the cohort). Out rows: months of
    the period (see :func:`month_ends`) × employees with at least one task, by month then
    employee id."""
    ends = month_ends(period, as_of)
    first_shown = pd.Timestamp(period.date_from).strftime("%Y-%m")
    emps = sorted(set(all_facts["employee_id"].dropna().astype(int)))
    cols = ["month", "employee_id", "open", "overdue", "growing_backlog", "flags"]
    if not emps or not ends:
        return pd.DataFrame(columns=cols)
    # instants as int64 ns on numpy (NaT: a creation before everything, a close/deadline never)
    def ns(col: str, missing: int) -> np.ndarray:
        v = all_facts[col]
        return np.where(v.isna().to_numpy(), missing, v.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype("int64"))

    lo, hi = np.iinfo("int64").min, np.iinfo("int64").max
    created, closed, deadline = ns("created", lo), ns("closed_date", hi), ns("deadline", hi)
    has_emp = all_facts["employee_id"].notna().to_numpy()
    code = np.searchsorted(emps, all_facts["employee_id"].fillna(-1).astype("int64").to_numpy())
    rows = []
    history: dict[int, list[int]] = {e: [] for e in emps}
    for month, t in ends:
        t_ns = int(t.value)
        is_open = has_emp & (created <= t_ns) & (closed > t_ns)
        o = np.bincount(code[is_open], minlength=len(emps))
        od = np.bincount(code[is_open & (deadline < t_ns)], minlength=len(emps))
        for i, e in enumerate(emps):
            n_open, n_over = int(o[i]), int(od[i])
            h = history[e]
            h.append(n_over)
            growing = len(h) >= 4 and h[-1] > h[-2] > h[-3] > h[-4]
            if month >= first_shown:
                rows.append({"month": month, "employee_id": e, "open": n_open, "overdue": n_over,
                             "growing_backlog": growing, "flags": ["growing_backlog"] if growing else []})
    return pd.DataFrame(rows, columns=cols)


def cut_title(title, chars: int):
    """Privacy cut: first ``chars`` characters + "…" when longer; ``chars`` 0 → None."""
    if chars <= 0 or title is None or (isinstance(title, float) and pd.isna(title)):
        return None
    s = str(title)
    return s if len(s) <= chars else s[:chars] + "…"


def task_state(facts: pd.DataFrame) -> pd.Series:
    """``finished_on_time`` | ``finished_late`` | ``overdue_open`` | ``open`` per task."""
    st = pd.Series("open", index=facts.index, dtype=object)
    st[facts["overdue_open"]] = "overdue_open"
    st[facts["finished_late"]] = "finished_late"
    st[facts["finished_on_time"]] = "finished_on_time"
    return st


def task_list(cohort_facts: pd.DataFrame, portal: str, title_chars: int = 30) -> pd.DataFrame:
    """Table ``tasks``: cohort tasks, overdue open first, then late, then by DEADLINE.

    Columns: ``id``, ``title`` (cut, :func:`cut_title`), ``employee_id``, ``group_id``,
    ``status``, ``state`` (:func:`task_state`), ``deadline``, ``closed_date``, ``url``
    (``/company/personal/user/{responsible_id}/tasks/task/view/{id}/``)."""
    f = cohort_facts.copy()
    f["state"] = task_state(f)
    order = {"overdue_open": 0, "finished_late": 1, "open": 2, "finished_on_time": 3}
    f["_o"] = f["state"].map(order)
    f = f.sort_values(["_o", "deadline", "id"], kind="stable")
    out = pd.DataFrame(
        {
            "id": f["id"],
            "title": [cut_title(x, title_chars) for x in f["title"]],
            "employee_id": f["employee_id"],
            "group_id": f["group_id"],
            "status": f["status"],
            "state": f["state"],
            "deadline": f["deadline"],
            "closed_date": f["closed_date"],
            "url": c.task_url(portal, f["employee_id"], f["id"]),
        }
    )
    return out.reset_index(drop=True)


def report_tables(
    ds: Dataset,
    scope: Scope,
    *,
    granularity: str = "month",
    title_chars: int = 30,
    viewer: int | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """The entry point of this module: for the run's :class:`Scope` (period = the DEADLINE cohort,
    as_of, people; METRICS.md "Who": tasks belong to RESPONSIBLE_ID), every table of the "tasks" report: ``team`` (one row), ``employees``,
    ``departments``, ``groups``, ``by_period``, ``accumulation``, ``tasks``.

    ``viewer``: see the module docstring. Warnings: none, or that the store holds no task (the
    webhook may lack the ``task`` scope). Notes: ``benchmark_pct`` (64.0), ``viewer``.
    """
    period, as_of, employees = scope.period, scope.as_of, scope.people
    facts = _task_facts(ds, as_of, period.tz)
    if employees is not None:
        facts = facts[facts["employee_id"].isin(sorted(employees))]
    co, nd = cohort(facts, period)
    team = _frame([summarize(co, nd)], [*COUNT_COLUMNS, "no_deadline", *RATIO_COLUMNS])
    emp_co, emp_nd, emp_all = co, nd, facts
    if viewer is not None:
        emp_co, emp_nd = co[co["employee_id"] == viewer], nd[nd["employee_id"] == viewer]
        emp_all = facts[facts["employee_id"] == viewer]
    warnings = [] if len(ds.tasks) else ["no tasks in the store (the webhook may lack the 'task' scope)"]
    return {
        "team": team,
        "employees": by_employee(emp_co, emp_nd),
        "departments": by_department(co, nd, ds.users, ds.departments),
        "groups": by_group(co, nd),
        "by_period": by_period(co, period, granularity),
        "accumulation": accumulation(emp_all, period, as_of),
        "tasks": task_list(emp_co, ds.portal, title_chars),
    }, warnings, {"benchmark_pct": BENCHMARK_PCT, "viewer": viewer}
