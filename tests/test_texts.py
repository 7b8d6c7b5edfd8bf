"""Display labels and translated messages (core.texts)."""

from __future__ import annotations

from b24reports import reports
from b24reports.core.texts import team_row_label
from b24reports.views import plan as vp


def test_team_row_label_only_for_the_plan_team_row():
    assert team_row_label(True, "employee_id", {"employee_id": None}, "ru") == "Вся команда"
    assert team_row_label(True, "employee_id", {"employee_id": None, "department_id": float("nan")}, "en") == "Whole team"
    # a department row (employee null, department 3) is not the team; an employee row neither
    assert team_row_label(True, "employee_id", {"employee_id": None, "department_id": 3}, "ru") is None
    assert team_row_label(True, "employee_id", {"employee_id": 5, "department_id": None}, "ru") is None
    # other tables: a null employee is unknown, not the team; only the plan's tables have a team row
    assert team_row_label(False, "employee_id", {"employee_id": None}, "ru") is None

    assert {t for t, ts in reports.get("plan").tables.items() if ts.team_row} == {
        "plan_fact", "mtd_compare", "required", "required_stages"}
    assert not any(ts.team_row for s in reports.all_reports() if s.name != "plan" for ts in s.tables.values())
    assert vp.row_label(None, None, {}, "ru") == "Вся команда"
