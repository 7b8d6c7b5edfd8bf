"""Layout of the shared report look (views.common): wide tables split to fit A4 portrait,
chart number separators by language."""


import pandas as pd
import plotly.graph_objects as go
from b24reports import reports
from b24reports.views import common as vc


def test_column_parts_repeat_keys_and_share_the_rest():
    # plan_fact: 14 columns, keys line/month/employee_id/department_id (4); 10 others over
    # parts of at most 10 columns -> 6 per part -> ceil(10/6) = 2 parts of ceil(10/2) = 5
    cols = ["line", "month", "employee_id", "department_id", "plan_amount", "plan_deals", "fact_amount",
            "fact_deals", "completion_pct", "deals_completion_pct", "gap", "projection", "remaining_days",
            "needed_per_day"]
    parts = vc._column_parts(cols)
    keys = cols[:4]
    assert parts == [keys + cols[4:9], keys + cols[9:14]]
    assert vc._column_parts(cols[:10]) == [cols[:10]]     # 10 columns fit: one table


def test_wide_table_split_in_html_one_caption_all_values():
    cols = ["employee_id"] + [f"c{i}_amount" for i in range(12)]   # 1 key + 12 money -> 2 parts of 6
    df = pd.DataFrame({c: [i + 1] for i, c in enumerate(cols)})
    h = vc.table_html(df, cols, "ru", title="T")
    # two A4 parts (print only) and the whole table (screen only: issue 20, a 1,300 px window
    # showed two stacked halves)
    assert h.count("<table") == 3 and h.count('class="b24-caption"') == 1
    assert h.count("b24-part b24-print-only") == 2 and h.count("b24-screen-only") == 1
    assert h.count("b24-wide") == 3                       # 7 columns each, 13 whole -> compact style
    # the second print part says it goes on (same rows, other columns): the first and the whole do not
    assert h.count("Продолжение таблицы: те же строки, остальные столбцы") == 1
    chunks = h.split("<table")  # [caption, part 1 + what precedes part 2, part 2, whole]
    assert "Продолжение таблицы" in chunks[1] and "Продолжение таблицы" not in chunks[2] + chunks[3]
    assert 'class="b24-cont b24-print-only"' in chunks[1]
    assert h.count("<td class=\"num\">1</td>") == 3        # the key column in both parts and the whole
    assert "13" in h.split("<table")[2] and "13" not in h.split("<table")[1]  # last column in part 2
    whole = h.split("<table")[3]
    assert whole.count("<th>") == 13 and "b24-screen-only" in whole
    assert ".b24-screen-only{display:none !important}" in vc.CSS and ".b24-print-only{display:none}" in vc.CSS
    live = vc.table_html(df, cols, "ru", title="T", keys=("employee_id",))  # a dashboard: whole only
    assert live.count("<table") == 1 and "b24-print-only" not in live


def test_month_cells_do_not_wrap_and_read_as_on_the_charts():
    """A month cell stays on one line and reads as the charts' axes do («ноя 2026», "Nov 2026"):
    a fresh reader saw «2025-12» in the tables beside «дек 2025» on the charts. Excel and
    metrics.json keep the sortable key."""
    h = vc.table_html(pd.DataFrame({"month": ["2026-11"], "won_deals": [3]}), ["month", "won_deals"], "ru")
    assert '<td class="nw">ноя 2026</td>' in h
    en = vc.table_html(pd.DataFrame({"month": ["2026-11", "overdue"]}), ["month"], "en")
    assert '<td class="nw">Nov 2026</td>' in en and '<td class="nw">overdue</td>' in en


def test_style_figure_separators_by_language_no_si_ticks():
    ru = vc.style_figure(go.Figure(go.Bar(x=[1], y=[5_000_000])), lang="ru")
    assert ru.layout.separators == ", "                  # decimal comma, space thousands: 69,2 / 5 000 000
    axis = ru.layout.template.layout.yaxis  # every axis, from the report template
    assert axis.exponentformat == "none" and axis.separatethousands is True
    en = vc.style_figure(go.Figure(go.Bar(x=[1], y=[2])), lang="en")
    assert en.layout.separators == ".,"


def test_whole_number_column_without_decimals():
    NB = "\u00a0"
    df = pd.DataFrame({"employee_id": [1, 2], "weighted": [1974.0, 12.0], "value": [1.25, 1.0]})
    h = vc.table_html(df, ["employee_id", "weighted", "value"], "ru")
    assert f">1{NB}974<" in h and ">12<" in h           # whole column: 1974.0 -> "1 974"
    assert ">1,25<" in h and ">1,00<" in h              # a column with a fraction keeps 2 decimals
    assert f">1{NB}974<" in vc.kpi_cards([("w", 1974.0, "number")], "ru")


def test_english_money_in_rubles_has_a_space():
    from b24reports.core.i18n import format_money

    # en has no ruble symbol: Babel gives "RUB88,255,000"; CLDR spacing wants "RUB 88,255,000"
    assert format_money(88_255_000, "RUB", "en") == "RUB\u00a088,255,000"
    assert format_money(5, "USD", "en") == "$5"          # a symbol stays attached


def test_report_template_applied_either_way(monkeypatch):
    """Whether the report template is plotly's default (report kernels) or not (a figure styled
    anywhere else), a styled figure carries the report look: its colorway and width."""
    import json

    import plotly.io as pio

    def look(fig):
        layout = json.loads(pio.to_json(fig))["layout"]
        return layout["template"]["layout"]["colorway"], layout["width"]

    monkeypatch.setattr(pio.templates, "default", "plotly")
    assert look(vc.style_figure(go.Figure(go.Bar(x=[1], y=[2])))) == (vc.PALETTE, vc.FIG_WIDTH)
    vc.use_report_template()
    assert pio.templates.default == vc.TEMPLATE
    assert look(vc.style_figure(go.Figure(go.Bar(x=[1], y=[2])))) == (vc.PALETTE, vc.FIG_WIDTH)


def test_a_legend_above_the_plot_sits_below_the_title():
    """Issue 20: "Касания по видам" had its legend on the title. A legend above the plot now gets
    its rows of top margin and the title is pinned to the figure's top."""
    from types import SimpleNamespace

    import pandas as pd
    from b24reports.views import managers as mv
    from b24reports.views.common import LEGEND_ROW, TITLE_BAND, style_figure

    m = pd.DataFrame({"employee_id": [1], "calls_out": [3], "calls_in": [1], "meetings": [1], "emails_out": [2],
                      "other": [1], "touches": [8]})
    fig = mv.touches_by_kind(SimpleNamespace(tables={"managers": m}), "ru", {1: "Иванова Анна"})
    style_figure(fig, "Касания по видам", lang="ru")
    # legend names at ~7 px a character + 45 px: 862 px in all, more than the 440 px of plot width
    # assumed; the widest ("Прочие касания (чаты, линии)", 241 px) fits once a row: 5 rows, as
    # plotly.js draws it
    assert fig.layout.margin.t == TITLE_BAND + 5 * LEGEND_ROW == 164
    assert (fig.layout.title.y, fig.layout.title.yref, fig.layout.title.yanchor) == (1, "container", "top")
    plain = style_figure(mv.conversion_bars(SimpleNamespace(tables={"managers": m.assign(
        conversion_pct=[50.0], created_deals=[2])}), "ru", {}), "Конверсия", lang="ru")
    assert plain.layout.margin.t is None and plain.layout.title.yref is None  # no legend above: as before


def test_a_long_list_stops_in_the_pdf_with_a_note():
    """Issue 20: the funnel PDF ran to 13 pages, six of them deal lists. A list (a table with
    links) shows PRINT_ROWS rows in print, then "и ещё N строк — полный список в Excel"; the
    screen keeps every row it showed."""
    df = pd.DataFrame({"id": range(1, 101), "url": [f"https://a.bitrix24.ru/crm/deal/details/{i}/" for i in range(1, 101)]})
    h = vc.table_html(df, ["id", "url"], "ru")
    assert vc.PRINT_ROWS == 25
    assert h.count('<tr class="b24-screen-only">') == 75 and h.count("<tr>") == 1 + 25  # header + 25 rows
    assert '<div class="b24-more b24-print-only">… и ещё 75 строк — полный список в Excel</div>' in h
    # with max_rows the screen note counts from max_rows, the print note from PRINT_ROWS
    h = vc.table_html(df, ["id", "url"], "en", max_rows=60)
    assert '<div class="b24-more b24-screen-only">… and 40 more rows — full list in Excel</div>' in h
    assert '<div class="b24-more b24-print-only">… and 75 more rows — full list in Excel</div>' in h
    # a short list, or one only a few rows over, is printed whole
    assert "b24-print-only" not in vc.table_html(df.head(30), ["id", "url"], "ru")
    # a table without links up to PRINT_LONG rows is not a list: printed whole
    assert "b24-print-only" not in vc.table_html(df.head(40)[["id"]], ["id"], "ru")


def test_more_rows_note_agrees_with_its_number():
    import pandas as pd
    from b24reports.views.common import table_html, warnings_html

    df = pd.DataFrame({"line": [1, 2, 3]})
    assert "… и ещё 1 строка — полный список в Excel" in table_html(df, ["line"], "ru", max_rows=2)
    assert "… and 1 more row — full list in Excel" in table_html(df, ["line"], "en", max_rows=2)
    assert "… and 1 more warning — full list in Excel" in warnings_html(["w"] * 3, "en", limit=2)
    assert "… и ещё 2 замечания — полный список в Excel" in warnings_html(["w"] * 4, "ru", limit=2)
    assert "… и ещё 5 строк" in table_html(pd.DataFrame({"line": range(7)}), ["line"], "ru", max_rows=2)


def _mtd() -> pd.DataFrame:
    return pd.DataFrame({"employee_id": pd.array([None, 3], dtype="Int64"), "month": ["2026-11", "2026-11"],
                         "mtd_amount": [100.0, 40.0], "prev_mtd_amount": [80.0, 50.0], "mtd_deals": [3, 1],
                         "prev_mtd_deals": [2, 2], "change_pct": [25.0, -20.0]})


def test_html_table_names_the_team_row():
    spec = reports.get("plan").tables["mtd_compare"]
    out = vc.table_html(_mtd(), spec, "ru", labels={"employee_id": {3: "Козлов Дмитрий"}}, table_id="mtd_compare")
    first, second = out.split("<tr>")[2:4]  # [1] is the header row
    assert first.startswith("<td>Вся команда</td>") and "Козлов Дмитрий" in second


def test_parts_of_one_table_share_one_type_size():
    # a seventh fresh reader: the second part of a split table came in a larger font (a part of 7
    # columns took the compact style, the part of 6 after it did not)
    cols = ["employee_id"] + [f"c{i}_amount" for i in range(11)]   # 12 columns -> parts [1+6, 1+5]
    df = pd.DataFrame({c: [i + 1] for i, c in enumerate(cols)})
    parts = vc._column_parts(cols)
    assert [len(p) for p in parts] == [7, 6]
    h = vc.table_html(df, cols, "ru", title="T")
    tables = h.split("<table")[1:]
    assert len(tables) == 3 and all("b24-wide" in t.split(">")[0] for t in tables)


def test_chart_money_and_percent_labels_are_written_as_the_tables_write_them():
    # a seventh fresh reader: English charts said "RUB74.2M", "−RUB2.1M" and "158 %" beside tables
    # with "RUB 1,000" and "18.1%"
    from types import SimpleNamespace

    from b24reports.views.forgotten import compact_money
    from b24reports.views.managers import conversion_bars

    assert compact_money(74_200_000, "RUB", "en") == "RUB\u00a074.2M"
    assert compact_money(-2_100_000, "RUB", "en") == "−RUB\u00a02.1M"
    assert compact_money(-974_000, "RUB", "ru") == "−974\u00a0тыс.\u00a0₽"
    assert compact_money(74_200_000, "USD", "en") == "$74.2M"
    m = pd.DataFrame({"employee_id": pd.array([1, 2], dtype="Int64"), "conversion_pct": [64.12, 28.7],
                      "created_deals": [131, 40]})
    res = SimpleNamespace(tables={"managers": m}, params={"currency": "RUB"})
    assert list(conversion_bars(res, "en", {1: "A", 2: "B"}).data[0].text) == ["28.7%", "64.1%"]
    assert list(conversion_bars(res, "ru", {1: "A", 2: "B"}).data[0].text) == ["28,7\u00a0%", "64,1\u00a0%"]
