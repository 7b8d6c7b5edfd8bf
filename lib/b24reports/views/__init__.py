"""Figures and HTML tables: ``views.common`` (shared look, ``table_html``, ``kpi_cards``,
``no_data``) and one ``views/<report>.py`` module per report (plotly figures from a
``ReportResult``'s tables; no metric logic here)."""
