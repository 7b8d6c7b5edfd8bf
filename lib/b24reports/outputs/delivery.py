"""Email delivery of rendered reports over SMTP (``run-schedule``).

A message carries the rendered files as attachments (the PDFs when ``pdf`` was rendered,
otherwise every rendered file) and a short HTML summary: per report, a few headline numbers
read from its ``metrics.json`` (METRICS.md "Outputs"). Every text that can come from the CRM
(portal, warnings, titles) is HTML-escaped.

SMTP settings come from the schedule file's ``smtp`` section and the environment
(:meth:`SmtpSettings.resolve`); the password is only ever read from an environment variable
named in the file, never stored in it. A failed send is retried (tenacity, exponential back-off)
and then raised as :class:`~b24reports.core.errors.DeliveryError`; the caller keeps the files.
"""

from __future__ import annotations

import html
import json
import mimetypes
import os
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import tenacity

from b24reports.core import columns as _columns
from b24reports.core import i18n
from b24reports.core.errors import BadParameter, DeliveryError

#: Environment variables read when the schedule file's ``smtp`` section lacks a value.
ENV_HOST, ENV_PORT, ENV_STARTTLS, ENV_SENDER = "B24_SMTP_HOST", "B24_SMTP_PORT", "B24_SMTP_STARTTLS", "B24_SMTP_FROM"

_TEXT = {
    "ru": {"subject": "Отчёты Bitrix24 — {entry}: {period}", "period": "Период", "portal": "Портал",
           "report": "Отчёт", "value": "Значение", "rows": "строк в «{table}»", "warnings": "Предупреждения",
           "attached": "Файлы отчётов во вложении.", "more": "… и ещё {n}"},
    "en": {"subject": "Bitrix24 reports — {entry}: {period}", "period": "Period", "portal": "Portal",
           "report": "Report", "value": "Value", "rows": "rows in “{table}”", "warnings": "Warnings",
           "attached": "The report files are attached.", "more": "… and {n} more"},
}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send: ``host``, ``port`` (int), ``starttls`` (bool: upgrade the
    connection with STARTTLS; required when a password is used, unless ``ssl``), ``ssl``
    (bool: implicit TLS, port 465 style), ``sender`` (From address), ``user_env`` /
    ``password_env`` (NAMES of the environment variables holding the login; empty = no
    login), ``retries`` (attempts in total, ≥ 1), ``retry_delay`` (seconds before the
    2nd attempt, doubled each time, capped at 60), ``timeout`` (seconds per connection)."""

    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    sender: str = ""
    user_env: str = ""
    password_env: str = ""
    retries: int = 3
    retry_delay: float = 5.0
    timeout: float = 30.0

    @classmethod
    def resolve(cls, section: Mapping[str, Any] | None, env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Settings from a schedule ``smtp`` section, with ``host``/``port``/``starttls``/
        ``sender`` falling back to env ``B24_SMTP_HOST``/``_PORT``/``_STARTTLS``/``_FROM``.

        Raises ``BadParameter('smtp.<key>', value, reason)`` for a missing host or sender, a
        bad port, an unknown key, or a login env variable that is named but not set.
        """
        env = os.environ if env is None else env
        s = dict(section or {})
        known = {"host", "port", "starttls", "ssl", "sender", "user_env", "password_env", "retries",
                 "retry_delay", "timeout"}
        for k in s:
            if k not in known:
                raise BadParameter(f"smtp.{k}", s[k], f"unknown key; known: {', '.join(sorted(known))}")
        host = str(s.get("host") or env.get(ENV_HOST, "")).strip()
        if not host:
            raise BadParameter("smtp.host", "", f"not set in the file nor in env {ENV_HOST}")
        try:
            port = int(s.get("port") or env.get(ENV_PORT) or 587)
        except (TypeError, ValueError):
            raise BadParameter("smtp.port", s.get("port"), "not an integer") from None
        if not 0 < port < 65536:
            raise BadParameter("smtp.port", port, "must be 1..65535")
        starttls = s.get("starttls", env.get(ENV_STARTTLS, "true"))
        if isinstance(starttls, str):
            starttls = starttls.strip().lower() in ("1", "true", "yes", "on")
        sender = str(s.get("sender") or env.get(ENV_SENDER, "")).strip()
        if "@" not in sender:
            raise BadParameter("smtp.sender", sender, f"a From address is needed (file or env {ENV_SENDER})")
        for key in ("user_env", "password_env"):
            name = str(s.get(key) or "")
            if name and not env.get(name):
                raise BadParameter(f"smtp.{key}", name, "environment variable is not set")
        retries = int(s.get("retries", 3))
        if retries < 1:
            raise BadParameter("smtp.retries", retries, "must be ≥ 1")
        return cls(host=host, port=port, starttls=bool(starttls), ssl=bool(s.get("ssl", False)), sender=sender,
                   user_env=str(s.get("user_env") or ""), password_env=str(s.get("password_env") or ""),
                   retries=retries, retry_delay=float(s.get("retry_delay", 5.0)), timeout=float(s.get("timeout", 30.0)))


# --------------------------------------------------------------------------- summary


def _kind(column: str) -> str:
    return _columns.kind_of(column)


def _headlines(report: str) -> tuple[tuple[str, str, str], ...] | None:
    """The report's ``ReportSpec.headlines``, ``None`` for a report without any (or unknown)."""
    from b24reports import reports
    from b24reports.core.errors import BadParameter

    try:
        return reports.get(report).headlines or None
    except BadParameter:
        return None


def headline_numbers(metrics: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """Headline numbers of one report run from its ``metrics.json`` document.

    Returns ``[(column id or label, value, kind), …]`` following the report's
    ``ReportSpec.headlines``
    (``sum`` ignores nulls; a sum over zero rows is 0; ``first`` of an empty table is
    ``None``). For a report not listed: every numeric value of each one-row table (a
    totals row), and ``("rows:<table>", n, "int")`` for each other table.
    A table or column missing from the document is skipped (the summary shows what exists).
    """
    tables = metrics.get("tables") or {}
    plan = _headlines(str(metrics.get("report")))
    out: list[tuple[str, Any, str]] = []
    if plan is None:  # generic: every number of each one-row table, the row count of the others
        for tid, rows in tables.items():
            if len(rows) == 1:
                out += [(c, v, _kind(c) if _kind(c) not in ("text", "id") else "number")
                        for c, v in rows[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
            else:
                out.append((f"rows:{tid}", len(rows), "int"))
        return out
    for tid, col, how in plan:
        rows = tables.get(tid)
        if rows is None or (rows and col not in rows[0]):
            continue
        vals = [r.get(col) for r in rows]
        if how == "sum":
            value: Any = round(sum(v for v in vals if isinstance(v, int | float) and not isinstance(v, bool)), 2)
            kind = "int" if _kind(col) in ("int", "text", "id") else _kind(col)
        elif how == "first":
            value, kind = (vals[0] if vals else None), _kind(col)
        elif how == "count_true":
            value, kind = sum(1 for v in vals if v is True), "int"
        else:  # rows
            value, kind = len(rows), "int"
        out.append((col, value, kind))
    return out


def _label(col: str, lang: str) -> str:
    if col.startswith("rows:"):
        return _TEXT[lang]["rows"].format(table=col[5:])
    return _columns.header(col, lang)


def summary_html(entry: str, period: tuple[str, str], documents: Sequence[Mapping[str, Any]], *, lang: str = "ru",
                 titles: Mapping[str, str] | None = None, max_warnings: int = 5) -> str:
    """The email body: a small self-contained HTML page.

    ``entry`` (schedule entry name), ``period`` (ISO ``date_from``, ``date_to``),
    ``documents`` (``metrics.json`` dicts, one per report), ``titles`` ({report: localized
    title}). Per report: its headline numbers (:func:`headline_numbers`, formatted with
    :func:`b24reports.core.i18n.format_value` in the report currency) and up to
    ``max_warnings`` warnings. Every interpolated text is HTML-escaped.
    """
    tx = _TEXT[i18n.check_lang(lang)]
    esc = html.escape
    d0, d1 = (i18n.format_date(_date(p), lang) for p in period)
    portal = next((str(d.get("portal") or "") for d in documents if d.get("portal")), "")
    parts = [
        "<!doctype html><html><head><meta charset=\"utf-8\"></head>"
        "<body style=\"font-family:Arial,sans-serif;font-size:14px\">",
        f"<h2>{esc(entry)}</h2>",
        f"<p>{esc(tx['period'])}: {esc(d0)} — {esc(d1)}"
        + (f"<br>{esc(tx['portal'])}: {esc(portal)}" if portal else "") + "</p>",
    ]
    for doc in documents:
        name = str(doc.get("report", ""))
        title = (titles or {}).get(name, name)
        currency = str((doc.get("params") or {}).get("currency") or "RUB")
        parts.append(f"<h3>{esc(title)}</h3><table cellpadding=\"4\" style=\"border-collapse:collapse\">")
        for col, value, kind in headline_numbers(doc):
            shown = i18n.format_value(value, kind, lang, currency)
            parts.append(f"<tr><td>{esc(_label(col, lang))}</td>"
                         f"<td style=\"text-align:right\"><b>{esc(shown)}</b></td></tr>")
        parts.append("</table>")
        warnings = list(doc.get("warnings") or [])
        if warnings:
            items = "".join(f"<li>{esc(str(w))}</li>" for w in warnings[:max_warnings])
            if len(warnings) > max_warnings:
                items += f"<li>{esc(tx['more'].format(n=len(warnings) - max_warnings))}</li>"
            parts.append(f"<p>{esc(tx['warnings'])}:</p><ul>{items}</ul>")
    parts.append(f"<p>{esc(tx['attached'])}</p></body></html>")
    return "\n".join(parts)


def _date(s: str):
    import datetime as dt

    return dt.date.fromisoformat(str(s)[:10])


def subject_line(entry: str, period: tuple[str, str], lang: str = "ru") -> str:
    """``Отчёты Bitrix24 — <entry>: 23.11.2026 — 29.11.2026`` (localized)."""
    d0, d1 = (i18n.format_date(_date(p), lang) for p in period)
    return _TEXT[i18n.check_lang(lang)]["subject"].format(entry=entry, period=f"{d0} — {d1}")


def pick_attachments(files: Iterable[Path | str]) -> list[Path]:
    """The files to attach: every ``.pdf`` when there is one, otherwise every file given
    (xlsx, html, json), in the given order."""
    paths = [Path(f) for f in files]
    pdfs = [p for p in paths if p.suffix.lower() == ".pdf"]
    return pdfs or paths


def build_message(*, sender: str, recipients: Sequence[str], subject: str, html_body: str,
                  attachments: Iterable[Path | str] = (), attachment_names: Sequence[str] | None = None) -> EmailMessage:
    """A MIME message: plain-text fallback + the HTML body, plus the files as attachments
    (content type guessed from the extension; ``attachment_names`` overrides the file names,
    e.g. ``funnel.pdf`` instead of ``report.pdf``). Raises ``BadParameter('recipients', …)``
    when there is no recipient."""
    if not recipients:
        raise BadParameter("recipients", list(recipients), "no recipient")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(recipients), subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    msg.set_content(subject + "\n\nHTML version of this message contains the summary; the reports are attached.\n")
    msg.add_alternative(html_body, subtype="html")
    files = [Path(f) for f in attachments]
    names = list(attachment_names) if attachment_names is not None else [p.name for p in files]
    for path, name in zip(files, names, strict=True):
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=name)
    return msg


def _retryable(exc: BaseException) -> bool:
    # a refused login will not get better by retrying; everything else (connection refused,
    # 4xx temporary replies, timeouts, disconnects) may
    return isinstance(exc, smtplib.SMTPException | OSError) and not isinstance(exc, smtplib.SMTPAuthenticationError)


def send_message(msg: EmailMessage, settings: SmtpSettings, *, env: Mapping[str, str] | None = None) -> int:
    """Send ``msg`` over SMTP with retries. Returns the number of attempts used.

    Connects to ``settings.host:port`` (implicit TLS when ``ssl``), says EHLO, upgrades with
    STARTTLS when ``starttls``, logs in when ``user_env``/``password_env`` name variables.
    Transient failures (connection, timeouts, SMTP error replies) are retried
    ``settings.retries`` times in total with exponential back-off.

    Raises:
        DeliveryError: every attempt failed (message names host:port and the last error,
            never the password), or the server refused the login.
    """
    env = os.environ if env is None else env
    user = env.get(settings.user_env, "") if settings.user_env else ""
    password = env.get(settings.password_env, "") if settings.password_env else ""
    attempts = 0

    def once() -> None:
        nonlocal attempts
        attempts += 1
        ctx = ssl.create_default_context()
        if settings.ssl:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=ctx)
        else:
            conn = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with conn:
            conn.ehlo()
            if settings.starttls and not settings.ssl:
                conn.starttls(context=ctx)
                conn.ehlo()
            if user or password:
                conn.login(user, password)
            refused = conn.send_message(msg)
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)

    retry = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(settings.retries),
        wait=tenacity.wait_exponential(multiplier=settings.retry_delay, max=60) if settings.retry_delay > 0
        else tenacity.wait_none(),
        retry=tenacity.retry_if_exception(_retryable),
        reraise=True,
    )
    try:
        retry(once)
    except (smtplib.SMTPException, OSError) as e:
        text = str(e)
        if password:
            text = text.replace(password, "***")
        raise DeliveryError(f"email to {msg['To']} via {settings.host}:{settings.port} failed after "
                            f"{attempts} attempt(s): {type(e).__name__}: {text}") from None
    return attempts


def read_metrics(paths: Iterable[Path | str]) -> list[dict[str, Any]]:
    """Load ``metrics.json`` documents (one per path; unreadable ones are skipped)."""
    out = []
    for p in paths:
        try:
            out.append(json.loads(Path(p).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out
