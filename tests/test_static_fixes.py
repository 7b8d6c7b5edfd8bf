"""Fixes of the static-report findings of the new-user trial (PDF breaks, plan chart, Excel
names and sheet names, plurals, failed first sync, parameter messages, month axis labels)."""

from __future__ import annotations

import datetime as dt

import pytest
from b24reports import cli
from b24reports.core.errors import StoreNotSynced
from b24reports.ingest.store import Store, check_synced

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


def _run(capsys, *argv):
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- 6. failed first sync


def _store_with_runs(path, statuses):
    with Store(path) as st:
        for status in statuses:
            rid = st.start_run("full", T0)
            st.finish_run(rid, status=status, finished_at=T0, requests=1, rows={},
                          warnings=[], error=None if status == "ok" else "B24AuthError: expired_token\nline two")
            if status == "ok":
                st.set_info("portal", "https://x.bitrix24.ru")
    return path


def test_render_after_failed_first_sync_exits_2_one_line(tmp_path, capsys):
    store = _store_with_runs(tmp_path / "p.duckdb", ["failed"])
    code, _, err = _run(capsys, "render", "funnel", "--store", str(store), "--out", str(tmp_path / "o"),
                        "--formats", "json", "--no-progress")
    assert code == 2
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err  # the run's multi-line error is folded into one line
    assert str(store) in lines[0] and "run `b24reports sync` first" in lines[0]
    assert "expired_token line two" in lines[0]
    assert store.exists()  # nothing deleted


def test_render_from_empty_store_exits_2(tmp_path, capsys):
    store = tmp_path / "empty.duckdb"
    Store(store).close()  # created by a sync that failed before its first run was recorded
    code, _, err = _run(capsys, "render", "funnel", "--store", str(store), "--out", str(tmp_path / "o"),
                        "--formats", "json", "--no-progress")
    assert code == 2 and "never synced" in err and str(store) in err


def test_store_with_a_completed_sync_stays_readable_after_a_failed_one(tmp_path):
    store = _store_with_runs(tmp_path / "p.duckdb", ["ok", "failed"])
    assert check_synced(store) is None  # no error: the last consistent state is reported
    with pytest.raises(StoreNotSynced, match="does not exist"):
        check_synced(tmp_path / "missing.duckdb")
    assert StoreNotSynced("x").exit_code == 2


# --------------------------------------------------------------------------- 1. PDF: heading kept with its chart


def _pdf_page_texts(pdf):
    import subprocess

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")


def test_pdf_heading_and_intro_move_with_their_chart(tmp_path):
    """A page that has room for a heading and its intro but not for the chart after them
    must not end with the heading and intro alone (issue 20: read as a stranded heading): all
    three start the next page (tests/test_static_fixes4.py; the print check guards the fill of
    the page left behind)."""
    import shutil

    import nbformat
    from b24reports.outputs import render

    assert render.find_chromium() and shutil.which("pdftotext"), "make test installs chromium and poppler-utils"

    def out(mime, data):
        return nbformat.v4.new_output("display_data", data={mime: data})

    # A4 at 12 mm margins leaves ~1030 px of height at the page's 740 px width: 600 px of filler,
    # then heading + intro (~100 px) fit, the 480 px chart does not (more than the 240 px a heading
    # used to reserve below itself)
    cell = nbformat.v4.new_code_cell("", outputs=[
        out("text/html", '<div style="height:600px">filler</div>'),
        out("text/markdown", "## Orphan check heading"),
        out("text/markdown", "Intro paragraph under the heading."),
        out("text/html", "<script>window.x = 1;</script>"),  # plotly.js's invisible output
        out("text/html", '<div class="plotly-graph-div" style="height:480px;border:1px solid #000">CHART BOX</div>'),
    ])
    nb = nbformat.v4.new_notebook(cells=[cell])
    html_path = tmp_path / "r.html"
    html_path.write_text(render.notebook_to_html(nb, "t", "en"), encoding="utf-8")
    render.html_to_pdf(html_path, tmp_path / "r.pdf")
    pages = _pdf_page_texts(tmp_path / "r.pdf")
    assert "filler" in pages[0] and "Orphan check heading" not in pages[0] and "CHART BOX" not in pages[0]
    assert "Orphan check heading" in pages[1] and "Intro paragraph" in pages[1] and "CHART BOX" in pages[1]


# --------------------------------------------------------------------------- 7. parameter messages


@pytest.mark.parametrize("kind,value,message", [
    ("date", "2025-13-01", "2025-13-01 is not a calendar date; expected a date YYYY-MM-DD, e.g. 2026-01-31"),
    ("date", "01.11.2025", "expected a date YYYY-MM-DD, e.g. 2026-01-31"),
    ("datetime", "2025-11-31T10:00", "2025-11-31 is not a calendar date; expected a date YYYY-MM-DD or a date and "
                                     "time YYYY-MM-DDTHH:MM[:SS][±HH:MM], e.g. 2026-11-30T12:00, or now"),
    ("int", "1.5", "expected a whole number, e.g. 14"),
    ("int", "x", "expected a whole number, e.g. 14"),
    ("float", "abc", "expected a number, e.g. 0.5"),
    ("id_list", "0,a", "'a' is not a whole-number id; expected comma-separated whole-number ids, e.g. 0,2"),
    ("json", "{x", "not valid JSON at character 2; expected a JSON object or name=value pairs, "
                   'e.g. {"NEW": 7} or NEW=7,PREPARATION=14'),
    ("bool", "maybe", "expected true or false"),
])
def test_bad_parameter_names_value_and_expected_format_not_python_internals(kind, value, message):
    from b24reports.core.errors import BadParameter
    from b24reports.reports import ParamSpec

    with pytest.raises(BadParameter) as e:
        ParamSpec("p", kind, None, "help").parse(value)
    assert str(e.value) == f"parameter p={value!r}: {message}"
    assert "isoformat" not in str(e.value) and "literal" not in str(e.value)


def test_int_parameter_still_takes_whole_numbers():
    from b24reports.reports import ParamSpec

    spec = ParamSpec("p", "int", None, "help")
    assert [spec.parse(v) for v in ("14", " 7 ", "14.0", 3, 5.0)] == [14, 7, 14, 3, 5]


def test_cli_bad_date_exit_2_message(tmp_path, capsys):
    store = _store_with_runs(tmp_path / "p.duckdb", ["ok"])
    code, _, err = _run(capsys, "render", "funnel", "--store", str(store), "--out", str(tmp_path / "o"),
                        "--from", "2025-13-01", "--no-progress")
    assert code == 2
    assert err.strip() == ("error: parameter date_from='2025-13-01': 2025-13-01 is not a calendar date; "
                           "expected a date YYYY-MM-DD, e.g. 2026-01-31")


def test_plan_errors_in_report_language():
    from b24reports.core.texts import translate_plan_error, translate_warning, value_label

    assert translate_warning("plan.csv line 4: amount 'abc' is not a number", "ru") == "plan.csv, строка 4: amount 'abc' — не число"
    assert translate_warning("plan.csv line 7: duplicate of line 3 (2026-11, employee_id 5)", "ru") == \
        "plan.csv, строка 7: повтор строки 3 (2026-11, employee_id 5)"
    assert translate_warning("plan.csv line 4: amount 'abc' is not a number", "en") == "plan.csv line 4: amount 'abc' is not a number"
    assert translate_plan_error("month '2026-13' is not YYYY-MM", "ru") == "месяц '2026-13' не в формате ГГГГ-ММ"
    assert value_label("error", "unknown department_id 9", "ru") == "department_id 9 нет в портале"
    assert value_label("error", "unknown department_id 9", "en") is None  # English shown as is


def test_plan_file_errors_in_tables_match_the_reader(tmp_path):
    """Every bad-row error read_plan writes has a Russian text (none stays English)."""
    from b24reports.core.texts import translate_plan_error
    from b24reports.ingest.plan_file import read_plan

    f = tmp_path / "plan.csv"
    f.write_text("month,employee_id,department_id,amount,deals\n"
                 ",1,,5,\n2026-13,1,,5,\n2026-11,,,5,\n2026-11,x,,5,\n2026-11,,y,5,\n2026-11,1,,,\n"
                 "2026-11,1,,abc,\n2026-11,1,,-5,\n2026-11,1,,5,1.5\n2026-11,1,,5,-1\n2026-11,1,,5,\n2026-11,1,,6,\n",
                 encoding="utf-8")
    plan = read_plan(f)
    errs = plan.errors["error"].tolist()
    assert len(errs) == 11  # every line but the first good 2026-11 employee 1 row (line 12)
    assert [e for e in errs if translate_plan_error(e, "ru") == e] == []


# --------------------------------------------------------------------------- 5. plurals


def test_plural_forms_ru_en():
    from b24reports.core.i18n import count_text, plural

    # CLDR ru: one = n%10==1 and n%100!=11; few = n%10 in 2..4 and n%100 not in 12..14; many = the rest
    assert [count_text(n, "warning", "ru") for n in (1, 2, 5, 11, 12, 21, 22, 25, 111)] == [
        "1 замечание", "2 замечания", "5 замечаний", "11 замечаний", "12 замечаний", "21 замечание",
        "22 замечания", "25 замечаний", "111 замечаний"]
    assert [count_text(n, "data_warning", "en") for n in (0, 1, 2)] == [
        "0 data-quality warnings", "1 data-quality warning", "2 data-quality warnings"]
    assert plural(1.5, "day", "ru") == "дня"  # 1,5 дня
    assert count_text(1234, "row", "ru") == "1\u00a0234 строки"


def test_more_rows_note_agrees_with_its_number():
    import pandas as pd
    from b24reports.views.common import table_html, warnings_html

    df = pd.DataFrame({"line": [1, 2, 3]})
    assert "… и ещё 1 строка — полный список в Excel" in table_html(df, ["line"], "ru", max_rows=2)
    assert "… and 1 more row — full list in Excel" in table_html(df, ["line"], "en", max_rows=2)
    assert "… and 1 more warning — full list in Excel" in warnings_html(["w"] * 3, "en", limit=2)
    assert "… и ещё 2 замечания — полный список в Excel" in warnings_html(["w"] * 4, "ru", limit=2)
    assert "… и ещё 5 строк" in table_html(pd.DataFrame({"line": range(7)}), ["line"], "ru", max_rows=2)


def test_cli_sync_summary_singular(capsys):
    from types import SimpleNamespace

    cli._print_sync(SimpleNamespace(mode="full", status="ok", rows={"deals": 1}, requests=1, seconds=0.5,
                                    store_path="s.duckdb", warnings=["deal 501: empty OPPORTUNITY (counted as 0)"]))
    err = capsys.readouterr().err
    assert "ok, 1 row written, 1 request, 0.5 s" in err
    assert "  1 data-quality warning (shown in the reports); first: deal #501: amount not set, counted as 0" in err


def test_forgotten_summary_plural():
    from b24reports.views.forgotten import plural

    assert [plural(n, "deal", "ru") for n in (1, 3, 5, 21)] == ["сделка", "сделки", "сделок", "сделка"]
    assert [plural(n, "lead", "en") for n in (1, 2)] == ["lead", "leads"]
    assert [plural(n, "day", "ru") for n in (14, 21, 3)] == ["дней", "день", "дня"]  # "21+ день без касаний"


# --------------------------------------------------------------------------- 4. Excel sheet names


def test_sheet_names_cut_after_a_whole_word_without_dangling_words():
    from b24reports.outputs.render import excel_sheet_names

    # "Накопление открытых и просроченных" is 34 chars: the words within 31 end with "и" -> dropped
    assert excel_sheet_names(["Накопление открытых и просроченных"]) == ["Накопление открытых"]
    # 41 chars; "Weighted pipeline by expected" (29) is the longest whole-word prefix, no dangling word
    assert excel_sheet_names(["Weighted pipeline by expected close month"]) == ["Weighted pipeline by expected"]
    assert excel_sheet_names(["Что если: итого", "What if: by source"]) == ["Что если — итого", "What if — by source"]
    # two titles that cut to the same name stay unique, the suffix within 31 chars, still whole words
    names = excel_sheet_names(["Накопление открытых и просроченных", "Накопление открытых и просроченных задач"])
    assert names == ["Накопление открытых", "Накопление открытых (2)"] and all(len(n) <= 31 for n in names)


def test_every_report_sheet_name_is_whole_words():
    from b24reports import reports
    from b24reports.outputs.render import xlsx_sheet_names
    from b24reports.outputs.excel import _DANGLING

    reports.discover()
    for spec in reports.all_reports():
        for lang in ("ru", "en"):
            names = list(xlsx_sheet_names(spec, lang).values())
            assert len({n.lower() for n in names}) == len(names)
            for n, ts in zip(names, spec.tables.values()):
                title = (ts.title.get(lang) or ts.sheet_name).replace(": ", " — ")
                assert len(n) <= 31 and n.split()[-1].lower() not in _DANGLING
                assert (title + " ").startswith(n + " ") or n == title, (n, title)  # a whole-word prefix


# --------------------------------------------------------------------------- 3. Excel names as in HTML


def test_excel_names_are_the_html_labels(tmp_path):
    import openpyxl
    import pandas as pd
    from b24reports.outputs import nb
    from b24reports.outputs import render
    from b24reports import reports
    from b24reports.ingest.dataset import Dataset
    from b24reports.views.common import table_html

    ds = Dataset.from_frames(
        users=pd.DataFrame({"id": [3, 4], "name": ["Анна", None], "last_name": ["Иванова", None]}),
        departments=pd.DataFrame({"id": [1], "name": ["Продажи"]}))
    spec = reports.ReportSpec(
        name="xl_order", title={"ru": "Т", "en": "T"}, description={"ru": "", "en": ""}, notebook="none.ipynb",
        params=[], compute=lambda ds, p: None,
        tables={"t": reports.TableSpec(["employee_id", "responsible_id", "amount"], {"ru": "Люди", "en": "People"}, "t")})
    params = spec.parse_params({"lang": "ru", "as_of": "2026-11-30T12:00:00+03:00"})
    df = pd.DataFrame({"employee_id": [3, 4], "responsible_id": [4, 3], "amount": [1.0, 2.0]})
    res = reports.ReportResult(report="xl_order", portal="", params=params, as_of=dt.datetime(2026, 11, 30, 12),
                               tables={"t": df}, warnings=[])
    job = render.RenderJob(spec, res, tmp_path, tmp_path, dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc), dataset=ds)
    render.write_xlsx(job, tmp_path / "x.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "x.xlsx")["Люди"]
    # users: 3 = Анна Иванова -> "Иванова Анна" (surname first, as the HTML tables); 4 has no name -> "#4"
    assert [c.value for c in ws[1]][:2] == ["Сотрудник (ID)", "Сотрудник"]
    assert [ws.cell(row=r, column=2).value for r in (2, 3)] == ["Иванова Анна", "#4"]
    labels = nb.ReportView(res, ds).labels
    assert labels["employee_id"] == {3: "Иванова Анна", 4: "#4"}
    assert ">Иванова Анна<" in table_html(df, ["employee_id"], "ru", labels=labels)
    assert render.excel_name_maps(job)["responsible_id"] == labels["employee_id"]


# --------------------------------------------------------------------------- 8. month axis labels


def test_format_month():
    from b24reports.core.i18n import format_month

    assert format_month("2025-11", "ru") == "ноя 2025" and format_month("2025-11", "en") == "Nov 2025"
    assert format_month("2026-01-01", "ru") == "янв 2026"
    assert format_month(dt.date(2026, 5, 17), "en") == "May 2026"
    assert format_month("overdue", "ru") == "overdue" and format_month("2025-13", "ru") == "2025-13"


def test_month_axis_shows_month_names_keeps_keys_for_the_drill_down():
    from types import SimpleNamespace

    import pandas as pd
    from b24reports.outputs.dashboard import click_target
    from b24reports.views import dynamics, tasks

    res = SimpleNamespace(tables={"won_by_period": pd.DataFrame({"period": ["2025-11", "2025-12", "2026-01"],
                                                                 "won_amount": [10.0, 0.0, 5.0], "won_deals": [1, 0, 1]})})
    fig = dynamics.won_chart(res, "ru")
    assert list(fig.data[0].x) == ["2025-11", "2025-12", "2026-01"]  # the values a click hands out
    assert list(fig.layout.xaxis.ticktext) == ["ноя 2025", "дек 2025", "янв 2026"]
    assert list(fig.layout.xaxis.tickvals) == ["2025-11", "2025-12", "2026-01"]
    assert click_target([fig.data[0].x[0], 10.0], {}, set()) == ("month", "2025-11-01")
    # pipeline by expected close month: "overdue" keeps its translated label, months their names
    res = SimpleNamespace(tables={"forecast_pipeline": pd.DataFrame({"month": ["overdue", "2026-12"], "amount": [1.0, 2.0],
                                                                     "weighted_amount": [0.5, 1.0], "deals": [1, 2]})})
    fig = dynamics.pipeline_chart(res, "en")
    assert list(fig.layout.xaxis.ticktext) == ["overdue", "Dec 2026"] and list(fig.data[0].x) == ["overdue", "2026-12"]
    # tasks by period in English
    res = SimpleNamespace(tables={"by_period": pd.DataFrame({"period": ["2026-02"], "total": [3], "started_on_time_pct": [50.0],
                                                             "finished_on_time_pct": [40.0], "execution_coefficient_pct": [20.0]})})
    fig = tasks.coefficient_by_period(res, "en")
    assert list(fig.layout.xaxis.ticktext) == ["Feb 2026"]
    # day keys keep their own ticks (the dashboard's drill into a month)
    assert dynamics.period_axis(["2026-02-01", "2026-02-02"], "ru")["ticktext"] == ["2026-02-01", "2026-02-02"]


# --------------------------------------------------------------------------- 2. plan chart


def _plan_result():
    from types import SimpleNamespace

    import pandas as pd

    pf = pd.DataFrame({
        "month": ["2026-11"] * 3,
        "employee_id": pd.array([1, 2, None], dtype="Int64"),
        "department_id": pd.array([None, None, 7], dtype="Int64"),
        "plan_amount": [1_000_000.0, 500_000.0, 15_000_000.0],
        "fact_amount": [840_000.0, 600_000.0, 1_440_000.0],
        "completion_pct": [84.0, 120.0, 9.6],
        "projection": [1_100_000.0, 650_000.0, 1_750_000.0],
    })
    return SimpleNamespace(tables={"plan_fact": pf}, as_of=dt.datetime(2026, 11, 30, 12))


def test_plan_chart_labels_right_of_the_marker_and_department_in_its_own_panel():
    from b24reports.views.plan import plan_fact_chart

    labels = {"employee_id": {1: "Иванова Анна", 2: "Петров Пётр"}, "department_id": {7: "Продажи"}}
    fig = plan_fact_chart(_plan_result(), "ru", labels)
    texts = [tr for tr in fig.data if tr.type == "scatter" and tr.mode == "text"]
    assert len(texts) == 2
    people, dept = texts
    # rows bottom-up: Петров (plan 500k, fact 600k, projection 650k), Иванова (1M, 840k, 1.1M)
    assert list(people.y) == ["Петров Пётр", "Иванова Анна"]
    # each marker (650k, 1.1M) sits within 12 % of the axis top (1.1M) right of its bar's end
    # (600k, 1M): the label starts past it
    assert list(people.x) == [650_000.0, 1_100_000.0]
    assert list(people.text) == ["\u2002120 %", "\u200284 %"] and people.textposition == "middle right"
    assert not any(getattr(tr, "text", None) for tr in fig.data if tr.type == "bar")  # no label under the marker
    # the department (plan 15M) has its own panel and axis: the managers' axis ends at 1.1M × 1.18
    assert list(dept.y) == ["Продажи (отдел)"] and dept.xaxis == "x2" and list(dept.text) == ["\u200210 %"]
    assert tuple(fig.layout.xaxis.range) == pytest.approx((0, 1_298_000.0))
    assert tuple(fig.layout.xaxis2.range) == pytest.approx((0, 17_700_000.0))
    # same bar thickness in both panels: domain height per row equal (2 manager rows, 1 department row)
    d1, d2 = fig.layout.yaxis.domain, fig.layout.yaxis2.domain
    assert (d1[1] - d1[0]) / 2 == pytest.approx(d2[1] - d2[0], rel=1e-6)
    assert fig.layout.height == 34 * 3 + 140 + 70


def test_plan_chart_without_department_row_is_one_panel():
    from b24reports.views.plan import plan_fact_chart

    res = _plan_result()
    res.tables["plan_fact"] = res.tables["plan_fact"].iloc[:2]
    fig = plan_fact_chart(res, "en", {})
    assert "xaxis2" not in fig.layout and fig.layout.height == 300  # max(300, 34 × 2 + 140)
    assert [list(tr.text) for tr in fig.data if tr.type == "scatter" and tr.mode == "text"] == [["\u2002120 %", "\u200284 %"]]


def test_long_month_axis_labels_every_other_month():
    from b24reports.views.dynamics import period_axis

    keys = [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)][:21]  # 21 months: 2025-01 … 2026-09
    ax = period_axis(keys, "en")
    # ceil(21 / 12) = 2: every 2nd month labelled, from the first; every month stays a category
    assert ax["tickvals"] == keys[::2] and ax["ticktext"][:3] == ["Jan 2025", "Mar 2025", "May 2025"]
    assert ax["categoryarray"] == keys and len(ax["tickvals"]) == 11
