"""The dashboard layer without a browser: presets, URL prefill, filter choices, click targets,
recompute on filter change (numbers equal ``ReportSpec.run`` for that filter), Excel export,
the serve command's configuration, and that static snapshots hold no widgets."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from b24reports.outputs import dashboard as d
from b24reports.outputs.dashboard.cells import WIDGET_VIEW
from b24reports.outputs import render
from b24reports import reports
from b24reports.outputs import serve
from b24reports.core.errors import BadParameter, StoreError

D = dt.date


def test_query_to_raw_aliases_and_unknown_keys():
    spec = reports.get("marketing")
    q = "employee=12&from=2026-02-01&to=2026-02-28&source=WEB&source=CALL&voila-template=lab&lang=en&bogus=1"
    assert d.query_to_raw(q, spec) == {"employees": "12", "date_from": "2026-02-01", "date_to": "2026-02-28",
                                       "sources": "WEB,CALL", "lang": "en"}
    # managers does not declare sources: dropped; a preset comes back as "preset"
    assert d.query_to_raw("source=WEB&period=last_month", reports.get("managers")) == {"preset": "last_month"}
    assert d.query_to_raw("", spec) == {}


def test_server_params(monkeypatch):
    spec = reports.get("managers")
    monkeypatch.setenv(d.PARAMS_ENV, json.dumps({"as_of": "2026-11-30", "plan": "p.csv", "lang": None}))
    # plan is not a managers parameter, None means default
    assert d.server_params(spec) == {"as_of": "2026-11-30"}
    monkeypatch.setenv(d.PARAMS_ENV, "[1, 2]")
    with pytest.raises(BadParameter, match=d.PARAMS_ENV):
        d.server_params(spec)
    monkeypatch.delenv(d.PARAMS_ENV)
    assert d.server_params(spec) == {}


def test_click_target():
    labels = {"employee_id": {3: "Иванов Иван", 5: "Петрова Анна"}, "source_id": {"WEB": "Сайт"}}
    declared = {"employees", "sources"}
    # a manager's name on the y axis of a bar chart
    assert d.click_target([120.0, "Петрова Анна", "won"], labels, declared) == ("employees", "5")
    # the trace name carries the manager (a line per manager)
    assert d.click_target(["2026-03", 7, "Иванов Иван"], labels, declared) == ("employees", "3")
    assert d.click_target(["Сайт", 10, None], labels, declared) == ("sources", "WEB")
    # sources not declared: a source name is no target; a month on x drills to that month
    assert d.click_target(["Сайт", 10, None], labels, {"employees"}) is None
    assert d.click_target(["2026-03-01", 10, "won"], labels, set()) == ("month", "2026-03-01")
    assert d.click_target([dt.datetime(2026, 4, 17, 5), 1], labels, set()) == ("month", "2026-04-01")
    assert d.click_target([1.5, 2.5], labels, declared) is None


def test_filter_options(demo_dataset):
    import pandas as pd

    opts = d.filter_options(demo_dataset, reports.get("marketing"), "ru")
    assert set(opts) == {"pipelines", "departments", "employees", "sources", "utm_source", "utm_medium", "utm_campaign"}
    for name, items in opts.items():
        assert items[0] == ("Все", ""), name
    assert len(opts["pipelines"]) - 1 == len(demo_dataset.pipelines)
    assert len(opts["departments"]) - 1 == len(demo_dataset.departments)
    assert len(opts["employees"]) - 1 == len(demo_dataset.users)
    assert opts["sources"][-1] == ("не указан", "-")
    leads = demo_dataset.leads
    assert [v for _l, v in opts["utm_source"][1:]] == sorted({str(x) for x in leads["utm_source"].dropna() if str(x).strip()})
    # a sub-department is listed after its parent, indented one level deeper
    deps = demo_dataset.departments
    child = deps[deps["parent"].notna()].iloc[0]
    labels = dict((v, lbl) for lbl, v in opts["departments"])
    parent_label, child_label = labels[str(int(child["parent"]))], labels[str(int(child["id"]))]
    indent = lambda s: len(s) - len(s.lstrip("\u00a0"))  # noqa: E731
    assert indent(child_label) == indent(parent_label) + 2
    # dismissed employees come last and say so
    users = demo_dataset.users
    gone = {str(int(i)) for i, a in zip(users["id"], users["active"]) if not pd.isna(a) and not bool(a)}
    assert gone, "the demo portal has a dismissed manager"
    marked = {v for lbl, v in opts["employees"][1:] if lbl.endswith(" (не работает)")}
    assert marked == gone and {v for _l, v in opts["employees"][-len(gone):]} == gone
    # managers declares no source/UTM filters
    assert "sources" not in d.filter_options(demo_dataset, reports.get("managers"), "en")


def test_dashboard_recomputes_like_spec_run(demo_dataset, demo_as_of):
    """A filter change gives exactly the result of ReportSpec.run with that filter."""
    spec = reports.get("managers")
    dash = d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of})
    # default period of as_of 2026-11-30: Nov 2025 .. Oct 2026
    assert (dash.date_from, dash.date_to) == (D(2025, 11, 1), D(2026, 10, 31))
    m = dash.result.tables["managers"].sort_values(["won_amount", "employee_id"], ascending=[False, True])
    uid = int(m.iloc[0]["employee_id"])
    dash.set_filter("employees", str(uid))
    want = spec.run(demo_dataset, {"as_of": demo_as_of, "employees": str(uid)})
    assert dash.generation == 1
    assert dash.result.tables["managers"]["won_amount"].sum() == want.tables["managers"]["won_amount"].sum()
    assert list(dash.result.tables["managers"]["employee_id"]) == [uid]
    # drill down to one month: March 2026, the whole month
    dash.set_filter("month", "2026-03-01")
    assert (dash.date_from, dash.date_to) == (D(2026, 3, 1), D(2026, 3, 31))
    want = spec.run(demo_dataset, {"as_of": demo_as_of, "employees": str(uid), "date_from": "2026-03-01",
                                   "date_to": "2026-03-31"})
    assert dash.result.tables["managers"]["won_deals"].sum() == want.tables["managers"]["won_deals"].sum()
    # the current month is capped at as_of's date
    dash.set_filter("month", "2026-11-01")
    assert dash.date_to == D(2026, 11, 30)
    # clearing the filter brings the whole team back
    dash.set_filter("employees", None)
    assert len(dash.result.tables["managers"]) == len(spec.run(demo_dataset, dash.raw_params()).tables["managers"])
    # an unknown employee is refused and the state is kept
    with pytest.raises(BadParameter):
        dash.set_filter("employees", "999999")
    assert "employees" not in dash.filters
    with pytest.raises(BadParameter, match="sources"):
        dash.set_filter("sources", "WEB")  # managers has no source filter


def test_drill_month_to_day_and_back(demo_dataset, demo_as_of):
    """A month clicked on a time chart shows that month by day; a day clicked then narrows to
    that day; the drill chip goes back step by step."""
    spec = reports.get("dynamics")
    dash = d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of})
    start = (dash.date_from, dash.date_to)
    # a bar of March 2026 on the monthly won chart (category axis: x = "2026-03")
    target = dash.click_target_of({"kind": "point", "values": ["2026-03", 1500000.0, "won_amount", None, None, None, None]})
    assert target == ("month", "2026-03-01")
    dash.set_filter(*target)
    assert (dash.date_from, dash.date_to) == (D(2026, 3, 1), D(2026, 3, 31))
    days = dash.result.tables["won_by_period"]
    assert len(days) == 31 and days["period"].iloc[0] == "2026-03-01" and days["period"].iloc[-1] == "2026-03-31"
    # the 31 days add up to March of the monthly report for the same filters
    month = spec.run(demo_dataset, {"as_of": demo_as_of, "date_from": "2026-03-01", "date_to": "2026-03-31"})
    assert days["won_amount"].sum() == pytest.approx(month.tables["won_by_period"]["won_amount"].sum())
    assert days["won_deals"].sum() == month.tables["won_by_period"]["won_deals"].sum()
    # now a day on the daily axis narrows to that day
    target = dash.click_target_of({"kind": "point", "values": ["2026-03-05", 0.0, None, None, None, None, None]})
    assert target == ("day", "2026-03-05")
    dash.set_filter(*target)
    assert (dash.date_from, dash.date_to) == (D(2026, 3, 5), D(2026, 3, 5))
    assert list(dash.result.tables["won_by_period"]["period"]) == ["2026-03-05"]
    # a reload (or a copied link) reopens the same view: the day, its day axis and both steps back
    query = dash.share_query()
    assert query == "from=2026-03-05&to=2026-03-05&drill=2025-11-01_2026-10-31&drill=2026-03-01_2026-03-31_day&granularity=day"
    again = d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of, **d.query_to_raw(query, spec)})
    assert (again.date_from, again.date_to) == (D(2026, 3, 5), D(2026, 3, 5))
    assert list(again.result.tables["won_by_period"]["period"]) == ["2026-03-05"]
    assert again.drills == dash.drills and again.share_query() == query
    again.set_filter("drill_up", None)
    again.set_filter("drill_up", None)
    assert (again.date_from, again.date_to) == start and again.result.params["granularity"] == "month"
    with pytest.raises(BadParameter, match="drill"):
        d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of, "drill": "2026-03-31_2026-03-01"})
    dash.set_filter("drill_up", None)
    assert (dash.date_from, dash.date_to) == (D(2026, 3, 1), D(2026, 3, 31))
    dash.set_filter("drill_up", None)
    assert (dash.date_from, dash.date_to) == start and "granularity" not in dash.base
    assert dash.result.params["granularity"] == "month"
    # a report without granularity (managers) only narrows the period
    dash = d.Dashboard(reports.get("managers"), demo_dataset, {"as_of": demo_as_of})
    dash.set_filter("month", "2026-03-01")
    assert (dash.date_from, dash.date_to) == (D(2026, 3, 1), D(2026, 3, 31)) and "granularity" not in dash.base


def test_bridge_messages_refilter(demo_dataset, demo_as_of):
    """Clicks reported by the page: a manager's table cell or chart point sets the employee
    filter; a source cell on a report without a source filter, or a value axis, does nothing."""
    from b24reports.outputs.nb import ReportView

    spec = reports.get("managers")
    dash = d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of})
    dash.view = ReportView(dash.result, demo_dataset)
    uid = int(dash.result.tables["managers"]["employee_id"].iloc[0])
    dash.on_bridge_message({"kind": "key", "key": "employee_id", "value": str(uid)})
    assert dash.filters == {"employees": str(uid)} and dash.generation == 1
    assert list(dash.result.tables["managers"]["employee_id"]) == [uid]
    dash.on_bridge_message({"kind": "key", "key": "source_id", "value": "WEB"})  # managers: no source filter
    dash.on_bridge_message({"kind": "point", "values": [12.5, 3.0, None, None, None, None, None]})
    assert dash.generation == 1
    other = int(next(e for e in dash.dataset.users["id"] if int(e) != uid and int(e) in dash.view.labels["employee_id"]))
    name = dash.view.labels["employee_id"][other]
    # a bar of a horizontal chart: the manager's name on y, customdata a list
    dash.set_filter("employees", None)
    dash.on_bridge_message({"kind": "point", "values": [100.0, name, "won", [other, "x"], None, None, None]})
    assert dash.filters == {"employees": str(other)}


def test_live_tables_mark_key_cells():
    import pandas as pd

    from b24reports.views.common import table_html

    df = pd.DataFrame({"employee_id": [5], "won_amount": [1000.0]})
    labels = {"employee_id": {5: "Иванова <Анна>"}}
    live = table_html(df, ["employee_id", "won_amount"], labels=labels, keys={"employee_id"})
    assert '<td data-b24r-key="employee_id" data-b24r-value="5">Иванова &lt;Анна&gt;</td>' in live
    static = table_html(df, ["employee_id", "won_amount"], labels=labels)
    assert "data-b24r" not in static and "<td>Иванова &lt;Анна&gt;</td>" in static


def test_warm_up_of_a_preheated_kernel(monkeypatch, demo_dataset, demo_as_of):
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.delenv("QUERY_STRING", raising=False)
    assert d.preheating()
    monkeypatch.setenv("QUERY_STRING", "employee=3")
    assert not d.preheating()
    # the warm-up run returns its as_of for the viewer's run (the demo's fixed now here)
    assert d.warm(reports.get("funnel"), demo_dataset, {"as_of": demo_as_of}) == "2026-11-30T12:00:00+03:00"
    assert d.warm(reports.get("funnel"), demo_dataset, {"as_of": "not a date"}) is None


def test_dashboard_preset_from_url(demo_dataset, demo_as_of):
    dash = d.Dashboard(reports.get("tasks"), demo_dataset, {"as_of": demo_as_of, "preset": "quarter_to_date"})
    assert (dash.date_from, dash.date_to) == (D(2026, 10, 1), D(2026, 11, 30))
    assert dash.result.params["date_from"] == D(2026, 10, 1)


def test_share_query_reopens_the_same_state(demo_dataset, demo_as_of):
    """The address-bar query of the current state, read back by query_to_raw, gives the same
    filters and period; the default period (last 12 months) is left out so a link keeps rolling."""
    spec = reports.get("tasks")
    dash = d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of})
    assert dash.share_query() == ""  # defaults only
    dash.set_filter("employees", "3", redraw=False)
    assert dash.share_query() == "employee=3"
    dash.set_period(D(2026, 10, 1), D(2026, 10, 31), redraw=False)  # as_of 2026-11-30: last month
    assert dash.share_query() == "period=last_month&employee=3"
    dash.set_period(D(2026, 2, 3), D(2026, 4, 5), redraw=False)
    q = dash.share_query()
    assert q == "from=2026-02-03&to=2026-04-05&employee=3"
    assert d.query_to_raw(q, spec) == {"date_from": "2026-02-03", "date_to": "2026-04-05", "employees": "3"}


def test_excel_export_is_what_is_shown(demo_dataset, demo_as_of):
    import openpyxl

    spec = reports.get("funnel")
    dash = d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of})
    dash.set_period(D(2026, 9, 1), D(2026, 9, 30))
    wb = openpyxl.load_workbook(io.BytesIO(dash.excel_bytes()))
    for tid, ts in spec.tables.items():
        ws = wb[render.xlsx_sheet_names(spec, "ru")[tid]]
        # header row + one row per row of the shown table
        assert ws.max_row == len(dash.result.tables[tid]) + 1, tid
    assert dash.excel_filename() == "funnel_2026-09-01_2026-09-30.xlsx"


def test_landing_and_voila_argv(tmp_path):
    html = serve.landing_html("en")
    for spec in reports.all_reports():
        assert f'data-report="{spec.name}"' in html
        assert f'href="/voila/render/{spec.notebook_path.name}?lang=en"' in html
    with pytest.raises(BadParameter, match="lang"):
        serve.landing_html("de")
    argv = serve.voila_argv(port=9000, pool_size=2, cull_idle_timeout=300)
    assert "--port=9000" in argv and "--pool_size=2" in argv and "--preheat_kernel=True" in argv
    assert "--MappingKernelManager.cull_idle_timeout=300" in argv and "--Voila.ip=127.0.0.1" in argv
    assert not any("preheat" in a for a in serve.voila_argv(pool_size=0))
    jp = serve.prepare_template(tmp_path)
    tpl = jp / "voila" / "templates" / serve.TEMPLATE_NAME
    assert (tpl / "conf.json").is_file() and (tpl / "tree-lab.html").is_file()
    assert 'data-report="funnel"' in (tpl / "b24r_landing.html").read_text(encoding="utf-8")
    with pytest.raises(StoreError):
        serve.VoilaServer(tmp_path / "missing.duckdb")


def test_not_voila_means_static(monkeypatch, demo_store, demo_as_of):
    """Outside Voila open_report builds no dashboard (static snapshots hold no widgets)."""
    from b24reports.outputs import nb

    monkeypatch.delenv("VOILA_KERNEL_ID", raising=False)
    assert not d.is_voila()
    r = nb.open_report("tasks", store=str(demo_store), params={"as_of": demo_as_of})
    assert getattr(r, "figure_hook", None) is None
    monkeypatch.setenv("VOILA_KERNEL_ID", "k")
    assert d.is_voila()


def test_static_snapshot_has_no_widgets(demo_store, demo_as_of, tmp_path):
    """The same notebook run by nbclient (as papermill does) outputs no widget views."""
    import nbformat
    from nbclient import NotebookClient

    spec = reports.get("tasks")
    nbk = nbformat.read(spec.notebook_path, as_version=4)
    for c in nbk.cells:
        if "parameters" in c.get("metadata", {}).get("tags", []):
            c.source += f"\nstore = {str(demo_store)!r}\nas_of = {demo_as_of!r}\n"
    NotebookClient(nbk, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    mimes = {m for c in nbk.cells for o in c.get("outputs", []) for m in o.get("data", {})}
    assert "text/html" in mimes
    assert "application/vnd.jupyter.widget-view+json" not in mimes


def test_stage_click_refilters_funnel(demo_dataset, demo_as_of):
    """A stage clicked in the funnel (its id in the point's customdata, or a table cell) limits the
    report to deals now in that stage; a stage name two pipelines share is no target by itself."""
    from b24reports.outputs.nb import ReportView

    spec = reports.get("funnel")
    dash = d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of})
    dash.view = ReportView(dash.result, demo_dataset)
    labels = dash.view.labels
    # the funnel chart's bar of stage PREPARATION: x = reached, y = its name, customdata = its id
    pt = {"kind": "point", "values": [40, labels["stage_id"]["PREPARATION"], "reached", "PREPARATION", None, None, None]}
    assert dash.click_target_of(pt) == ("stages", "PREPARATION")
    dash.on_bridge_message(pt)
    want = spec.run(demo_dataset, {"as_of": demo_as_of, "stages": "PREPARATION"})
    assert set(dash.result.tables["deals"]["stage_id"]) == {"PREPARATION"}
    assert len(dash.result.tables["deals"]) == len(want.tables["deals"]) > 0
    # the stage's current deals in the unfiltered funnel = the deals left after the click
    full = spec.run(demo_dataset, {"as_of": demo_as_of}).tables["stages"]
    assert int(full.loc[full["stage_id"] == "PREPARATION", "current_deals"].iloc[0]) == len(want.tables["deals"])
    # "Сделка успешна" is the name of WON and of C1:WON: ambiguous without the id
    won_name = labels["stage_id"]["WON"]
    assert labels["stage_id"]["C1:WON"] == won_name
    assert d.click_target([3, won_name, "reached"], labels, {"stages"}) is None
    assert d.click_target([3, won_name, "reached", "C1:WON"], labels, {"stages"}) == ("stages", "C1:WON")
    # a table cell of the stage column
    dash.set_filter("stages", None)
    dash.on_bridge_message({"kind": "key", "key": "stage_id", "value": "C1:NEW"})
    assert set(dash.result.tables["deals"]["stage_id"]) <= {"C1:NEW"} and dash.filters == {"stages": "C1:NEW"}
    with pytest.raises(BadParameter, match="stages"):
        dash.set_filter("stages", "NO_SUCH_STAGE")


def test_error_card_names_the_input_and_escapes_it():
    e = BadParameter("employees", "<b>99</b>", "unknown id")
    html_ = d.error_card(e, "ru")
    assert "Отчёт не открылся" in html_ and "&lt;b&gt;99&lt;/b&gt;" in html_ and "<b>99</b>" not in html_
    assert "could not open" in d.error_card(e, "en")


def test_error_card_speaks_the_page_language_and_the_links_names():
    # the link says ?employee=99999; validate_against names the parameter "employees"
    e = BadParameter("employees", "99999", "unknown id 99999 (not in the store's users)")
    assert "Параметр ссылки employee=99999: сотрудника с id 99999 нет в данных портала" in d.error_card(e, "ru")
    assert "Link parameter employee=99999: unknown id 99999 (not in the store&#x27;s users)" in d.error_card(e, "en")
    e = BadParameter("date_from", "2026-13-01", "month must be in 1..12; expected a date YYYY-MM-DD, e.g. 2026-01-31")
    assert "Параметр ссылки from=2026-13-01: нужна дата в формате ГГГГ-ММ-ДД, например 2026-01-31" in d.error_card(e, "ru")
    # a reason with no translation stays as it is
    e = BadParameter("lookback_months", "0", "must be ≥ 1")
    assert "Параметр ссылки lookback_months=0: must be ≥ 1" in d.error_card(e, "ru")


def test_default_plan_found_from_any_working_directory(tmp_path, monkeypatch):
    """Voila starts kernels in notebooks/: the default params/plan.csv is still the project's."""
    from b24reports.ingest.plan_file import DEFAULT_PLAN, plan_path
    from b24reports.core.paths import NOTEBOOKS_DIR

    monkeypatch.chdir(tmp_path)
    assert plan_path(None) == NOTEBOOKS_DIR.parent / DEFAULT_PLAN
    assert plan_path(None).is_file()
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "plan.csv").write_text("month,employee_id,amount\n", encoding="utf-8")
    assert plan_path(None).resolve() == (tmp_path / "params" / "plan.csv").resolve()  # the working directory first
    assert str(plan_path("missing.csv")) == "missing.csv"  # a given path stays as given (the error names it)


def test_figure_json_sends_the_template_apart():
    """figure_json: the figure without its template (what changes on a refilter) and the
    template alone (sent to a chart slot once), each valid plotly JSON."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from b24reports.views import common as vc

    fig = vc.style_figure(go.Figure(go.Bar(x=["Иванов <b>"], y=[1_250_000])), "T", lang="ru")
    figure, template = d.figure_json(fig)
    f, t = json.loads(figure), json.loads(template)
    assert "template" not in f["layout"]
    assert f["data"] == [{"type": "bar", "x": ["Иванов &lt;b&gt;"], "y": [1250000]}]
    assert (f["layout"]["width"], f["layout"]["separators"]) == (vc.FIG_WIDTH, ", ")
    assert t["layout"]["yaxis"]["separatethousands"] is True and t["layout"]["height"] == vc.FIG_HEIGHT
    assert t == json.loads(pio.json.to_json_plotly(fig.layout.template.to_plotly_json()))


@pytest.fixture
def shell():
    """An in-process IPython shell (what get_ipython() returns), dropped afterwards so later
    tests see none."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    yield ip
    InteractiveShell.clear_instance()


def test_refilter_updates_outputs_in_place(shell, demo_dataset, demo_as_of):
    """A refilter re-runs the remembered cells, but the page's cells keep the same outputs
    (widget views): a chart slot gets the new figure (template not resent), an Output per
    display gets new HTML only where it changed, and an unchanged display sends nothing."""
    from b24reports.outputs.nb import ReportView

    ip = shell
    spec = reports.get("managers")
    dash = d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of})
    dash.view = ReportView(dash.result, demo_dataset)
    dash.view.figure_hook = dash.show_figure
    ip.user_ns["r"] = dash.view
    dash.capture_cells("")
    try:
        ip.run_cell(
            "import plotly.graph_objects as go\n"
            "m = r.result.tables['managers']\n"
            "r.md('## Менеджеры')\n"
            "r.html(f'<p class=n>{int(m[\"won_deals\"].sum())}</p>')\n"
            "r.figure(go.Figure(go.Bar(x=[str(i) for i in m['employee_id']], y=list(m['won_deals']))))\n")
    finally:
        ip.events.unregister("pre_run_cell", dash._pre_run_cell)
        ip.events.unregister("post_run_cell", dash._post_run_cell)
    (_src0, out0), (_src, out) = dash.cells
    assert out0.outputs == ()
    shown = out.outputs
    assert len(shown) == 3 and all(WIDGET_VIEW in o["data"] for o in shown)
    md, html, chart = dash.slots[(1, "out", 0)], dash.slots[(1, "html", 1)], dash.slots[(1, "chart", 0)]
    team = int(dash.result.tables["managers"]["won_deals"].sum())
    assert html.html == f"<p class=n>{team}</p>"   # the report's HTML: an HtmlSlot, set in place
    assert md.outputs[0]["data"]["text/markdown"] == "## Менеджеры"
    assert json.loads(chart.figure)["data"][0]["y"] == list(dash.result.tables["managers"]["won_deals"])
    changes: list[str] = []
    md.observe(lambda ch: changes.append("md"), "outputs")
    html.observe(lambda ch: changes.append("html"), "html")
    chart.observe(lambda ch: changes.append(ch["name"]), ["figure", "template"])
    out.observe(lambda ch: changes.append("cell"), "outputs")
    m = dash.result.tables["managers"].sort_values(["won_deals", "employee_id"], ascending=[False, True])
    uid, won = int(m.iloc[0]["employee_id"]), int(m.iloc[0]["won_deals"])
    dash.set_filter("employees", str(uid))
    assert won < team
    assert sorted(changes) == ["figure", "html"]       # no cell re-render, no template, no markdown
    assert out.outputs == shown
    assert html.html == f"<p class=n>{won}</p>"
    f = json.loads(chart.figure)
    assert (f["data"][0]["x"], f["data"][0]["y"]) == ([str(uid)], [won])
    changes.clear()
    dash.refresh()                                      # same filters: nothing is sent
    assert changes == []


def test_plan_reads_no_period(shell, demo_dataset, demo_as_of, tmp_path):
    """Plan is anchored on as_of and the plan file's months: its dashboard has no period control,
    a click on a month does not drill, and its header names no period (funnel's does)."""
    from b24reports.outputs.nb import ReportView
    from b24reports.demo.plan import demo_plan

    plan = demo_plan(demo_dataset, demo_as_of, tmp_path / "plan.csv")
    spec = reports.get("plan")
    assert spec.period is False and reports.get("funnel").period is True
    dash = d.Dashboard(spec, demo_dataset, {"as_of": demo_as_of, "plan": str(plan)})
    bar = dash.widget()
    classes = {c for box in bar.children if hasattr(box, "children") for w in box.children for c in w._dom_classes}
    assert "b24r-f-preset" not in classes and "b24r-f-date_from" not in classes
    assert "b24r-f-employees" in classes
    month_click = {"kind": "point", "values": ["2026-03", 5, None, None, None, None, None]}
    assert dash.click_target_of(month_click) is None
    dyn = d.Dashboard(reports.get("dynamics"), demo_dataset, {"as_of": demo_as_of})
    assert dyn.click_target_of(month_click) == ("month", "2026-03-01")  # the same click drills on dynamics
    shown: list[str] = []
    for name, d_ in (("plan", dash), ("funnel", d.Dashboard(reports.get("funnel"), demo_dataset, {"as_of": demo_as_of}))):
        view = ReportView(d_.result, demo_dataset)
        shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data.get("text/html", ""))
        view.header()
        assert ("Период:" in "".join(shown)) is (name == "funnel"), name
        shown.clear()


def test_serve_stops_voila_and_its_kernels_on_sigterm(demo_store, tmp_path):
    """`kill PID` on `b24reports serve` stops it like Ctrl-C: Voila and its kernels exit too
    (they used to keep serving the port, orphaned). The plan dashboard's file is named on start."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    import psutil

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "b24reports.cli", "serve", "--store", str(demo_store),
                             "--port", str(port), "--pool-size", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "dashboards:" in line:
                break
        assert any("plan dashboard reads:" in x for x in lines), lines
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("voila" in " ".join(c.cmdline()) for c in children)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
