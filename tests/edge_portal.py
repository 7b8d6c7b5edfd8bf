"""The edge portal of issue 20, made from a copy of the demo store: 30 managers with long names,
one pipeline of 12 stages with long names, 25 lead sources with long names. The layout check
(tests/browser/test_chart_layout.py) and the print check (tests/test_print_check.py) run on it
beside the demo portal."""

from __future__ import annotations

from pathlib import Path

#: managers of the edge portal: 30 long names (surname, first name; as users type them)
_SURNAMES = ("Константинопольская", "Преображенский", "Верхнеднепровская", "Воскресенский", "Александровская",
             "Новомосковский", "Петропавловская", "Рождественский", "Красносельская", "Благовещенский")
_FIRST = ("Александра-Мария", "Владислав-Станислав", "Екатерина-Елизавета")
#: the edge pipeline's 12 stages (sort, id, name, semantics): 9 in progress, won, 2 lost
EDGE_STAGES = [
    (10, "NEW", "Новая входящая заявка с сайта", "P"),
    (20, "QUALIFY", "Квалификация клиента и выявление потребностей", "P"),
    (30, "PREPARATION", "Подготовка коммерческого предложения и спецификации", "P"),
    (35, "TECH", "Техническое согласование с инженерами заказчика", "P"),
    (40, "PREPAYMENT_INVOICE", "Счёт на предоплату и согласование договора", "P"),
    (45, "LEGAL", "Юридическая проверка и подписание договора", "P"),
    (50, "EXECUTING", "Исполнение заказа и производство", "P"),
    (55, "DELIVERY", "Доставка, монтаж и пусконаладочные работы", "P"),
    (58, "FINAL_INVOICE", "Финальный счёт и закрывающие документы", "P"),
    (60, "WON", "Сделка успешно закрыта", "S"),
    (70, "LOSE", "Сделка провалена", "F"),
    (80, "APOLOGY", "Анализ причины провала", "F"),
]


def build_edge_store(demo_store: Path, path: Path) -> Path:
    """A copy of the demo store turned into the edge portal of issue 20: 30 managers with long
    names (every deal, lead, activity, call and task shared out among them), one pipeline of
    12 stages with long names (pipeline 1's deals moved into it; some open deals on the new
    stages), and 25 lead sources with long names."""
    import shutil

    import duckdb

    shutil.copy(demo_store, path)
    con = duckdb.connect(str(path))
    try:
        dep = con.execute("SELECT min(id) FROM departments").fetchone()[0]
        con.execute("DELETE FROM users")
        for i in range(30):
            con.execute("INSERT INTO users (id, active, name, last_name, uf_department) VALUES (?, true, ?, ?, ?)",
                        [1001 + i, _FIRST[i % 3], f"{_SURNAMES[i % 10]}-{_SURNAMES[(i + 3) % 10]}", [dep]])
        for table, col in (("deals", "assigned_by_id"), ("leads", "assigned_by_id"), ("activities", "responsible_id"),
                           ("tasks", "responsible_id"), ("calls", "portal_user_id")):
            con.execute(f"UPDATE {table} SET {col} = 1001 + (id % 30)")
        # one pipeline of 12 stages
        for table in ("deals", "deal_stage_history"):
            con.execute(f"UPDATE {table} SET category_id = 0, stage_id = CASE stage_id WHEN 'C1:NEW' THEN 'NEW' "
                        "WHEN 'C1:WON' THEN 'WON' WHEN 'C1:LOSE' THEN 'LOSE' "
                        "ELSE CASE WHEN stage_id LIKE 'C1:%' THEN 'EXECUTING' ELSE stage_id END END")
        con.execute("DELETE FROM pipelines WHERE id <> 0")
        con.execute("DELETE FROM statuses WHERE entity_id LIKE 'DEAL_STAGE%'")
        for sort, sid, name, sem in EDGE_STAGES:
            con.execute("INSERT INTO statuses VALUES ('DEAL_STAGE', ?, ?, ?, ?, 0)", [sid, name, sort, sem])
        for k, sid in enumerate(("QUALIFY", "TECH", "LEGAL", "DELIVERY")):
            con.execute(f"UPDATE deals SET stage_id = ? WHERE stage_semantic_id = 'P' AND id % 5 = {k}", [sid])
        # 25 sources
        con.execute("DELETE FROM statuses WHERE entity_id = 'SOURCE'")
        for i in range(25):
            con.execute("INSERT INTO statuses VALUES ('SOURCE', ?, ?, ?, 'P', NULL)",
                        [f"SRC{i + 1:02d}", f"Партнёрская программа «Региональные дистрибьюторы» №{i + 1}", 10 * (i + 1)])
        for table in ("leads", "deals"):
            con.execute(f"UPDATE {table} SET source_id = 'SRC' || lpad(CAST(id % 25 + 1 AS VARCHAR), 2, '0') "
                        "WHERE source_id IS NOT NULL")
    finally:
        con.close()
    return path
