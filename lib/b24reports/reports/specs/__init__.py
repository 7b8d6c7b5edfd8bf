"""Report registry entries: one module per report, each defining ``SPEC = ReportSpec(...)``.

``b24reports.reports.discover()`` imports every module here (pkgutil), so adding a report
means adding a file ``specs/<name>.py``, never editing a list. See docs/reports-howto.md.
"""
