"""The filter bar's words in each language (labels, states, the banner when the kernel is gone)."""

from __future__ import annotations

#: UI text of the filter bar and the page's banners, by language.
UI = {
    "ru": {"period": "Период", "from": "с", "to": "по", "pipeline": "Воронка", "department": "Отдел",
           "employee": "Сотрудник", "stage": "Стадия", "step": "Шаг водопада", "source": "Источник", "utm_source": "UTM: источник", "utm_medium": "UTM: канал",
           "utm_campaign": "UTM: кампания", "all": "Все", "not_set": "не указан", "busy": "Пересчёт…",
           "ready": "Готово", "excel": "Скачать Excel", "excel_ready": "Файл Excel готов: ",
           "clear": "снять фильтр", "error": "Ошибка", "drill_up": "вернуть прежний период",
           "dates_reversed": "дата «с» позже даты «по», показан прежний период", "dismissed": "не работает", "excel_busy": "Готовлю Excel…",
           "lost": "Отчёт не отвечает: сеанс закрыт после простоя или сервер остановлен. Обновите страницу.",
           "reload": "Обновить", "waiting": "Жду ответа отчёта…"},
    "en": {"period": "Period", "from": "from", "to": "to", "pipeline": "Pipeline", "department": "Department",
           "employee": "Employee", "stage": "Stage", "step": "Waterfall step", "source": "Source", "utm_source": "UTM source", "utm_medium": "UTM medium",
           "utm_campaign": "UTM campaign", "all": "All", "not_set": "not set", "busy": "Recomputing…",
           "ready": "Ready", "excel": "Download Excel", "excel_ready": "Excel file ready: ",
           "clear": "clear filter", "error": "Error", "drill_up": "back to the previous period",
           "dates_reversed": "the 'from' date is after the 'to' date; the previous period is shown",
           "dismissed": "dismissed", "excel_busy": "Preparing Excel…",
           "lost": "The report is not responding: the session was closed after being idle, or the server stopped. "
                   "Reload the page.",
           "reload": "Reload", "waiting": "Waiting for the report…"},
}
