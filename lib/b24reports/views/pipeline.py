"""Views of the pipeline report (docs/metrics.md "pipeline"), from a computed ``ReportResult``.

:func:`summary_text` is the headline ("the pipeline fell from 125 M ₽ to 105 M ₽"),
:func:`history_text` says what the store knows and since when, :func:`waterfall_chart`
draws the steps from start to end (a click on a step lists its deals on a live dashboard),
:func:`net_change_chart` shows whose pipeline grew or shrank, and :func:`deals_table_html`
lists every deal with its change written out. No metric logic here: only words and shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from b24reports.core.i18n import currency_symbol, format_date, format_datetime, format_money, plural
from b24reports.core.texts import value_label
from b24reports.views.common import OUTCOME_COLORS, PALETTE
from b24reports.views.forgotten import compact_money

TEXT = {
    "ru": {
        "summary": "Открытая воронка {scope}: {start} → {end} ({delta}) с {t0} по {t1}.",
        "scope_all": "(все открытые сделки)",
        "scope_end": "с ожидаемым закрытием до {end}, просроченные тоже",
        "history": "История версий сделок начинается {start} (первая синхронизация). Смены стадий известны точно "
                   "(история стадий); сумма, дата закрытия, ответственный и воронка — только между синхронизациями: {syncs}.",
        "between": "между синхронизациями {a} и {b}", "sync_pair": "{a} и {b}",
        "no_syncs": "между {t0} и {t1} не было синхронизаций с изменениями сделок — изменения сумм и дат не видны",
        "too_early": "Сравнение с {t0} невозможно: история версий сделок начинается {start} (первая синхронизация). "
                     "Выберите дату сравнения не раньше начала истории.",
        "no_history": "В хранилище ещё нет версий сделок: сравнивать не с чем. Отчёт заполнится после второй синхронизации.",
        "start": "Было", "end": "Стало", "net": "Изменение", "moved": "Сделки с любыми изменениями (и вне горизонта)",
        "advanced": "продвинулась на {n} {stage}", "moved_back": "откатилась на {n} {stage}",
        "slipped": "дата закрытия позже на {n} {day} ({a} → {b})", "earlier": "дата закрытия раньше на {n} {day} ({a} → {b})",
        "amount": "сумма {a} → {b}", "owner": "ответственный: {a} → {b}", "pipeline": "воронка: {a} → {b}",
        "new": "новая", "won": "выиграна", "lost": "проиграна", "unchanged": "без изменений",
        "step_hover": "Шаг", "chart_net": "Изменение воронки по менеджерам", "open_value": "Открытая воронка",
        "net_won": "Выиграны (ушли из воронки)", "net_lost": "Проиграны", "net_other": "Прочие изменения",
        "net_note": "Выигрыш тоже уменьшает открытую воронку: зелёная часть — сделки, которые ушли из неё выигранными, "
                    "красная — проигранными, синяя — всё остальное (новые сделки, суммы, даты, передачи). Порядок — по изменению "
                    "без выигрышей: сверху те, чья воронка сократилась не из-за побед. "
                    "В скобках — итог менеджера: на сколько его открытая воронка выросла или уменьшилась.",
    },
    "en": {
        "summary": "Open pipeline {scope}: {start} → {end} ({delta}) from {t0} to {t1}.",
        "scope_all": "(every open deal)",
        "scope_end": "expected to close by {end}, overdue ones included",
        "history": "Deal version history starts {start} (the first sync). Stage moves are known exactly (stage "
                   "history); amount, close date, owner and pipeline changes only between two syncs: {syncs}.",
        "between": "between the syncs of {a} and {b}", "sync_pair": "{a} and {b}",
        "no_syncs": "no sync saw a deal change between {t0} and {t1}, so amount and date changes are not visible",
        "too_early": "Cannot compare with {t0}: deal version history starts {start} (the first sync). "
                     "Pick a compare date no earlier than the start of history.",
        "no_history": "The store has no deal versions yet: nothing to compare with. The report fills after the second sync.",
        "start": "Start", "end": "End", "net": "Net change", "moved": "Deals with any change (beyond the horizon too)",
        "advanced": "advanced {n} {stage}", "moved_back": "moved back {n} {stage}",
        "slipped": "close date {n} {day} later ({a} → {b})", "earlier": "close date {n} {day} earlier ({a} → {b})",
        "amount": "amount {a} → {b}", "owner": "owner: {a} → {b}", "pipeline": "pipeline: {a} → {b}",
        "new": "new", "won": "won", "lost": "lost", "unchanged": "unchanged",
        "step_hover": "Step", "chart_net": "Pipeline change by manager", "open_value": "Open pipeline",
        "net_won": "Won (left the pipeline)", "net_lost": "Lost", "net_other": "Other changes",
        "net_note": "A win lowers the open pipeline too: the green part is deals that left it as won, the red part "
                    "deals that left it as lost, the blue part everything else (new deals, amounts, dates, handovers). Managers are "
                    "ordered by the change apart from wins: on top, those whose pipeline shrank for other reasons. "
                    "In brackets: the manager's net change, how much their open pipeline grew or shrank.",
    },
}


def _t(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"])[key]


def _short(ts: Any, lang: str) -> str:
    """A sync moment as a short day: ``23.11`` (ru), ``Nov 23`` (en)."""
    full = format_date(ts, lang)
    return full[:5] if lang == "ru" else full.rsplit(",", 1)[0]


def _signed(value: float, cur: str, lang: str) -> str:
    return ("+" if value > 0 else "−" if value < 0 else "±") + compact_money(abs(value), cur, lang)


def summary_text(result: Any, lang: str = "ru") -> str:
    """One line: the measured pipeline's value at both moments and its change; or why there is
    no comparison (history starts later / no versions)."""
    n = result.notes
    if n["history_start"] is None:
        return _t(lang, "no_history")
    if n["too_early"]:
        return _t(lang, "too_early").format(t0=format_datetime(n["t0"], lang), start=format_datetime(n["history_start"], lang))
    cur = result.params["currency"]
    scope = _t(lang, "scope_all") if n["horizon_end"] is None else _t(lang, "scope_end").format(
        end=format_date(n["horizon_end"], lang))
    return _t(lang, "summary").format(scope=scope, start=compact_money(n["start"], cur, lang),
                                      end=compact_money(n["end"], cur, lang), delta=_signed(n["end"] - n["start"], cur, lang),
                                      t0=format_datetime(n["t0"], lang), t1=format_datetime(n["t1"], lang))


def history_text(result: Any, lang: str = "ru") -> str:
    """What the store knows: when version history starts and between which syncs amount, date,
    owner and pipeline changes were seen (e.g. «между синхронизациями 23.11 и 30.11»)."""
    n = result.notes
    if n["history_start"] is None or n["too_early"]:
        return ""
    moments = ([n["sync_before"]] if n["sync_before"] is not None else []) + list(n["syncs"])
    if len(moments) >= 2 and n["syncs"]:
        syncs = "; ".join(_t(lang, "sync_pair").format(a=_short(a, lang), b=_short(b, lang)) for a, b in zip(moments, moments[1:]))
    else:
        syncs = _t(lang, "no_syncs").format(t0=format_datetime(n["t0"], lang), t1=format_datetime(n["t1"], lang))
    return _t(lang, "history").format(start=format_datetime(n["history_start"], lang), syncs=syncs)


def kpis(result: Any, lang: str = "ru") -> list[tuple[str, Any, str]]:
    """Headline numbers: pipeline at start, at end, net change, deals that changed (``None``,
    shown "—", when there is no comparison: history starts later than the compare moment)."""
    n = result.notes
    start, end, changed = n["start"], n["end"], n["changed"]
    net = None if start is None else end - start
    return [(_t(lang, "start"), start, "money"), (_t(lang, "end"), end, "money"), (_t(lang, "net"), net, "money"),
            (_t(lang, "moved"), changed, "int")]


def step_color(step: str, amount: float) -> str:
    """Colour of a waterfall bar: start and end blue, «Выиграны» green (money won, not lost),
    «Проиграны» red, other rises green-blue, other falls orange, «Прочее» grey."""
    if step in ("start", "end"):
        return PALETTE[0]
    if step == "won":
        return OUTCOME_COLORS["won"]
    if step == "lost":
        return OUTCOME_COLORS["lost"]
    if step == "other":
        return "#9e9e9e"
    return PALETTE[5] if amount >= 0 else PALETTE[1]


def waterfall_chart(result: Any, lang: str = "ru") -> go.Figure | None:
    """Waterfall of table ``waterfall_total``: start, the signed steps, end — horizontal bars,
    one row per step from the top, floating on the running total, coloured by :func:`step_color`
    (won green, lost red), each labelled with its amount at the bar's right end. Each bar carries
    its step id as customdata (a click on a live dashboard lists that step's deals). ``None``
    when there is no comparison.

    Horizontal since the third reader of issue 20: upright bars put neighbouring labels side by
    side on one line («+1,5 млн ₽» ran into «−974 тыс. ₽»), and the step names had to be
    slanted; one row per step gives every label and name a line of its own, at any width."""
    w = result.tables["waterfall_total"]
    if w.empty:
        return None
    cur = result.params["currency"]
    steps = [str(s) for s in w["step"]]
    names = [value_label("step", s, lang) or s for s in steps]
    amounts = [float(a) for a in w["amount"]]
    text = [compact_money(a, cur, lang) if s in ("start", "end") else _signed(a, cur, lang) for s, a in zip(steps, amounts)]
    hover = [f"{nm}: {format_money(a, cur, lang)} · {int(k)} {plural(int(k), 'deal', lang)}"
             for nm, a, k in zip(names, amounts, w["deals"])]
    # bars floating on the running total (a plotly Waterfall paints every fall red, «Выиграны»
    # too: a won deal leaves the open pipeline, but it is the good news of the week)
    base, running = [], 0.0
    for s_, a in zip(steps, amounts):
        base.append(0.0 if s_ in ("start", "end") else (running if a >= 0 else running + a))
        running = a if s_ == "start" else running if s_ == "end" else running + a
    fig = go.Figure(go.Bar(
        y=names, x=[abs(a) for a in amounts], base=base, orientation="h", text=text, textposition="outside",
        cliponaxis=False, constraintext="none",  # the labels keep their size (plotly shrank them to the bar)
        customdata=steps, hovertext=hover, hoverinfo="text", marker={"color": [step_color(s_, a) for s_, a in zip(steps, amounts)]}))
    # the axis starts at 0: a zoomed axis made a 6 % fall look like a fifth of the pipeline; each
    # step's amount is written at its bar. Room on the right for the longest bar's label.
    running = [amounts[0]]
    for a in amounts[1:-1]:
        running.append(running[-1] + a)
    high = max(running + [amounts[-1]] + [0.0])
    fig.update_layout(showlegend=False, height=max(280, 22 * len(steps) + 80),
                      yaxis={"autorange": "reversed", "automargin": True},
                      # at most 5 ticks: «120,000,000» ran into «140,000,000» at 660 px
                      xaxis={"range": [0.0, high * 1.25 if high > 0 else 1.0], "rangemode": "tozero", "nticks": 5,
                             "title": f"{_t(lang, 'open_value')}, {currency_symbol(cur, lang)}"})
    return fig


def net_change_chart(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Horizontal stacked bars per manager (table ``by_employee``): what left the open pipeline as
    won (−``won_out_amount``, green), as lost (−``lost_out_amount``, red) and every other change
    (``net_change`` + both, blue); each manager's ``net_change`` is in brackets after the name.
    A win is not drawn as a fall in red: it takes a deal out of the open pipeline, and a red bar
    read as a bad week. Managers are ordered by the change apart from wins (``net_change`` +
    ``won_out_amount``), the largest fall on top: ordered by the net change, a manager whose
    pipeline shrank by his wins sat among the "worst" (a tenth reader). ``None`` when nobody's
    pipeline changed."""
    b = result.tables["by_employee"]
    b = b[b["net_change"].abs() > 0.005] if len(b) else b
    if b.empty:
        return None
    b = b.assign(_no_wins=b["net_change"] + b["won_out_amount"]).sort_values(["_no_wins", "employee_id"],
                                                                             ascending=[False, True])
    cur = result.params["currency"]
    who = [(names or {}).get(int(i), f"#{int(i)}") for i in b["employee_id"]]
    y = [f"{n} ({_signed(v, cur, lang)})" for n, v in zip(who, b["net_change"])]
    won, lost = -b["won_out_amount"], -b["lost_out_amount"]
    other = b["net_change"] - won - lost
    fig = go.Figure()
    for key, x, color in (("net_won", won, OUTCOME_COLORS["won"]), ("net_lost", lost, OUTCOME_COLORS["lost"]),
                          ("net_other", other, OUTCOME_COLORS["open"])):
        if (x.abs() > 0.005).any():
            fig.add_trace(go.Bar(x=x, y=y, orientation="h", name=_t(lang, key), marker_color=color,
                                 # the name alone in customdata: a click on a bar refilters to that manager
                                 customdata=[[n, _signed(v, cur, lang)] for n, v in zip(who, x)],
                                 hovertemplate="%{y}<br>" + _t(lang, key) + ": %{customdata[1]}<extra></extra>"))
    fig.update_layout(barmode="relative", xaxis={"title": _t(lang, "net"), "nticks": 5},
                      legend={"orientation": "h", "y": -0.25}, height=max(300, 28 * len(b) + 160))
    return fig


def net_change_note(lang: str = "ru") -> str:
    """The sentence under :func:`net_change_chart` that says how to read its colours."""
    return _t(lang, "net_note")


def change_text(row: Mapping[str, Any], lang: str, currency: str, labels: Mapping[str, Mapping[Any, str]]) -> str:
    """A deal's changes written out: «продвинулась на 2 стадии; сумма 2 000 ₽ → 2 500 ₽ (между
    синхронизациями 23.11 и 30.11)» — from one row of table ``deals``."""
    ch = list(row["changes"] or [])
    if not ch:
        return _t(lang, "unchanged")
    emp = labels.get("employee_id", {})
    pipes = labels.get("pipeline_id", {})
    parts = []
    for k in ch:
        if k in ("new", "won", "lost"):
            parts.append(_t(lang, k))
        elif k in ("advanced", "moved_back"):
            n = abs(int(row["stages_moved"]))
            parts.append(_t(lang, k).format(n=n, stage=plural(n, "stage", lang)))
        elif k in ("slipped", "closedate_earlier"):
            n = abs(int(row["slip_days"]))
            parts.append(_t(lang, "slipped" if k == "slipped" else "earlier").format(
                n=n, day=plural(n, "day", lang), a=format_date(row["closedate_from"], lang), b=format_date(row["closedate"], lang)))
        elif k in ("amount_up", "amount_down"):
            parts.append(_t(lang, "amount").format(a=format_money(row["amount_from"], currency, lang),
                                                   b=format_money(row["amount"], currency, lang)))
        elif k == "owner_changed":
            a, b = row["employee_from"], row["employee_id"]
            parts.append(_t(lang, "owner").format(a=emp.get(int(a), f"#{int(a)}"), b=emp.get(int(b), f"#{int(b)}")))
        elif k == "pipeline_changed":
            parts.append(_t(lang, "pipeline").format(a=pipes.get(int(row["pipeline_from"]), row["pipeline_from"]),
                                                     b=pipes.get(int(row["pipeline_id"]), row["pipeline_id"])))
    text = "; ".join(parts)
    if pd.notna(row.get("sync_before")) and pd.notna(row.get("sync_after")):
        text += " (" + _t(lang, "between").format(a=_short(row["sync_before"], lang), b=_short(row["sync_after"], lang)) + ")"
    return text


#: Columns the page shows (Excel and metrics.json keep every column of table ``deals``).
DEALS_PAGE = ["title", "employee_id", "stage_id", "change_text", "delta", "amount", "closedate", "url"]


def deals_frame(view: Any, step: str | None = None, changed_only: bool = False) -> pd.DataFrame:
    """Table ``deals`` of a ``nb.ReportView`` with ``change_text`` added (in the view's language);
    only deals of waterfall ``step`` when given; only changed deals with ``changed_only``."""
    d = view.result.tables["deals"]
    if step:
        d = d[d["step"] == step]
    if changed_only:
        d = d[d["change"] != "unchanged"]
    d = d.reset_index(drop=True)
    if "pipeline_from" not in d.columns:  # a result read back without extra columns
        d = d.assign(pipeline_from=d["pipeline_id"])
    texts = [change_text(r, view.lang, view.currency, view.labels) for r in d.to_dict("records")]
    return d.assign(change_text=texts)


def deals_table_html(view: Any, *, step: str | None = None, changed_only: bool = True, max_rows: int | None = 60) -> str:
    """A page-width HTML table of the deals (changed ones, or those of one waterfall ``step``),
    biggest contribution first, with their changes written out; escaped CRM text, portal links."""
    from b24reports.views.common import table_html as _table_html

    ts = view.spec.tables["deals"]
    title = ts.title.get(view.lang) or next(iter(ts.title.values()))
    if step:
        title += " · " + (value_label("step", step, view.lang) or step)
    return _table_html(deals_frame(view, step, changed_only and not step), DEALS_PAGE, view.lang, view.currency, max_rows=max_rows,
                       title=title, labels=view.labels, keys=getattr(view, "live", ()), table_id="deals")


def waterfall_note(result: Any, lang: str = "ru") -> str:
    """Why the counts beside the waterfall differ (markdown, ``lang``; "" without a comparison):
    the deals with any change (``notes["changed"]``: stage moves and changes beyond the horizon
    too) against the deals in the waterfall's steps (rows of table ``deals`` with a ``step``),
    and, when a deal changed pipeline, that «Прочее» counts it in both pipelines (table
    ``waterfall_total``'s other-step deals against the distinct deals of step ``other``)."""
    n = result.notes
    if n.get("changed") is None:
        return ""
    d = result.tables["deals"]
    in_steps = int(d["step"].notna().sum()) if len(d) else 0
    changed = int(n["changed"])
    w = result.tables["waterfall_total"]
    other_rows = int(w.loc[w["step"] == "other", "deals"].sum()) if len(w) else 0
    other_deals = int((d["step"] == "other").sum()) if len(d) else 0
    ru = lang == "ru"
    cnt = lambda k: f"{k} {plural(k, 'deal', lang)}"  # noqa: E731
    parts = [(f"В шагах водопада — {cnt(in_steps)}: те, что изменили открытую воронку в горизонте. "
              f"«Сделки с любыми изменениями» ({changed}) считают и продвижение по стадиям, и изменения сделок вне горизонта."
              if ru else
              f"The waterfall's steps hold {cnt(in_steps)}: those that changed the open pipeline within the horizon. "
              f"\"Deals with any change\" ({changed}) also counts stage moves and changes of deals beyond the horizon.")]
    if other_rows > other_deals:
        parts.append(f"Сделка, сменившая воронку, в «Прочем» таблицы шагов считается дважды — уходом из одной воронки и "
                     f"приходом в другую: {cnt(other_deals)} дали {other_rows} в столбце «Сделки»." if ru else
                     f"A deal that changed pipeline counts twice under \"Other\" in the steps table, leaving one pipeline "
                     f"and entering another: {cnt(other_deals)} make {other_rows} in the \"Deals\" column.")
    return " ".join(parts)
