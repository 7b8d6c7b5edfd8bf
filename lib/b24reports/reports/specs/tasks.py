"""Registry entry of the tasks report (METRICS.md "tasks"): team productivity from tasks.

Parameters: the common ones (period = DEADLINE cohort; ``employees``/``departments`` filter
RESPONSIBLE_ID; ``pipelines`` and ``currency`` do not apply) plus ``granularity`` (month |
quarter | year | day, for ``by_period``; METRICS.md's month | quarter | year is the contract
for the default and snapshots, ``day`` is an extension that exists mainly for the live
dashboard's drill-down into a month clicked on a time chart), ``title_chars`` (privacy cut of task titles, default 30;
0 hides titles) and ``viewer`` (a user id: only that employee's rows and tasks next to team
averages). Metrics: :mod:`b24reports.metrics.tasks`; views: :mod:`b24reports.views.tasks`;
notebook: ``notebooks/tasks.ipynb``.
"""

from __future__ import annotations

from b24reports.core import columns
from b24reports.core.errors import BadParameter
from b24reports.ingest.dataset import Dataset
from b24reports.metrics import common as c
from b24reports.metrics.scope import Scope
from b24reports.metrics import tasks as m
from b24reports.reports import (
    Params,
    ParamSpec,
    ReportSpec,
    TableSpec,
)

columns.define("status", "code", "Статус задачи", "Task status")
columns.define("state", "code", "Состояние", "State")

AGG = [*m.COUNT_COLUMNS, "no_deadline", *m.RATIO_COLUMNS]
TEAM_COLUMNS = AGG
EMPLOYEES_COLUMNS = ["employee_id", *AGG]
DEPARTMENTS_COLUMNS = ["department_id", *AGG]
GROUPS_COLUMNS = ["group_id", *AGG]
BY_PERIOD_COLUMNS = ["period", *m.COUNT_COLUMNS, *m.RATIO_COLUMNS]
ACCUMULATION_COLUMNS = ["month", "employee_id", "open", "overdue", "growing_backlog", "flags"]
TASKS_COLUMNS = ["id", "title", "employee_id", "group_id", "status", "state", "deadline", "closed_date", "url"]


def compute(ds: Dataset, scope: Scope, params: Params) -> tuple[dict, list[str], dict]:
    """Every table of METRICS.md "tasks" for the run's ``scope`` (see
    :func:`b24reports.metrics.tasks.report_tables`)."""
    return m.report_tables(ds, scope, granularity=params.granularity, title_chars=params.title_chars,
                           viewer=params.viewer)



def check(ds: Dataset, params: Params) -> None:
    """``viewer`` must be a user of the store (BadParameter names it otherwise)."""
    if params.viewer is not None and params.viewer not in set(int(i) for i in ds.users["id"].dropna()):
        raise BadParameter("viewer", params.viewer, "unknown user id (not in the store's users)")


SPEC = ReportSpec(
    name="tasks",
    headlines=(("employees", "total", "sum"), ("employees", "finished_late", "sum"), ("employees", "overdue_open", "sum")),
    title={"ru": "Задачи: продуктивность команды", "en": "Tasks: team productivity"},
    description={
        "ru": "Задачи со сроком в периоде: сколько закрыто в срок, сколько просрочено, кто начинает вовремя, "
              "и коэффициент исполнения (доля начатых вовремя × доля завершённых в срок; ориентир 80 % × 80 % = 64 %).",
        "en": "Tasks with a deadline in the period: finished on time, overdue, started on time, and the "
              "execution coefficient (started-on-time share × finished-on-time share; benchmark 80% × 80% = 64%).",
    },
    notebook="tasks.ipynb",
    params=[
        ParamSpec("granularity", "choice", "month", "by_period buckets of DEADLINE (day: for a drill-down into a month)",
                  choices=c.GRANULARITIES),
        ParamSpec("title_chars", "int", 30, "task titles are cut to this many characters + '…' (0: hidden)", min=0),
        ParamSpec("viewer", "int", None, "user id: show only this employee's rows and tasks next to team averages", min=0),
    ],
    compute=compute,
    check=check,
    tables={
        "team": TableSpec(TEAM_COLUMNS, {"ru": "Команда", "en": "Team"}, "team"),
        "employees": TableSpec(EMPLOYEES_COLUMNS, {"ru": "Сотрудники", "en": "Employees"}, "employees"),
        "departments": TableSpec(DEPARTMENTS_COLUMNS, {"ru": "Отделы", "en": "Departments"}, "departments"),
        "groups": TableSpec(GROUPS_COLUMNS, {"ru": "Проекты", "en": "Projects"}, "groups"),
        "by_period": TableSpec(BY_PERIOD_COLUMNS, {"ru": "По периодам", "en": "By period"}, "by_period"),
        "accumulation": TableSpec(ACCUMULATION_COLUMNS, {"ru": "Накопление открытых и просроченных",
                                                         "en": "Open and overdue backlog"}, "accumulation"),
        "tasks": TableSpec(TASKS_COLUMNS, {"ru": "Задачи", "en": "Tasks"}, "tasks"),
    },
)
