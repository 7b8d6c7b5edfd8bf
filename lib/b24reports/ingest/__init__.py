"""Bitrix24 REST -> the local DuckDB store, and the store -> typed frames.

``auth`` (webhook), ``client`` (call, batch, ID-cursor export, rate limits, retries),
``staging`` (raw rows -> typed rows), ``schema`` and ``store`` (DuckDB tables, every deal version
kept), ``sync`` (full, incremental, deletions proven against the portal's count),
``dataset`` (the store's tables as pandas frames: what metrics read), ``plan_file`` (the sales
plan users fill in). Imports only :mod:`b24reports.core`.
"""
