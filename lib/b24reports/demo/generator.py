"""A deterministic, realistic demo Bitrix24 portal: an industrial-equipment manufacturer.

``generate_portal(seed=42, scale=1.0, anchor=date)`` builds every entity the analytics read,
in Bitrix24 wire format (see ``/work/shared/bitrix24-api.md``): legacy CRM methods with
UPPER_CASE keys, ids/numbers as strings, ``"Y"``/``"N"`` flags, datetimes as ISO strings with
``+03:00`` (CLOSEDATE/BEGINDATE at local midnight); tasks with camelCase keys; user.get with
``ACTIVE`` bool and ``UF_DEPARTMENT`` int list; crm.stagehistory.list with integer ids.

The same ``(seed, scale, anchor)`` always gives identical data: every random draw comes from
one ``numpy.random.default_rng(seed)`` in a fixed order, and nothing reads the wall clock
except the default ``anchor`` (today). The portal's "now" is ``anchor`` 12:00 portal time;
history starts 30 months earlier; planned activities and open deals' CLOSEDATE reach into
the next months.

What is in it (scale 1; ``scale`` multiplies deals, leads, activities, tasks):

* departments: company root -> Sales (-> Sales Moscow, Sales Regions), Marketing; heads set;
* 18 users: CEO, sales director, two sales heads, a marketer and 13 managers with
  different profiles (:data:`ROLES`): a consistent top performer, a busy manager with little
  result, one with many very short calls, one whose overdue task backlog grows, and one
  dismissed (``ACTIVE`` false) who still owns history and a few open deals and leads;
* pipelines 0 "Продажи" and 1 "Дилеры" (``C1:`` stages) with statuses, sources, deal types;
* ~1,500 leads (sources, UTM, ~a third junk, a share converted into deals, status history);
* ~2,500 deals with stage history (skipped stages, backward moves), seasonality and growth,
  won/lost/open, overdue and future CLOSEDATE, RUB plus a few USD/EUR, one empty
  OPPORTUNITY, hostile titles (``<script>``, ``=SUM(``);
* ~35,000 activities (calls with voximplant statistics, meetings, e-mails, open-line chats,
  to-dos, legacy tasks), planned next steps, forgotten open deals;
* ~3,000 tasks in 4 workgroups.

Length: ~1,100 lines, one concern. Every entity is drawn from one random stream in a fixed order
(users, then leads, deals and their history, activities, tasks), and each draws on what the
earlier ones made; split across modules, the order that makes the portal repeatable would be
spread over files that must still be read together.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from b24reports.demo.table import NULL, TZ, Table, fmt_dt

DAY = 86400

#: User ids with a special profile (tests and demos rely on them).
ROLES = {
    "ceo": 1,
    "sales_director": 2,
    "head_moscow": 3,
    "head_regions": 4,
    "marketer": 5,
    "top": 6,
    "busy_no_result": 9,
    "dismissed": 12,
    "short_calls": 14,
    "backlog": 16,
}

# id, name, last name, second name, position, department, gender
_USERS = [
    (1, "Андрей", "Волков", "Сергеевич", "Генеральный директор", 1, "M"),
    (2, "Ольга", "Смирнова", "Викторовна", "Коммерческий директор", 2, "F"),
    (3, "Дмитрий", "Козлов", "Андреевич", "Руководитель отдела продаж (Москва)", 3, "M"),
    (4, "Елена", "Морозова", "Игоревна", "Руководитель региональных продаж", 4, "F"),
    (5, "Анна", "Лебедева", "Павловна", "Маркетолог", 5, "F"),
    (6, "Игорь", "Соколов", "Николаевич", "Ведущий менеджер по продажам", 3, "M"),
    (7, "Мария", "Новикова", "Олеговна", "Менеджер по продажам", 3, "F"),
    (8, "Алексей", "Попов", "Дмитриевич", "Менеджер по продажам", 3, "M"),
    (9, "Сергей", "Васильев", "Петрович", "Менеджер по продажам", 3, "M"),
    (10, "Наталья", "Петрова", "Александровна", "Менеджер по продажам", 3, "F"),
    (11, "Павел", "Фёдоров", "Евгеньевич", "Менеджер по продажам", 3, "M"),
    (12, "Виктор", "Михайлов", "Иванович", "Менеджер по продажам", 3, "M"),
    (13, "Юлия", "Егорова", "Сергеевна", "Региональный менеджер", 4, "F"),
    (14, "Артём", "Никитин", "Романович", "Региональный менеджер", 4, "M"),
    (15, "Татьяна", "Орлова", "Викторовна", "Региональный менеджер", 4, "F"),
    (16, "Роман", "Захаров", "Ильич", "Региональный менеджер", 4, "M"),
    (17, "Ксения", "Белова", "Андреевна", "Региональный менеджер", 4, "F"),
    (18, "Максим", "Зайцев", "Олегович", "Региональный менеджер", 4, "M"),
]
_TRANSLIT = str.maketrans({"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
                           "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
                           "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh",
                           "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya"})
# manager id -> (deal weight, skill (win odds), activity multiplier, short-call share)
_MANAGERS = {
    3: (0.25, 1.1, 0.6, 0.05), 4: (0.25, 1.0, 0.6, 0.05),
    6: (1.3, 1.9, 1.0, 0.05), 7: (1.0, 1.0, 1.0, 0.07), 8: (1.0, 0.95, 0.9, 0.06),
    9: (1.0, 0.45, 2.3, 0.08), 10: (0.9, 1.05, 1.0, 0.06), 11: (0.9, 0.9, 0.8, 0.07),
    12: (1.0, 0.85, 0.9, 0.07), 13: (1.0, 1.1, 1.0, 0.05), 14: (1.0, 0.9, 1.4, 0.55),
    15: (0.9, 1.0, 1.0, 0.06), 16: (0.9, 0.95, 0.9, 0.06), 17: (0.8, 1.05, 1.1, 0.05),
    18: (0.8, 0.9, 1.0, 0.07),
}
_DEPARTMENTS = [  # id, name, sort, parent, head
    (1, "ООО «ПромТехМаш»", 500, None, 1),
    (2, "Отдел продаж", 500, 1, 2),
    (3, "Продажи Москва", 500, 2, 3),
    (4, "Продажи Регионы", 510, 2, 4),
    (5, "Маркетинг", 520, 1, 5),
]
PIPELINES = {
    0: ("Продажи", ["NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE"], "WON", ["LOSE", "APOLOGY"]),
    1: ("Дилеры", ["C1:NEW", "C1:PREPARATION", "C1:EXECUTING"], "C1:WON", ["C1:LOSE"]),
}
_STAGE_NAMES = {
    "NEW": "Новая", "PREPARATION": "Подготовка документов", "PREPAYMENT_INVOICE": "Счёт на предоплату",
    "EXECUTING": "В работе", "FINAL_INVOICE": "Финальный счёт", "WON": "Сделка успешна",
    "LOSE": "Сделка провалена", "APOLOGY": "Анализ причины провала",
    "C1:NEW": "Новая заявка дилера", "C1:PREPARATION": "Согласование условий", "C1:EXECUTING": "Отгрузка",
    "C1:WON": "Сделка успешна", "C1:LOSE": "Сделка провалена",
}
_LEAD_STATUSES = [("NEW", "Не обработан", None), ("IN_PROCESS", "В работе", None),
                  ("PROCESSED", "Обработан", None), ("CONVERTED", "Качественный лид", "S"),
                  ("JUNK", "Некачественный лид", "F")]
SOURCES = ["CALL", "EMAIL", "WEB", "ADVERTISING", "PARTNER", "RECOMMENDATION", "TRADE_SHOW", "WEBFORM", "OTHER"]
_SOURCE_NAMES = ["Звонок", "Электронная почта", "Веб-сайт", "Реклама", "Существующий клиент / партнёр",
                 "По рекомендации", "Выставка", "CRM-форма", "Другое"]
_DEAL_TYPES = [("SALE", "Продажа"), ("COMPLEX", "Комплексная продажа"), ("GOODS", "Продажа товара"),
               ("SERVICES", "Продажа услуги"), ("SERVICE", "Сервисное обслуживание")]
_WORKGROUPS = [(1, "Внедрение CRM"), (2, "Выставка «Металлообработка»"), (3, "Тендеры и госзакупки"),
               (4, "Сервисная служба")]
CURRENCIES = [("RUB", 1.0, 100, "Российский рубль", "# ₽"), ("USD", 92.5, 200, "Доллар США", "$#"),
              ("EUR", 100.25, 300, "Евро", "€#")]
_PRODUCTS = ["Поставка токарного станка", "Модернизация линии розлива", "Компрессорная станция",
             "Сервисный контракт", "Гидравлический пресс", "Запасные части", "Пусконаладка оборудования",
             "Ленточный конвейер", "Промышленный чиллер", "Фрезерный центр ЧПУ", "Сварочный робот",
             "Котельное оборудование"]
_CO_A = ["Урал", "Сибирь", "Волга", "Север", "Дон", "Кама", "Ока", "Алтай", "Балтика", "Енисей", "Тверь", "Приморье"]
_CO_B = ["Металл", "Агро", "Пласт", "Строй", "Маш", "Лес", "Хим", "Энерго", "Пром", "Транс"]
_FIRST = ["Иван", "Пётр", "Светлана", "Михаил", "Людмила", "Николай", "Ирина", "Владимир", "Галина", "Олег"]
_LAST = ["Кузнецов", "Семёнов", "Голубев", "Виноградов", "Богданов", "Воробьёв", "Григорьев", "Ковалёв", "Ильин", "Гусев"]
_UTM = {  # source -> (utm_source, utm_medium, campaigns)
    "WEB": (["yandex", "google", ""], ["organic", "cpc", ""], ["brand", "", "seo_catalog"]),
    "WEBFORM": (["yandex", "vk", "google"], ["cpc", "cpc", "email"], ["stanki_poisk", "kompressory_rsya", "newsletter_q"]),
    "ADVERTISING": (["yandex", "vk", "telegram"], ["cpc", "banner", "cpm"], ["stanki_poisk", "retarget_2025", "promo_vystavka"]),
}
# month-of-year factor of demand (Jan..Dec) for industrial B2B
_SEASON = np.array([0.55, 0.85, 1.1, 1.05, 0.8, 0.9, 0.8, 0.85, 1.1, 1.15, 1.2, 1.3])


def lead_title_product(product: str) -> str:
    """A product name as it reads after «Заявка: »: the first letter lower-case, the rest as
    written, so an abbreviation keeps its capitals («фрезерный центр ЧПУ», not «… чпу»)."""
    return product[:1].lower() + product[1:]

#: Entity name -> Bitrix24 method that serves it.
ENTITIES = {
    "deal": "crm.deal.list", "lead": "crm.lead.list", "activity": "crm.activity.list",
    "deal_stage_history": "crm.stagehistory.list", "lead_status_history": "crm.stagehistory.list",
    "call": "voximplant.statistic.get", "task": "tasks.task.list", "user": "user.get",
    "department": "department.get", "status": "crm.status.list", "workgroup": "sonet_group.get",
}
# which datetime field a mutation bumps
_MODIFIED = {"deal": "DATE_MODIFY", "lead": "DATE_MODIFY", "activity": "LAST_UPDATED", "task": "CHANGED_DATE"}


@dataclass
class DemoPortal:
    """A generated portal: one :class:`~b24reports.demo.table.Table` per entity, plus small
    lists served as they are (``categories``, ``currencies``).

    ``tables`` keys: deal, lead, activity, deal_stage_history, lead_status_history, call,
    task, user, department, status, workgroup. ``now`` is the portal's "now" (unix seconds,
    anchor 12:00 +03:00). Mutations (:meth:`add`, :meth:`update`, :meth:`delete`) are
    thread-safe and keep the modified-time fields moving forward.
    """

    seed: int
    scale: float
    anchor: dt.date
    now: int
    tables: dict[str, Table]
    categories: list[dict]
    currencies: list[dict]
    roles: dict[str, int] = field(default_factory=lambda: dict(ROLES))
    #: the portal's simulated clock (unix seconds) once :meth:`freeze_clock` or :meth:`advance`
    #: set it: the demo server then reports this time (``server.time``, replies' ``time``
    #: block) instead of the wall clock, so a sync's own times follow the simulated week
    server_clock: int | None = None
    #: deals whose expected close date an :meth:`advance` pushed later: they slip again more often
    slipped: set[int] = field(default_factory=set)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _clock: int = 0

    def table(self, entity: str) -> Table:
        """The table of ``entity`` (see :data:`ENTITIES`); KeyError names the entity."""
        try:
            return self.tables[entity]
        except KeyError:
            raise KeyError(f"unknown demo entity {entity!r}; known: {sorted(self.tables)}") from None

    def rows(self, entity: str) -> list[dict]:
        """All rows of ``entity`` in wire format, ID ascending (small tables / tests only)."""
        return self.table(entity).rows()

    def tick(self) -> int:
        """A mutation timestamp: wall clock, but never before the portal's ``now`` and always
        after the previous mutation (unix seconds)."""
        import time

        with self._lock:
            self._clock = max(int(time.time()), self.now + 1, self._clock + 1)
            return self._clock

    def add(self, entity: str, row: dict[str, Any]) -> int:
        """Insert a row (wire-format values; missing ID -> next id; modified/created times
        default to :meth:`tick`). A new deal defaults to pipeline 0, its first stage, RUB, and
        gets a TYPE_ID 1 stage-history row; a new lead defaults to NEW with a status-history
        row. Returns the new ID; KeyError names an unknown field."""
        with self._lock:
            row = dict(row)
            ts = fmt_dt(self.tick())
            mod = _MODIFIED.get(entity)
            t = self.table(entity)
            if mod:
                row.setdefault(mod, ts)
                created = {"deal": "DATE_CREATE", "lead": "DATE_CREATE", "activity": "CREATED", "task": "CREATED_DATE"}[entity]
                row.setdefault(created, ts)
            if entity == "deal":
                cat = int(row.setdefault("CATEGORY_ID", "0") or 0)
                stage = row.setdefault("STAGE_ID", PIPELINES[cat][1][0])
                sem = row.setdefault("STAGE_SEMANTIC_ID", stage_semantic(cat, stage))
                row.setdefault("MOVED_TIME", row["DATE_CREATE"])
                row.setdefault("CLOSED", "Y" if sem in ("S", "F") else "N")
                row.setdefault("CURRENCY_ID", "RUB")
                row.setdefault("OPENED", "Y")
            if entity == "lead":
                row.setdefault("STATUS_ID", "NEW")
                row.setdefault("STATUS_SEMANTIC_ID", {"CONVERTED": "S", "JUNK": "F"}.get(row["STATUS_ID"], "P"))
                row.setdefault("MOVED_TIME", row["DATE_CREATE"])
            new_id = t.append(row)
            if entity == "deal":  # like a portal: creating a deal writes its first stage-history row
                self.tables["deal_stage_history"].append({
                    "TYPE_ID": 1, "OWNER_ID": new_id, "CREATED_TIME": row["MOVED_TIME"], "CATEGORY_ID": cat,
                    "STAGE_SEMANTIC_ID": sem, "STAGE_ID": stage})
            if entity == "lead":
                self.tables["lead_status_history"].append({
                    "TYPE_ID": 1, "OWNER_ID": new_id, "CREATED_TIME": row["MOVED_TIME"], "STATUS_ID": row["STATUS_ID"],
                    "STATUS_SEMANTIC_ID": row["STATUS_SEMANTIC_ID"]})
            return new_id

    def update(self, entity: str, id: int, **fields: Any) -> None:
        """Change fields of one row and bump its DATE_MODIFY / LAST_UPDATED / CHANGED_DATE.

        A deal whose ``STAGE_ID`` changes also gets a stage-history row (TYPE_ID 2, or 3 for a
        final stage), ``MOVED_TIME``, ``STAGE_SEMANTIC_ID`` and ``CLOSED`` like a real portal.
        KeyError when the row does not exist.
        """
        with self._lock:
            t = self.table(entity)
            ts = self.tick()
            mod = _MODIFIED.get(entity)
            if mod and mod not in fields:
                fields[mod] = fmt_dt(ts)
            if entity == "deal" and "STAGE_ID" in fields:
                old = t.get(id)
                stage = fields["STAGE_ID"]
                cat = int(fields.get("CATEGORY_ID", old["CATEGORY_ID"]))
                sem = stage_semantic(cat, stage)
                if stage != old["STAGE_ID"]:
                    fields.setdefault("MOVED_TIME", fmt_dt(ts))
                    fields.setdefault("STAGE_SEMANTIC_ID", sem)
                    fields.setdefault("CLOSED", "Y" if sem in ("S", "F") else "N")
                    self.tables["deal_stage_history"].append({
                        "TYPE_ID": 3 if sem in ("S", "F") else 2, "OWNER_ID": int(id), "CREATED_TIME": fmt_dt(ts),
                        "CATEGORY_ID": cat, "STAGE_SEMANTIC_ID": sem, "STAGE_ID": stage})
            t.update(int(id), fields)

    def delete(self, entity: str, id: int) -> None:
        """Remove one row (KeyError when absent). IDs are not reused."""
        with self._lock:
            self.table(entity).delete(int(id))

    # ------------------------------------------------------------------ simulated time
    def freeze_clock(self) -> None:
        """From now on the demo server reports the portal's ``now`` as its time (a sync then
        records the moment the portal stands at, not the wall clock)."""
        self.server_clock = self.now

    def stamp_time(self, block: dict) -> dict:
        """A reply's ``time`` block with ``date_start``/``date_finish`` set to the simulated
        clock when there is one (:attr:`server_clock`); unchanged otherwise."""
        if self.server_clock is not None:
            block["date_start"] = block["date_finish"] = fmt_dt(self.server_clock)
        return block

    def advance(self, days: int = 7) -> dict[str, list[int]]:
        """Move the portal ``days`` forward with the changes a sales team makes in that time.

        Deterministic in (seed, scale, anchor, days). Every change is stamped inside
        ``(now, now + days]`` at working hours: new deals; open deals advanced one or two
        stages, moved back one, won, lost; expected close dates (CLOSEDATE) pushed later or
        pulled earlier; amounts raised or cut; owners changed; one deal moved to the other
        pipeline and one deleted. A changed deal gets its DATE_MODIFY, stage history rows
        (stage moves) and a completed meeting on the day of the change (a touch). Then ``now``
        (and the simulated server clock) moves to the new now. Returns ``{kind: [deal ids]}``.
        """
        with self._lock:
            return _Advance(self, days).run()


class _Advance:
    """One simulated stretch of days of a :class:`DemoPortal` (see :meth:`DemoPortal.advance`)."""

    #: share of open deals per change in a week (each drawn independently; a shorter or longer
    #: stretch scales the odds: 1 − (1 − share)^(days / 7))
    SHARES = {"won": 0.07, "lost": 0.06, "advanced": 0.14, "back": 0.03, "slipped": 0.12, "pulled": 0.35,
              "amount_up": 0.06, "amount_down": 0.05, "owner": 0.02}

    def __init__(self, portal: DemoPortal, days: int):
        if int(days) < 1:
            raise ValueError("advance: days must be ≥ 1")
        self.p, self.days = portal, int(days)
        self.rng = np.random.default_rng([portal.seed, 7, portal.now, self.days])
        self.start, self.end = portal.now, portal.now + self.days * DAY
        self.done: dict[str, list[int]] = {k: [] for k in ("new", *self.SHARES, "pipeline", "deleted")}

    def when(self) -> int:
        """A working-hours instant inside (start, end]."""
        d = int(self.rng.integers(0, self.days))
        t = self.start + d * DAY + int(self.rng.integers(-3 * 3600, 6 * 3600))
        return int(min(max(t, self.start + 60), self.end - 60))

    def touch(self, deal: dict, t: int) -> None:
        self.p.tables["activity"].append({
            "OWNER_ID": deal["ID"], "OWNER_TYPE_ID": 2, "TYPE_ID": 1, "PROVIDER_ID": "CRM_MEETING",
            "PROVIDER_TYPE_ID": "MEETING", "SUBJECT": "Встреча с клиентом", "CREATED": fmt_dt(t - 3600),
            "LAST_UPDATED": fmt_dt(t), "START_TIME": fmt_dt(t - 3600), "END_TIME": fmt_dt(t), "DEADLINE": fmt_dt(t - 3600),
            "COMPLETED": "Y", "STATUS": 2, "RESPONSIBLE_ID": deal["ASSIGNED_BY_ID"], "PRIORITY": 2, "NOTIFY_TYPE": 0,
            "NOTIFY_VALUE": 0, "DESCRIPTION": "", "DESCRIPTION_TYPE": 1, "DIRECTION": 0, "LOCATION": "",
            "AUTHOR_ID": deal["ASSIGNED_BY_ID"], "EDITOR_ID": deal["ASSIGNED_BY_ID"], "IS_INCOMING_CHANNEL": "N"})

    def move(self, deal: dict, stage: str, t: int, fields: dict) -> None:
        cat = int(deal["CATEGORY_ID"])
        sem = stage_semantic(cat, stage)
        fields.update({"STAGE_ID": stage, "STAGE_SEMANTIC_ID": sem, "MOVED_TIME": fmt_dt(t),
                       "CLOSED": "Y" if sem in ("S", "F") else "N"})
        self.p.tables["deal_stage_history"].append({
            "TYPE_ID": 3 if sem in ("S", "F") else 2, "OWNER_ID": int(deal["ID"]), "CREATED_TIME": fmt_dt(t),
            "CATEGORY_ID": cat, "STAGE_SEMANTIC_ID": sem, "STAGE_ID": stage})

    def run(self) -> dict[str, list[int]]:
        from b24reports.demo.table import parse_dt

        p, rng = self.p, self.rng
        deals = p.table("deal")
        open_rows = [r for r in deals.rows() if r["STAGE_SEMANTIC_ID"] == "P"]
        draws = rng.random((len(open_rows), len(self.SHARES)))
        odds = {k: 1 - (1 - v) ** (self.days / 7) for k, v in self.SHARES.items()}
        again = 1 - (1 - 0.6) ** (self.days / 7)  # a deal that slipped before slips again
        dates = [parse_dt(r["CLOSEDATE"]) or 0 for r in open_rows]
        far = np.quantile(dates, 0.85) if dates else 0  # only deals expected late are pulled in
        changes = []  # (time, deal row, kinds)
        for row, u, when in zip(open_rows, draws, dates):
            kinds = [k for k, x in zip(self.SHARES, u)
                     if x < (again if k == "slipped" and int(row["ID"]) in p.slipped else odds[k])]
            if "pulled" in kinds and when < far:
                kinds.remove("pulled")
            if "won" in kinds or "lost" in kinds:  # an outcome ends the week; keep the first
                kinds = [k for k in kinds if k in ("amount_up", "amount_down")][:1] + [next(k for k in kinds if k in ("won", "lost"))]
            if "slipped" in kinds and "pulled" in kinds:
                kinds.remove("pulled")
            if "advanced" in kinds and "back" in kinds:
                kinds.remove("back")
            if "amount_up" in kinds and "amount_down" in kinds:
                kinds.remove("amount_down")
            if kinds:
                changes.append((self.when(), row, kinds))
        for t, row, kinds in sorted(changes, key=lambda c: (c[0], int(c[1]["ID"]))):
            cat = int(row["CATEGORY_ID"])
            _, prog, won_st, lost = PIPELINES[cat]
            fields: dict[str, Any] = {"DATE_MODIFY": fmt_dt(t)}
            k = prog.index(row["STAGE_ID"]) if row["STAGE_ID"] in prog else 0
            amount = float(row["OPPORTUNITY"] or 0)
            closedate = parse_dt(row["CLOSEDATE"]) or (t - t % DAY)
            for kind in kinds:
                if kind == "won":
                    self.move(row, won_st, t, fields)
                    fields["CLOSEDATE"] = fmt_dt(int(_midnight(np.array([t]))[0]))
                elif kind == "lost":
                    self.move(row, lost[0], t, fields)
                elif kind == "advanced":
                    if k >= len(prog) - 1:
                        continue
                    for j in range(k + 1, min(len(prog) - 1, k + 1 + int(rng.integers(1, 3))) + 1):
                        self.move(row, prog[j], t, fields)
                elif kind == "back":
                    if k == 0:
                        continue
                    self.move(row, prog[k - 1], t, fields)
                elif kind == "slipped":
                    fields["CLOSEDATE"] = fmt_dt(max(closedate, _midnight(np.array([t]))[0].item()) + int(rng.integers(7, 46)) * DAY)
                    p.slipped.add(int(row["ID"]))
                elif kind == "pulled":  # the client hurries: expected within a few weeks
                    sooner = int(_midnight(np.array([t]))[0]) + int(rng.integers(3, 21)) * DAY
                    if sooner >= closedate:
                        continue
                    fields["CLOSEDATE"] = fmt_dt(sooner)
                elif kind in ("amount_up", "amount_down"):
                    if not amount:
                        continue
                    f = rng.uniform(1.1, 1.5) if kind == "amount_up" else rng.uniform(0.55, 0.9)
                    fields["OPPORTUNITY"] = f"{round(amount * f, -3):.2f}"
                elif kind == "owner":
                    others = [m for m in _MANAGERS if m not in (int(row["ASSIGNED_BY_ID"]), ROLES["dismissed"])]
                    fields["ASSIGNED_BY_ID"] = int(others[int(rng.integers(0, len(others)))])
                self.done[kind].append(int(row["ID"]))
            deals.update(int(row["ID"]), fields)
            self.touch({**row, **fields}, t)
        self.special(open_rows, {int(r["ID"]) for _, r, _ in changes})
        self.new_deals()
        p.now = self.end
        p.server_clock = self.end
        p._clock = max(p._clock, self.end)
        return {k: sorted(v) for k, v in self.done.items()}

    def special(self, open_rows: list[dict], changed: set[int]) -> None:
        """One untouched open deal of the default pipeline moves to the dealers' pipeline, one
        is deleted: changes the comparison sees only as "other"."""
        rest = [r for r in open_rows if int(r["ID"]) not in changed and int(r["CATEGORY_ID"]) == 0]
        if len(rest) < 2:
            return
        a, b = rest[len(rest) // 3], rest[2 * len(rest) // 3]
        t = self.when()
        fields = {"DATE_MODIFY": fmt_dt(t), "CATEGORY_ID": 1}
        a = {**a, "CATEGORY_ID": 1}
        self.move(a, PIPELINES[1][1][0], t, fields)
        self.p.tables["deal_stage_history"].update(self.p.tables["deal_stage_history"].next_id() - 1, {"TYPE_ID": 5})
        self.p.table("deal").update(int(a["ID"]), fields)
        self.done["pipeline"].append(int(a["ID"]))
        self.p.table("deal").delete(int(b["ID"]))
        self.done["deleted"].append(int(b["ID"]))

    def new_deals(self) -> None:
        """About a week's worth of new deals (scaled), created inside the stretch."""
        rng = self.rng
        n = max(3, int(round(22 * self.p.scale * self.days / 7)))
        made = []
        for _ in range(n):
            t = self.when()
            cat = int(rng.random() < 0.2)
            mgr = [m for m in _MANAGERS if m != ROLES["dismissed"]][int(rng.integers(0, len(_MANAGERS) - 1))]
            amount = max(15000.0, round(float(rng.lognormal(np.log(900000 if cat else 450000), 0.55)), -3))
            close = int(_midnight(np.array([t + int(rng.integers(14, 75)) * DAY]))[0])
            made.append((t, {"TITLE": f"{_PRODUCTS[int(rng.integers(0, len(_PRODUCTS)))]} — новый запрос",
                             "CATEGORY_ID": str(cat), "OPPORTUNITY": f"{amount:.2f}", "ASSIGNED_BY_ID": str(mgr),
                             "CREATED_BY_ID": str(mgr), "MODIFY_BY_ID": str(mgr), "MOVED_BY_ID": str(mgr),
                             "BEGINDATE": fmt_dt(int(_midnight(np.array([t]))[0])), "CLOSEDATE": fmt_dt(close),
                             "TYPE_ID": "SALE", "PROBABILITY": "10"}))
        for t, row in sorted(made, key=lambda x: x[0]):
            stamp = fmt_dt(t)
            new_id = self.p.add("deal", {**row, "DATE_CREATE": stamp, "DATE_MODIFY": stamp, "MOVED_TIME": stamp,
                                          "LAST_ACTIVITY_TIME": stamp, "LAST_ACTIVITY_BY": row["ASSIGNED_BY_ID"]})
            self.done["new"].append(new_id)


def stretches(days: int) -> list[int]:
    """How ``days`` of simulated life are cut between syncs: two stretches (a sync in the middle
    of the week, as a daily or twice-weekly schedule would give), e.g. 7 → [4, 3]; 1 → [1]."""
    return [d for d in (days - days // 2, days // 2) if d]


def sync_with_history(portal: DemoPortal, webhook_url: str, store: Any, days: int, *, sync: Any,
                      on_advance: Any = None, on_sync: Any = None, **sync_kw: Any) -> list[Any]:
    """Sync ``portal`` (served at ``webhook_url``) into ``store`` as it is, then let it live
    ``days`` (:func:`stretches`, :meth:`DemoPortal.advance`) with a sync after each stretch, so
    the store holds versions of the deals that changed: history for the pipeline report and the
    close-date slips of dynamics. The portal's clock is frozen first (syncs record its simulated
    time). ``sync``: :func:`b24reports.ingest.sync.sync` (passed in: the generator does not depend on
    the sync layer); ``on_advance(days, changes)`` is called after each stretch and
    ``on_sync(report)`` after each sync, as it ends. Returns the sync reports."""
    portal.freeze_clock()
    reports: list[Any] = []

    def run(**kw: Any) -> None:
        reports.append(sync(webhook_url, store, **kw, **sync_kw))
        if on_sync is not None:
            on_sync(reports[-1])

    run(full=True)
    for d in stretches(days):
        done = portal.advance(d)
        if on_advance is not None:
            on_advance(d, done)
        run()
    return reports


def stage_semantic(category_id: int, stage_id: str) -> str:
    """'P', 'S' or 'F' of a deal stage of the demo pipelines."""
    _, progress, won, lost = PIPELINES[int(category_id)]
    return "S" if stage_id == won else "F" if stage_id in lost else "P"


def _midnight(ts: np.ndarray) -> np.ndarray:
    return ((ts + 3 * 3600) // DAY) * DAY - 3 * 3600


def generate_portal(*, seed: int = 42, scale: float = 1.0, anchor: dt.date | None = None) -> DemoPortal:
    """Generate the demo portal.

    ``seed``: random seed; ``scale``: size factor (1 -> ~2,500 deals, ~1,500 leads, ~35,000
    activities, ~3,000 tasks; 40 -> ~100,000 deals, ~1.4 million activities);
    ``anchor``: the portal's today (default ``date.today()``). Deterministic in all three.
    Raises ``BadParameter`` for scale <= 0 or a non-date anchor.
    """
    from b24reports.core.errors import BadParameter

    if not isinstance(scale, (int, float)) or not scale > 0:
        raise BadParameter("scale", scale, "must be a positive number")
    if anchor is None:
        anchor = dt.date.today()
    if isinstance(anchor, dt.datetime) or not isinstance(anchor, dt.date):
        raise BadParameter("anchor", anchor, "must be a datetime.date")
    rng = np.random.default_rng(seed)
    now = int(dt.datetime(anchor.year, anchor.month, anchor.day, 12, tzinfo=TZ).timestamp())
    y, m = anchor.year, anchor.month - 30
    while m < 1:
        y, m = y - 1, m + 12
    t0 = int(dt.datetime(y, m, 1, tzinfo=TZ).timestamp())
    dismissed_at = now - 150 * DAY
    g = _Gen(rng, scale, now, t0, dismissed_at)
    tables = g.build()
    categories = [
        {"id": cid, "name": PIPELINES[cid][0], "sort": 100 * (cid + 1), "entityTypeId": 2,
         "isDefault": "Y" if cid == 0 else "N", "originId": "", "originatorId": ""}
        for cid in PIPELINES
    ]
    currencies = [
        {"CURRENCY": c, "AMOUNT_CNT": 1, "AMOUNT": a, "SORT": s, "BASE": "Y" if c == "RUB" else "N",
         "FULL_NAME": n, "LID": "ru", "FORMAT_STRING": f, "DECIMALS": 2, "DATE_UPDATE": fmt_dt(t0)}
        for c, a, s, n, f in CURRENCIES
    ]
    return DemoPortal(seed=seed, scale=float(scale), anchor=anchor, now=now, tables=tables,
                      categories=categories, currencies=currencies)


class _Gen:
    """The generation steps; each draws from the shared rng in a fixed order."""

    def __init__(self, rng, scale, now, t0, dismissed_at):
        self.rng, self.scale, self.now, self.t0, self.dismissed_at = rng, scale, now, t0, dismissed_at
        n_days = (now - t0) // DAY + 1
        days = t0 + np.arange(n_days) * DAY
        dates = [dt.datetime.fromtimestamp(int(d), TZ) for d in days]
        month = np.array([d.month for d in dates]) - 1
        weekday = np.array([d.weekday() for d in dates])
        w = _SEASON[month] * (1 + 0.7 * np.arange(n_days) / n_days) * np.where(weekday < 5, 1.0, 0.07)
        w[-1] *= 0.5  # today: only the morning has passed
        self.day_starts, self.day_w = days, w / w.sum()
        self.companies = [f"ООО «{a}{b.lower()}»" if i % 3 else f"АО «{a}{b}»"
                          for i, (a, b) in enumerate((a, b) for a in _CO_A for b in _CO_B)]
        self.mgr_ids = np.array(sorted(_MANAGERS))

    # ---------------------------------------------------------------- helpers
    def times(self, n: int) -> np.ndarray:
        """n creation times, weighted by season/growth/weekday, within working hours (sorted)."""
        rng = self.rng
        d = rng.choice(len(self.day_starts), size=n, p=self.day_w)
        secs = (9 * 3600 + rng.random(n) * 9.5 * 3600).astype(np.int64)
        ts = self.day_starts[d] + secs
        return np.sort(np.minimum(ts, self.now - 60))

    def pick_managers(self, ts: np.ndarray) -> np.ndarray:
        """Responsible manager per creation time (the dismissed one only before dismissal)."""
        ids = self.mgr_ids
        w = np.array([_MANAGERS[i][0] for i in ids])
        w_after = np.where(ids == ROLES["dismissed"], 0.0, w)
        u = self.rng.random(len(ts))
        before = np.searchsorted(np.cumsum(w) / w.sum(), u, side="right")
        after = np.searchsorted(np.cumsum(w_after) / w_after.sum(), u, side="right")
        return np.where(ts < self.dismissed_at, ids[np.minimum(before, len(ids) - 1)], ids[np.minimum(after, len(ids) - 1)])

    def prof(self, mgr: np.ndarray, j: int) -> np.ndarray:
        lut = np.zeros(int(self.mgr_ids.max()) + 1)
        for i in self.mgr_ids:
            lut[i] = _MANAGERS[i][j]
        return lut[mgr]

    # ---------------------------------------------------------------- steps
    def build(self) -> dict[str, Table]:
        users, departments = self.users()
        statuses = self.statuses()
        workgroups = self.workgroups()
        leads, lead_hist, conv = self.leads()
        deal_info, deal_hist = self.deals(conv)
        activities, calls = self.activities(leads, deal_info)
        deals = deal_info["table"]
        tasks = self.tasks(deal_info)
        return {"user": users, "department": departments, "status": statuses, "workgroup": workgroups,
                "lead": leads, "lead_status_history": lead_hist, "deal": deals,
                "deal_stage_history": deal_hist, "activity": activities, "call": calls, "task": tasks}

    def users(self):
        reg = self.t0 - 400 * DAY
        rows = {k: [] for k in ("ID", "ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "WORK_POSITION",
                                "UF_DEPARTMENT", "USER_TYPE", "PERSONAL_GENDER", "DATE_REGISTER", "LAST_LOGIN",
                                "IS_ONLINE", "TIME_ZONE", "WORK_PHONE")}
        for uid, name, last, second, pos, dep, gender in _USERS:
            active = uid != ROLES["dismissed"]
            rows["ID"].append(uid)
            rows["ACTIVE"].append(active)
            rows["NAME"].append(name)
            rows["LAST_NAME"].append(last)
            rows["SECOND_NAME"].append(second)
            rows["EMAIL"].append(f"{name[0].lower().translate(_TRANSLIT)}.{last.lower().translate(_TRANSLIT)}@promtehmash.ru")
            rows["WORK_POSITION"].append(pos)
            rows["UF_DEPARTMENT"].append([dep])
            rows["USER_TYPE"].append("employee")
            rows["PERSONAL_GENDER"].append(gender)
            rows["DATE_REGISTER"].append(reg + uid * DAY)
            rows["LAST_LOGIN"].append(self.now - 3600 * uid if active else self.dismissed_at)
            rows["IS_ONLINE"].append("N")
            rows["TIME_ZONE"].append("Europe/Moscow")
            rows["WORK_PHONE"].append(f"+7 (495) 120-45-{uid:02d}")
        kinds = {"ID": "int", "ACTIVE": "bool", "DATE_REGISTER": "dt", "LAST_LOGIN": "dt", "UF_DEPARTMENT": "raw"}
        users = Table("user", {k: kinds.get(k, "str") for k in rows}, rows)
        d = {"ID": [], "NAME": [], "SORT": [], "PARENT": [], "UF_HEAD": []}
        for did, name, sort, parent, head in _DEPARTMENTS:
            for k, v in zip(d, (did, name, sort, parent, head)):
                d[k].append(v)
        deps = Table("department", {"ID": "int", "NAME": "str", "SORT": "num", "PARENT": "int", "UF_HEAD": "int"}, d)
        return users, deps

    def statuses(self):
        rows = []
        colors = {"P": "#39A8EF", "S": "#7BD500", "F": "#FF5752"}

        def add(entity, status_id, name, sort, sem, cat=None, system="N", extra=True):
            sem_word = {"S": "success", "F": "failure", "A": "apology"}.get(sem or "P", "process")
            r = {"ID": len(rows) + 1, "ENTITY_ID": entity, "STATUS_ID": status_id, "NAME": name, "NAME_INIT": name,
                 "SORT": str(sort), "SYSTEM": system, "CATEGORY_ID": None if cat is None else str(cat),
                 "COLOR": colors.get(sem or "P", "#39A8EF"), "SEMANTICS": sem if sem in ("S", "F") else None,
                 "EXTRA": {"SEMANTICS": sem_word, "COLOR": colors.get(sem or "P", "#39A8EF")} if extra else None}
            rows.append(r)

        for cid, (_, progress, won, lost) in PIPELINES.items():
            entity = "DEAL_STAGE" if cid == 0 else f"DEAL_STAGE_{cid}"
            sort = 10
            for st in progress:
                add(entity, st, _STAGE_NAMES[st], sort, None, cid, "Y" if sort == 10 else "N")
                sort += 10
            add(entity, won, _STAGE_NAMES[won], sort, "S", cid, "Y")
            for st in lost:
                sort += 10
                add(entity, st, _STAGE_NAMES[st], sort, "F" if st.endswith("LOSE") else "A" if False else "F", cid,
                    "Y" if st.endswith("LOSE") else "N")
        for i, (sid, name, sem) in enumerate(_LEAD_STATUSES):
            add("STATUS", sid, name, 10 * (i + 1), sem, None, "Y")
        for i, (sid, name) in enumerate(zip(SOURCES, _SOURCE_NAMES)):
            add("SOURCE", sid, name, 10 * (i + 1), None, None, "N", extra=False)
        for i, (sid, name) in enumerate(_DEAL_TYPES):
            add("DEAL_TYPE", sid, name, 10 * (i + 1), None, None, "N", extra=False)
        cols = {k: [r[k] for r in rows] for k in rows[0]}
        kinds = {"ID": "int", "EXTRA": "raw"}
        return Table("status", {k: kinds.get(k, "str") for k in cols}, cols,
                     default_order=[("SORT", True)])

    def workgroups(self):
        d = {"ID": [], "NAME": [], "DESCRIPTION": [], "ACTIVE": [], "VISIBLE": [], "OPENED": [], "PROJECT": [],
             "DATE_CREATE": [], "OWNER_ID": [], "NUMBER_OF_MEMBERS": []}
        for gid, name in _WORKGROUPS:
            vals = (gid, name, f"Рабочая группа «{name}»", True, True, False, gid != 4,
                    self.t0 - (30 - gid) * DAY, (2, 5, 4, 3)[gid - 1], 4 + gid)
            for k, v in zip(d, vals):
                d[k].append(v)
        kinds = {"ID": "int", "ACTIVE": "yn", "VISIBLE": "yn", "OPENED": "yn", "PROJECT": "yn", "DATE_CREATE": "dt",
                 "OWNER_ID": "int", "NUMBER_OF_MEMBERS": "int"}
        return Table("workgroup", {k: kinds.get(k, "str") for k in d}, d)

    def leads(self):
        rng, now = self.rng, self.now
        n = max(10, int(round(1500 * self.scale)))
        ts = self.times(n)
        src_p = np.array([0.14, 0.09, 0.22, 0.12, 0.05, 0.07, 0.05, 0.16, 0.04, 0.06])  # SOURCES + ""
        src_names = np.array(SOURCES + [""], dtype=object)
        src = rng.choice(len(src_names), size=n, p=src_p / src_p.sum())
        mgr = self.pick_managers(ts)
        p_junk = np.array([0.25, 0.3, 0.35, 0.45, 0.15, 0.1, 0.25, 0.3, 0.35, 0.4])[src]
        p_conv = np.array([0.35, 0.25, 0.25, 0.18, 0.45, 0.5, 0.35, 0.28, 0.2, 0.2])[src]
        u = rng.random(n)
        outcome = np.where(u < p_junk, 2, np.where(u < p_junk + p_conv, 1, 0))  # 2 junk, 1 converted, 0 in work
        delay = (rng.lognormal(np.log(2.5), 0.9, n) * DAY).astype(np.int64) + 1800
        close = ts + delay
        # the dismissed manager's leads stop at dismissal: still in work
        dis = (mgr == ROLES["dismissed"]) & (close > self.dismissed_at)
        outcome = np.where(dis, 0, outcome)
        outcome = np.where(close > now, 0, outcome)
        proc_mid = rng.random(n)
        proc_pick = rng.random(n)
        title_kind = rng.integers(0, len(_PRODUCTS), n)
        co = rng.integers(0, len(self.companies), n)
        first = rng.integers(0, len(_FIRST), n)
        last = rng.integers(0, len(_LAST), n)
        utm_pick = rng.integers(0, 3, n)
        amount = np.round(rng.lognormal(np.log(400000), 0.8, n), -3)
        edit = rng.random(n)
        # status of leads still in work
        inwork_status = np.where(proc_pick < 0.35, "NEW", np.where(proc_pick < 0.8, "IN_PROCESS", "PROCESSED"))
        status = np.where(outcome == 2, "JUNK", np.where(outcome == 1, "CONVERTED", inwork_status)).astype(object)
        sem = np.where(outcome == 2, "F", np.where(outcome == 1, "S", "P")).astype(object)
        hist = {"TYPE_ID": [], "OWNER_ID": [], "CREATED_TIME": [], "STATUS_ID": [], "STATUS_SEMANTIC_ID": []}
        moved = np.empty(n, np.int64)
        ids = np.arange(1, n + 1)
        for i in range(n):
            t = int(ts[i])
            steps = [(1, t, "NEW", "P")]
            if outcome[i] > 0:
                end = int(close[i])
                mid = t + int((end - t) * (0.2 + 0.5 * proc_mid[i]))
                steps.append((2, mid, "IN_PROCESS", "P"))
                steps.append((3, end, status[i], sem[i]))
            elif status[i] != "NEW":
                span = min(int(delay[i]), now - t)
                mid = t + int(span * (0.2 + 0.5 * proc_mid[i]))
                steps.append((2, mid, "IN_PROCESS", "P"))
                if status[i] == "PROCESSED":
                    steps.append((2, t + int(span * (0.75 + 0.2 * proc_mid[i])), "PROCESSED", "P"))
            for typ, tt, st, se in steps:
                hist["TYPE_ID"].append(typ)
                hist["OWNER_ID"].append(i + 1)
                hist["CREATED_TIME"].append(tt)
                hist["STATUS_ID"].append(st)
                hist["STATUS_SEMANTIC_ID"].append(se)
            moved[i] = steps[-1][1]
        date_closed = np.where(outcome > 0, close, NULL)
        date_modify = np.maximum(moved, np.minimum(ts + (edit * 5 * DAY).astype(np.int64), now))
        srcs = src_names[src]
        utm = {k: np.full(n, None, dtype=object) for k in ("UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN")}
        for s_name, (us, um, uc) in _UTM.items():
            sel = srcs == s_name
            utm["UTM_SOURCE"][sel] = np.array(us, dtype=object)[utm_pick[sel]]
            utm["UTM_MEDIUM"][sel] = np.array(um, dtype=object)[utm_pick[sel]]
            utm["UTM_CAMPAIGN"][sel] = np.array(uc, dtype=object)[utm_pick[sel]]
        for k in utm:
            utm[k] = np.where(utm[k] == "", None, utm[k])
        companies = np.array(self.companies, dtype=object)[co]
        titles = np.array([f"Заявка: {lead_title_product(_PRODUCTS[k])}" for k in range(len(_PRODUCTS))],
                          dtype=object)[title_kind]
        data = {
            "ID": ids, "TITLE": titles, "NAME": np.array(_FIRST, dtype=object)[first],
            "SECOND_NAME": np.full(n, None, dtype=object), "LAST_NAME": np.array(_LAST, dtype=object)[last],
            "COMPANY_TITLE": companies, "STATUS_ID": status, "STATUS_SEMANTIC_ID": sem,
            "STATUS_DESCRIPTION": np.full(n, None, dtype=object), "SOURCE_ID": srcs,
            "SOURCE_DESCRIPTION": np.full(n, None, dtype=object), "OPPORTUNITY": amount,
            "CURRENCY_ID": np.full(n, "RUB", dtype=object), "ASSIGNED_BY_ID": mgr,
            "CREATED_BY_ID": np.where(np.isin(srcs, ["WEB", "WEBFORM"]), mgr, mgr), "MODIFY_BY_ID": mgr,
            "MOVED_BY_ID": mgr, "DATE_CREATE": ts, "DATE_MODIFY": date_modify, "DATE_CLOSED": date_closed,
            "MOVED_TIME": moved, "COMPANY_ID": co + 1, "CONTACT_ID": ids + 10000, "IS_RETURN_CUSTOMER": np.zeros(n, bool),
            "OPENED": np.ones(n, bool), "ASSIGNED_BY_LEAD": np.full(n, None, dtype=object), **utm,
            "UTM_CONTENT": np.full(n, None, dtype=object), "UTM_TERM": np.full(n, None, dtype=object),
        }
        data.pop("ASSIGNED_BY_LEAD")
        kinds = {"ID": "int", "OPPORTUNITY": "money", "ASSIGNED_BY_ID": "int", "CREATED_BY_ID": "int",
                 "MODIFY_BY_ID": "int", "MOVED_BY_ID": "int", "DATE_CREATE": "dt", "DATE_MODIFY": "dt",
                 "DATE_CLOSED": "dt", "MOVED_TIME": "dt", "COMPANY_ID": "int", "CONTACT_ID": "int",
                 "IS_RETURN_CUSTOMER": "yn", "OPENED": "yn"}
        leads = Table("lead", {k: kinds.get(k, "str") for k in data}, data)
        hid = np.arange(1, len(hist["OWNER_ID"]) + 1)
        order = np.argsort(np.array(hist["CREATED_TIME"], dtype=np.int64), kind="stable")
        hdata = {k: np.asarray(v, dtype=np.int64 if k in ("TYPE_ID", "OWNER_ID", "CREATED_TIME") else object)[order]
                 for k, v in hist.items()}
        hdata = {"ID": hid, **hdata}
        lh = Table("lead_status_history", {"ID": "num", "TYPE_ID": "num", "OWNER_ID": "num", "CREATED_TIME": "dt",
                                           "STATUS_ID": "str", "STATUS_SEMANTIC_ID": "str"}, hdata, empty_dt=None)
        conv = outcome == 1
        return leads, lh, {"lead_ids": ids[conv], "close": close[conv], "mgr": mgr[conv], "src": srcs[conv],
                           "utm": {k: v[conv] for k, v in utm.items()}, "co": co[conv], "all_mgr": mgr,
                           "all_ts": ts, "all_open": outcome == 0, "all_close": close}

    def deals(self, conv):
        rng, now = self.rng, self.now
        n_total = max(20, int(round(2500 * self.scale)))
        n_conv = len(conv["lead_ids"])
        n_direct = max(10, n_total - n_conv)
        ts_direct = self.times(n_direct)
        ts_conv = conv["close"] + 60 + (rng.random(n_conv) * 1800).astype(np.int64)
        ts = np.concatenate([ts_conv, ts_direct])
        order = np.argsort(ts, kind="stable")
        n = len(ts)
        ts = np.minimum(ts[order], now - 30)
        is_conv = np.concatenate([np.ones(n_conv, bool), np.zeros(n_direct, bool)])[order]
        lead_id = np.concatenate([conv["lead_ids"], np.full(n_direct, NULL)])[order]
        mgr = np.concatenate([conv["mgr"], self.pick_managers(ts_direct)])[order]
        dsrc = np.array(["", "CALL", "EMAIL", "RECOMMENDATION", "PARTNER", "OTHER"], dtype=object)[
            rng.choice(6, size=n_direct, p=[0.35, 0.25, 0.12, 0.1, 0.13, 0.05])]
        src = np.concatenate([conv["src"], dsrc])[order]
        utm = {k: np.concatenate([v, np.full(n_direct, None, dtype=object)])[order] for k, v in conv["utm"].items()}
        co = np.concatenate([conv["co"], rng.integers(0, len(self.companies), n_direct)])[order]
        u_pipe = rng.random(n)
        cat = np.where(u_pipe < np.where(src == "PARTNER", 0.75, 0.15), 1, 0)
        skill = self.prof(mgr, 1)
        p_win = np.clip(0.33 * skill * np.where(cat == 1, 1.2, 1.0) * np.where(is_conv, 1.1, 1.0), 0.04, 0.85)
        won = rng.random(n) < p_win
        cyc = np.where(won, rng.lognormal(np.log(26), 0.6, n), rng.lognormal(np.log(15), 0.8, n))
        cyc = cyc * np.where(mgr == ROLES["top"], 0.75, 1.0)
        close = ts + (cyc * DAY).astype(np.int64)
        is_open = close > now
        dismissed = (mgr == ROLES["dismissed"]) & (close > self.dismissed_at)
        is_open |= dismissed
        stalled = (rng.random(n) < 0.04) & (ts < now - 30 * DAY)  # long-running deals nobody closed
        is_open |= stalled
        planned = ts + (cyc * rng.uniform(0.6, 1.3, n) * DAY).astype(np.int64)
        forgotten = is_open & (rng.random(n) < 0.15) & (ts < now - 25 * DAY)
        forgotten |= dismissed
        idle = (rng.uniform(15, 60, n) * DAY).astype(np.int64)
        act_end = np.where(is_open, np.where(forgotten, np.maximum(ts + DAY, now - idle), now), close)
        act_end = np.where(dismissed, np.minimum(act_end, self.dismissed_at), act_end)
        act_end = np.maximum(act_end, ts + 600)
        amount = np.round(rng.lognormal(np.log(np.where(cat == 1, 900000, 450000)), 0.55, n)
                          * np.where(mgr == ROLES["top"], 1.4, 1.0), -3)
        amount = np.maximum(amount, 15000.0)
        u_moves = rng.random((n, 24))
        u_lost = rng.random(n)
        u_prog = rng.random(n)
        u_edit = rng.random(n)
        type_id = np.array([t for t, _ in _DEAL_TYPES], dtype=object)[rng.choice(5, size=n, p=[0.45, 0.2, 0.15, 0.1, 0.1])]
        prod = rng.integers(0, len(_PRODUCTS), n)
        stage = np.empty(n, dtype=object)
        sem = np.empty(n, dtype=object)
        moved = np.empty(n, np.int64)
        hist = {"TYPE_ID": [], "OWNER_ID": [], "CREATED_TIME": [], "CATEGORY_ID": [], "STAGE_SEMANTIC_ID": [], "STAGE_ID": []}

        def push(typ, owner, t, c, s, st):
            hist["TYPE_ID"].append(typ)
            hist["OWNER_ID"].append(owner)
            hist["CREATED_TIME"].append(t)
            hist["CATEGORY_ID"].append(c)
            hist["STAGE_SEMANTIC_ID"].append(s)
            hist["STAGE_ID"].append(st)

        for i in range(n):
            c = int(cat[i])
            _, prog, won_st, lost = PIPELINES[c]
            u = u_moves[i]
            if won[i] and not is_open[i]:
                reach = len(prog) - 1
            elif is_open[i]:
                frac = (min(now, act_end[i]) - ts[i]) / max(planned[i] - ts[i], 1)
                reach = int(min(len(prog) - 1, np.floor(frac * len(prog) * (0.6 + 0.5 * u_prog[i]))))
            else:
                reach = int(min(len(prog) - 1, np.floor(u_lost[i] ** 1.6 * len(prog))))
            path = [0]
            j = 0
            for k in range(1, reach + 1):
                if k < reach and u[k] < 0.15:
                    continue  # skipped stage
                path.append(k)
                if k >= 2 and u[8 + k] < 0.08:
                    path.extend([k - 1, k])  # moved back, then forward again
            final = None
            if not is_open[i]:
                final = won_st if won[i] else (lost[0] if len(lost) == 1 or u[20] < 0.85 else lost[1])
            t_start, t_end = int(ts[i]), int(act_end[i] if is_open[i] else close[i])
            n_moves = len(path) - 1 + (1 if final else 0)
            fr = np.sort(u[21 - min(n_moves, 20):21][:n_moves]) if n_moves else np.array([])
            if final and n_moves:
                fr[-1] = 1.0
            times = [t_start] + [t_start + int(f * (t_end - t_start)) for f in fr]
            push(1, i + 1, times[0], c, "P", prog[0])
            for k, st_idx in enumerate(path[1:], start=1):
                push(2, i + 1, times[k], c, "P", prog[st_idx])
            if final:
                s = "S" if final == won_st else "F"
                push(3, i + 1, times[-1], c, s, final)
                stage[i], sem[i] = final, s
            else:
                stage[i], sem[i] = prog[path[-1]], "P"
            moved[i] = times[-1]
        closed = sem != "P"
        closedate = _midnight(np.where(closed, moved, planned))
        last_event = np.where(closed, moved, act_end)
        date_modify = np.maximum(moved, np.minimum(ts + (u_edit * np.maximum(last_event - ts, 0)).astype(np.int64), now))
        titles = np.array([f"{_PRODUCTS[p]} — {self.companies[c]}" for p, c in zip(prod, co)], dtype=object)
        currency = np.full(n, "RUB", dtype=object)
        amount = amount.astype(np.float64)
        # special rows: foreign currency, empty amount, hostile titles (fixed positions)
        k = max(2, n // 1000)
        fx = np.linspace(n // 7, n - n // 7, 2 * k).astype(int)
        for j2, pos in enumerate(fx):
            cur = "USD" if j2 % 2 == 0 else "EUR"
            currency[pos] = cur
            amount[pos] = np.round(amount[pos] / (92.5 if cur == "USD" else 100.25), -1)
        amount[n // 5] = np.nan
        titles[n // 3] = '<script>alert(1)</script> Станок "Профи" & <b>сервис</b>'
        titles[n // 2] = "=SUM(A1:A9) Поставка запчастей"
        stage_prob = {st: 10 + 80 * k // len(p) for _, p, _, _ in PIPELINES.values() for k, st in enumerate(p)}
        prob = np.array([100 if s_ == "S" else 0 if s_ == "F" else stage_prob[st] for s_, st in zip(sem, stage)])
        ids = np.arange(1, n + 1)
        data = {
            "ID": ids, "TITLE": titles, "TYPE_ID": type_id, "CATEGORY_ID": cat, "STAGE_ID": stage,
            "STAGE_SEMANTIC_ID": sem, "IS_NEW": ~closed & (moved == ts), "IS_RECURRING": np.zeros(n, bool),
            "IS_RETURN_CUSTOMER": ~is_conv & (co % 3 == 0), "IS_REPEATED_APPROACH": np.zeros(n, bool),
            "PROBABILITY": prob, "CURRENCY_ID": currency, "OPPORTUNITY": amount,
            "IS_MANUAL_OPPORTUNITY": np.ones(n, bool), "TAX_VALUE": np.zeros(n), "COMPANY_ID": co + 1,
            "CONTACT_ID": np.where(is_conv, lead_id + 10000, co + 20001), "QUOTE_ID": np.full(n, NULL),
            "BEGINDATE": _midnight(ts), "CLOSEDATE": closedate, "OPENED": np.ones(n, bool), "CLOSED": closed,
            "COMMENTS": np.full(n, None, dtype=object), "ASSIGNED_BY_ID": mgr, "CREATED_BY_ID": mgr,
            "MODIFY_BY_ID": mgr, "MOVED_BY_ID": mgr, "DATE_CREATE": ts, "DATE_MODIFY": date_modify,
            "MOVED_TIME": moved, "SOURCE_ID": np.where(src == "", None, src), "SOURCE_DESCRIPTION": np.full(n, None, dtype=object),
            "LEAD_ID": lead_id, "ADDITIONAL_INFO": np.full(n, None, dtype=object), "LOCATION_ID": np.full(n, None, dtype=object),
            "ORIGINATOR_ID": np.full(n, None, dtype=object), "ORIGIN_ID": np.full(n, None, dtype=object),
            **utm, "UTM_CONTENT": np.full(n, None, dtype=object), "UTM_TERM": np.full(n, None, dtype=object),
            "LAST_ACTIVITY_TIME": ts, "LAST_ACTIVITY_BY": mgr,
        }
        kinds = {"ID": "int", "CATEGORY_ID": "int", "IS_NEW": "yn", "IS_RECURRING": "yn", "IS_RETURN_CUSTOMER": "yn",
                 "IS_REPEATED_APPROACH": "yn", "PROBABILITY": "int", "OPPORTUNITY": "money",
                 "IS_MANUAL_OPPORTUNITY": "yn", "TAX_VALUE": "money", "COMPANY_ID": "int", "CONTACT_ID": "int",
                 "QUOTE_ID": "int", "BEGINDATE": "dt", "CLOSEDATE": "dt", "OPENED": "yn", "CLOSED": "yn",
                 "ASSIGNED_BY_ID": "int", "CREATED_BY_ID": "int", "MODIFY_BY_ID": "int", "MOVED_BY_ID": "int",
                 "DATE_CREATE": "dt", "DATE_MODIFY": "dt", "MOVED_TIME": "dt", "LEAD_ID": "int",
                 "LAST_ACTIVITY_TIME": "dt", "LAST_ACTIVITY_BY": "int"}
        fields = {k: kinds.get(k, "str") for k in data}
        hid = np.arange(1, len(hist["OWNER_ID"]) + 1)
        ht = np.array(hist["CREATED_TIME"], dtype=np.int64)
        horder = np.argsort(ht, kind="stable")
        hdata = {"ID": hid}
        for k, v in hist.items():
            arr = np.asarray(v, dtype=object if k in ("STAGE_SEMANTIC_ID", "STAGE_ID") else np.int64)
            hdata[k] = arr[horder]
        dh = Table("deal_stage_history", {"ID": "num", "TYPE_ID": "num", "OWNER_ID": "num", "CREATED_TIME": "dt",
                                          "CATEGORY_ID": "num", "STAGE_SEMANTIC_ID": "str", "STAGE_ID": "str"},
                   hdata, empty_dt=None)
        info = {"ts": ts, "act_end": act_end, "mgr": mgr, "open": is_open, "forgotten": forgotten,
                "contact": data["CONTACT_ID"], "data": data, "fields": fields}
        return info, dh

    def activities(self, leads: Table, info):
        rng, now = self.rng, self.now
        # owners: deals then leads
        d_ts, d_end, d_mgr = info["ts"], info["act_end"], info["mgr"]
        l_ts = leads.column("DATE_CREATE")
        l_mgr = leads.column("ASSIGNED_BY_ID")
        l_open = leads.column("STATUS_SEMANTIC_ID") == "P"
        l_close = np.where(l_open, now, leads.column("MOVED_TIME"))
        l_forgot = l_open & (rng.random(len(l_ts)) < 0.3) & (l_ts < now - 20 * DAY)
        l_forgot |= l_open & (l_mgr == ROLES["dismissed"])
        l_end = np.where(l_forgot, np.maximum(l_ts + 3600, np.minimum(l_close, now - (rng.uniform(15, 50, len(l_ts)) * DAY).astype(np.int64))), l_close)
        l_end = np.where(l_mgr == ROLES["dismissed"], np.minimum(l_end, self.dismissed_at), l_end)
        l_end = np.maximum(l_end, l_ts + 600)
        n_d, n_l = len(d_ts), len(l_ts)
        o_type = np.concatenate([np.full(n_d, 2), np.full(n_l, 1)])
        o_id = np.concatenate([np.arange(1, n_d + 1), leads.column("ID")])
        o_start = np.concatenate([d_ts, l_ts])
        o_end = np.concatenate([d_end, l_end])
        o_mgr = np.concatenate([d_mgr, l_mgr])
        o_open = np.concatenate([info["open"], l_open])
        o_forgot = np.concatenate([info["forgotten"], l_forgot])
        act = self.prof(o_mgr, 2)
        days = (o_end - o_start) / DAY
        lam = np.where(o_type == 2, 2.0 + np.minimum(days, 90) * 0.42, 1.5 + np.minimum(days, 30) * 0.15) * act
        cnt = rng.poisson(lam)
        cnt = np.maximum(cnt, 1)
        owner = np.repeat(np.arange(len(o_id)), cnt)
        m = len(owner)
        start = o_start[owner] + (rng.random(m) * (o_end[owner] - o_start[owner])).astype(np.int64)
        start = np.minimum(start, now - 60)
        # planned next steps (not completed): most open, not forgotten owners; some overdue
        u_next = rng.random(len(o_id))
        has_next = o_open & ~o_forgot & (u_next < 0.8)
        overdue = has_next & (u_next < 0.1)
        nowner = np.flatnonzero(has_next)
        nstart = np.where(overdue[nowner], now - (rng.uniform(1, 10, len(nowner)) * DAY).astype(np.int64),
                          now + (rng.uniform(0.1, 14, len(nowner)) * DAY).astype(np.int64))
        owner = np.concatenate([owner, nowner])
        start = np.concatenate([start, nstart])
        completed = np.concatenate([np.ones(m, bool), np.zeros(len(nowner), bool)])
        n = len(owner)
        # kinds: 0 call out, 1 call in, 2 meeting, 3 email out, 4 email in, 5 chat, 6 todo, 7 legacy task
        p_kind = np.array([0.36, 0.14, 0.06, 0.13, 0.08, 0.08, 0.12, 0.03])
        kind = rng.choice(8, size=n, p=p_kind)
        pk_next = rng.choice([0, 2, 6], size=n, p=[0.4, 0.2, 0.4])
        kind = np.where(completed, kind, pk_next)
        mgr = o_mgr[owner]
        short_share = self.prof(mgr, 3)
        short = rng.random(n) < short_share
        dur = np.where(short, rng.integers(1, 10, n), (rng.lognormal(np.log(140), 0.9, n)).astype(np.int64) + 10)
        missed = (kind == 1) & short & (rng.random(n) < 0.5)
        dur = np.where(missed, 0, dur)
        is_call = kind <= 1
        length = np.select([is_call, kind == 2, kind == 5, kind == 7],
                           [dur, 3600, (rng.uniform(5, 40, n) * 60).astype(np.int64), 2 * DAY], 0)
        start = np.where(completed, np.maximum(np.minimum(start, now - length - 60), o_start[owner]), start)
        end = np.where(completed, np.minimum(start + length, now - 30), start + length)
        start = np.minimum(start, end)
        created = np.where(completed, start, np.minimum(now - 60, np.maximum(o_start[owner], now - (rng.uniform(0, 5, n) * DAY).astype(np.int64))))
        last_upd = np.where(completed, np.minimum(end + 60, now), created)
        # order by creation -> ids
        order = np.lexsort((owner, created))
        owner, start, end, completed, kind, mgr, created, last_upd, dur, missed = (
            a[order] for a in (owner, start, end, completed, kind, mgr, created, last_upd, dur, missed))
        is_call = kind <= 1
        n = len(owner)
        ids = np.arange(1, n + 1)
        type_lut = np.array([2, 2, 1, 4, 4, 6, 6, 3])
        dir_lut = np.array([2, 1, 0, 2, 1, 1, 0, 0])
        prov_lut = np.array(["VOXIMPLANT_CALL", "VOXIMPLANT_CALL", "CRM_MEETING", "CRM_EMAIL", "CRM_EMAIL",
                             "IMOPENLINES_SESSION", "CRM_TODO", "CRM_TASKS_TASK"], dtype=object)
        ptype_lut = np.array(["CALL", "CALL", "MEETING", "EMAIL", "EMAIL", "IMOPENLINES_SESSION", "TODO", "TASK"], dtype=object)
        subj_lut = np.array(["Исходящий звонок", "Входящий звонок", "Встреча с клиентом", "Коммерческое предложение",
                             "Re: запрос цены", "Диалог в WhatsApp", "Подготовить КП", "Согласовать договор"], dtype=object)
        call_hex = rng.integers(0, 2**40, n)
        origin = np.full(n, None, dtype=object)
        ci = np.flatnonzero(is_call)
        call_ids = np.array([f"externalcall.{h:010x}.{s}" for h, s in zip(call_hex[ci], start[ci])], dtype=object)
        origin[ci] = np.array([f"VI_{c}" for c in call_ids], dtype=object)
        deadline = np.where(kind == 7, end, start)
        data = {
            "ID": ids, "OWNER_ID": o_id[owner], "OWNER_TYPE_ID": o_type[owner], "TYPE_ID": type_lut[kind],
            "PROVIDER_ID": prov_lut[kind], "PROVIDER_TYPE_ID": ptype_lut[kind], "PROVIDER_GROUP_ID": np.full(n, None, dtype=object),
            "ASSOCIATED_ENTITY_ID": np.where(kind == 7, ids % 997 + 1, 0), "SUBJECT": subj_lut[kind],
            "CREATED": created, "LAST_UPDATED": last_upd, "START_TIME": start, "END_TIME": end, "DEADLINE": deadline,
            "COMPLETED": completed, "STATUS": np.where(completed, 2, 1), "RESPONSIBLE_ID": mgr,
            "PRIORITY": np.where(kind == 2, 3, 2), "NOTIFY_TYPE": np.zeros(n, np.int64), "NOTIFY_VALUE": np.zeros(n, np.int64),
            "DESCRIPTION": np.full(n, "", dtype=object), "DESCRIPTION_TYPE": np.ones(n, np.int64),
            "DIRECTION": dir_lut[kind], "LOCATION": np.full(n, "", dtype=object), "SETTINGS": np.full(n, None, dtype=object),
            "ORIGINATOR_ID": np.full(n, None, dtype=object), "ORIGIN_ID": origin, "AUTHOR_ID": mgr, "EDITOR_ID": mgr,
            "IS_INCOMING_CHANNEL": np.isin(kind, [1, 4, 5]),
        }
        kinds = {"ID": "int", "OWNER_ID": "int", "OWNER_TYPE_ID": "int", "TYPE_ID": "int", "ASSOCIATED_ENTITY_ID": "int",
                 "CREATED": "dt", "LAST_UPDATED": "dt", "START_TIME": "dt", "END_TIME": "dt", "DEADLINE": "dt",
                 "COMPLETED": "yn", "STATUS": "int", "RESPONSIBLE_ID": "int", "PRIORITY": "int", "NOTIFY_TYPE": "int",
                 "NOTIFY_VALUE": "int", "DESCRIPTION_TYPE": "int", "DIRECTION": "int", "AUTHOR_ID": "int",
                 "EDITOR_ID": "int", "SETTINGS": "raw", "IS_INCOMING_CHANNEL": "yn"}
        activities = Table("activity", {k: kinds.get(k, "str") for k in data}, data)
        # deals: LAST_ACTIVITY_TIME = last completed touch
        dd = info["data"]
        sel = completed & (data["OWNER_TYPE_ID"] == 2)
        last = np.full(len(dd["ID"]), NULL)
        np.maximum.at(last, data["OWNER_ID"][sel] - 1, end[sel])
        dd["LAST_ACTIVITY_TIME"] = np.where(last == NULL, dd["DATE_CREATE"], np.minimum(np.maximum(last, dd["DATE_CREATE"]), now))
        deals_table = Table("deal", info["fields"], dd)
        info["table"] = deals_table
        # voximplant.statistic.get: completed calls
        vsel = np.flatnonzero(is_call & completed)
        vorder = vsel[np.argsort(start[vsel], kind="stable")]
        nv = len(vorder)
        ok = ~missed[vorder]
        short_out = (dur[vorder] < 10) & (kind[vorder] == 0)
        busy = short_out & (rng.random(nv) < 0.3)
        fail = np.where(~ok, "304", np.where(busy, "486", "200")).astype(object)
        reason = np.where(~ok, "Пропущенный", np.where(busy, "Занято", "Success call")).astype(object)
        owner_type = data["OWNER_TYPE_ID"][vorder]
        phone = rng.integers(9000000000, 9999999999, nv)
        call_id_of = {int(a): c for a, c in zip(ids[ci], call_ids)}
        vdata = {
            "ID": np.arange(1, nv + 1), "CALL_ID": np.array([call_id_of[int(a)] for a in ids[vorder]], dtype=object),
            "EXTERNAL_CALL_ID": np.full(nv, None, dtype=object), "CALL_CATEGORY": np.full(nv, "external", dtype=object),
            "PORTAL_USER_ID": mgr[vorder], "PORTAL_NUMBER": np.full(nv, "reg74951204500", dtype=object),
            "PHONE_NUMBER": np.array([f"+7{p}" for p in phone], dtype=object),
            "CALL_TYPE": np.where(kind[vorder] == 0, 1, 2), "CALL_DURATION": dur[vorder],
            "CALL_START_DATE": start[vorder], "CALL_FAILED_CODE": fail, "CALL_FAILED_REASON": reason,
            "CALL_VOTE": np.zeros(nv, np.int64), "COST": np.round(dur[vorder] / 60 * 1.2, 2),
            "COST_CURRENCY": np.full(nv, "RUR", dtype=object),
            "CRM_ENTITY_TYPE": np.where(owner_type == 1, "LEAD", "CONTACT").astype(object),
            "CRM_ENTITY_ID": np.where(owner_type == 1, data["OWNER_ID"][vorder], dd["CONTACT_ID"][np.minimum(data["OWNER_ID"][vorder], len(dd["ID"])) - 1]),
            "CRM_ACTIVITY_ID": ids[vorder], "RECORD_FILE_ID": np.full(nv, NULL), "CALL_RECORD_URL": np.full(nv, "", dtype=object),
            "TRANSCRIPT_ID": np.full(nv, NULL), "REST_APP_ID": np.full(nv, NULL),
        }
        vkinds = {"ID": "int", "PORTAL_USER_ID": "int", "CALL_TYPE": "int", "CALL_DURATION": "int", "CALL_START_DATE": "dt",
                  "CALL_VOTE": "int", "COST": "money", "CRM_ENTITY_ID": "int", "CRM_ACTIVITY_ID": "int",
                  "RECORD_FILE_ID": "int", "TRANSCRIPT_ID": "int", "REST_APP_ID": "int"}
        calls = Table("call", {k: vkinds.get(k, "str") for k in vdata}, vdata, empty_dt=None)
        return activities, calls

    def tasks(self, deals_info):
        rng, now = self.rng, self.now
        n = max(10, int(round(3000 * self.scale)))
        ts = self.times(n)
        people = np.array([2, 3, 4, 5] + [int(i) for i in self.mgr_ids if i not in (3, 4)])
        w = np.array([0.5, 0.8, 0.8, 1.0] + [1.5 if i == ROLES["backlog"] else 1.0 for i in people[4:]])
        resp = people[rng.choice(len(people), size=n, p=w / w.sum())]
        resp = np.where((resp == ROLES["dismissed"]) & (ts >= self.dismissed_at), ROLES["top"], resp)
        has_dl = rng.random(n) < 0.85
        dl_days = rng.integers(1, 22, n)
        deadline = _midnight(ts + dl_days * DAY) + 18 * 3600
        deadline = np.where(has_dl, deadline, NULL)
        has_plan = rng.random(n) < 0.3
        plan = np.where(has_plan & has_dl, ts + ((deadline - ts) * rng.uniform(0, 0.5, n)).astype(np.int64), NULL)
        u = rng.random(n)
        late = (rng.exponential(4, n) * DAY).astype(np.int64) + 3600
        ontime = ts + ((np.where(has_dl, deadline, ts + 5 * DAY) - ts) * rng.uniform(0.1, 0.98, n)).astype(np.int64)
        close = np.where(~has_dl, ts + (rng.exponential(5, n) * DAY).astype(np.int64) + 1800,
                         np.where(u < 0.62, ontime, np.where(u < 0.67, deadline, deadline + late)))
        age = (now - ts) / DAY
        p_closed = np.full(n, 0.93)
        bl = resp == ROLES["backlog"]
        p_closed = np.where(bl & (age < 200), 0.93 - 0.85 * (200 - age) / 200, p_closed)
        closed = (rng.random(n) < p_closed) & (close <= now)
        st_u = rng.random(n)
        status = np.where(closed, np.where(st_u < 0.88, 5, np.where(st_u < 0.95, 4, 7)),
                          np.where(st_u < 0.4, 2, np.where(st_u < 0.9, 3, 6)))
        closed_date = np.where(closed, close, NULL)
        has_start = np.where(closed, rng.random(n) < 0.8, status == 3)
        start_end = np.where(closed, close, now)
        date_start = np.where(has_start, ts + ((start_end - ts) * rng.uniform(0, 0.5, n)).astype(np.int64), NULL)
        changed = np.maximum.reduce([ts, np.where(closed, closed_date, ts), np.where(has_start, date_start, ts)])
        changed = np.minimum(changed + 120, now)
        group = np.where(rng.random(n) < 0.3, rng.integers(1, len(_WORKGROUPS) + 1, n), 0)
        n_deals = len(deals_info["ts"])
        bind = rng.random(n) < 0.25
        deal_ref = np.searchsorted(deals_info["ts"], ts).clip(1, n_deals)
        uf = np.empty(n, dtype=object)
        for i in range(n):
            uf[i] = [f"D_{int(deal_ref[i])}"] if bind[i] else []
        titles_l = ["Подготовить коммерческое предложение", "Согласовать договор поставки", "Выставить счёт клиенту",
                    "Организовать демонстрацию оборудования", "Отчёт по продажам за неделю", "Обновить прайс-лист",
                    "Подготовить тендерную документацию", "Проверить дебиторскую задолженность",
                    "Созвониться с дилером по остаткам", "Запланировать пусконаладку"]
        title = np.array(titles_l, dtype=object)[rng.integers(0, len(titles_l), n)]
        head_of = {3: 3, 4: 4}
        dep = {u[0]: u[5] for u in _USERS}
        created_by = np.array([head_of.get(dep[int(r)], 2) for r in resp])
        data = {
            "ID": np.arange(1, n + 1), "PARENT_ID": np.zeros(n, np.int64), "TITLE": title,
            "DESCRIPTION": np.full(n, "", dtype=object), "MARK": np.full(n, None, dtype=object),
            "PRIORITY": np.where(rng.random(n) < 0.2, 2, 1), "STATUS": status, "SUB_STATUS": status,
            "MULTITASK": np.zeros(n, bool), "NOT_VIEWED": np.zeros(n, bool), "REPLICATE": np.zeros(n, bool),
            "GROUP_ID": group, "STAGE_ID": np.zeros(n, np.int64), "CREATED_BY": created_by, "CREATED_DATE": ts,
            "RESPONSIBLE_ID": resp, "CHANGED_BY": resp, "CHANGED_DATE": changed,
            "STATUS_CHANGED_DATE": np.where(closed, closed_date, np.where(has_start, date_start, ts)),
            "CLOSED_BY": np.where(closed, resp, 0), "CLOSED_DATE": closed_date, "ACTIVITY_DATE": changed,
            "DATE_START": date_start, "DEADLINE": deadline, "START_DATE_PLAN": plan,
            "END_DATE_PLAN": np.where(has_plan & has_dl, deadline, NULL), "TIME_ESTIMATE": np.zeros(n, np.int64),
            "TIME_SPENT_IN_LOGS": np.zeros(n, np.int64), "ALLOW_CHANGE_DEADLINE": np.ones(n, bool),
            "TASK_CONTROL": np.where(status == 4, True, False), "UF_CRM_TASK": uf,
        }
        kinds = {k: "int" for k in ("ID", "PARENT_ID", "PRIORITY", "STATUS", "SUB_STATUS", "GROUP_ID", "STAGE_ID",
                                    "CREATED_BY", "RESPONSIBLE_ID", "CHANGED_BY", "CLOSED_BY", "TIME_ESTIMATE",
                                    "TIME_SPENT_IN_LOGS")}
        kinds.update({k: "dt" for k in ("CREATED_DATE", "CHANGED_DATE", "STATUS_CHANGED_DATE", "CLOSED_DATE",
                                        "ACTIVITY_DATE", "DATE_START", "DEADLINE", "START_DATE_PLAN", "END_DATE_PLAN")})
        kinds.update({k: "yn" for k in ("MULTITASK", "NOT_VIEWED", "REPLICATE", "ALLOW_CHANGE_DEADLINE", "TASK_CONTROL")})
        kinds["UF_CRM_TASK"] = "raw"
        wire = {k: _camel(k) for k in data}
        return Table("task", {k: kinds.get(k, "str") for k in data}, data, wire_names=wire, empty_dt=None,
                     default_order=[("ID", False)], aliases={"REAL_STATUS": "STATUS"})


def _camel(name: str) -> str:
    parts = name.lower().split("_")
    return parts[0] + "".join(p.title() for p in parts[1:])
