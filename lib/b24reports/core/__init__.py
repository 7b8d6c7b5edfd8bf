"""Foundation every layer may use: errors and exit codes (``errors``), the report language and
number formats (``i18n``), the catalog of canonical column ids (``columns``) and the project's
paths (``paths``). Imports nothing else of b24reports."""
