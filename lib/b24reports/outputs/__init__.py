"""What leaves the package: files, dashboards, e-mail.

``nb`` (what a report notebook imports), ``render`` (papermill + one exporter per format:
html, pdf, xlsx, json) on warm ``kernels``, ``dashboard`` and ``serve`` (Voila), ``schedule`` and
``delivery`` (scheduled runs, SMTP). The top layer: only :mod:`b24reports.cli` imports it.
"""
