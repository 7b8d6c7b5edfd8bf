"""Foundation every layer may use: errors and exit codes (``errors``), the report language, plurals and
number formats (``i18n``), display labels and translated messages (``texts``), the catalog of canonical column ids (``columns``) and the project's
paths (``paths``). Imports nothing else of b24reports."""
