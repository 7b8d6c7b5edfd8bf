"""Email delivery: headline numbers, the HTML summary (escaped), attachments, SMTP settings
and sending (login from env, retries, errors) against a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import socket
import ssl
from email import policy

import pytest

from b24reports.outputs.delivery import (
    SmtpSettings,
    build_message,
    headline_numbers,
    pick_attachments,
    send_message,
    subject_line,
    summary_html,
)
from b24reports.core.errors import BadParameter, DeliveryError

FUNNEL = {
    "report": "funnel", "portal": "https://acme.bitrix24.ru", "params": {"currency": "RUB"},
    "warnings": [],
    "tables": {"managers": [
        {"employee_id": 1, "deals": 2, "won_deals": 1, "won_amount": 100.5, "lost_deals": 1},
        {"employee_id": 2, "deals": 3, "won_deals": 0, "won_amount": 200.25, "lost_deals": None},
    ]},
}


def test_headline_numbers_by_report():
    # funnel: column sums over managers: deals 2+3=5, won 1+0=1, won_amount 100.5+200.25=300.75,
    # lost 1 (+ null ignored) = 1
    assert headline_numbers(FUNNEL) == [("deals", 5, "int"), ("won_deals", 1, "int"),
                                        ("won_amount", 300.75, "money"), ("lost_deals", 1, "int")]
    forgotten = {"report": "forgotten", "tables": {
        "deals": [{"forgotten": True}, {"forgotten": False}, {"forgotten": True}],
        "leads": [],
        # by_employee absent: skipped
    }}
    # 2 of 3 deals forgotten; no leads -> 0
    assert headline_numbers(forgotten) == [("forgotten", 2, "int"), ("forgotten", 0, "int")]
    dynamics = {"report": "dynamics", "tables": {
        "run_rate": [{"won_amount_mtd": 1000.0, "run_rate": 3100.0}],
        "forecast_pipeline": [{"weighted_amount": 10.5}, {"weighted_amount": None}, {"weighted_amount": 4.5}],
    }}
    assert headline_numbers(dynamics) == [("won_amount_mtd", 1000.0, "money"), ("run_rate", 3100.0, "money"),
                                          ("weighted_amount", 15.0, "money")]


def test_headline_numbers_generic_report():
    # a report without ReportSpec.headlines: the numbers of each one-row table (kind from the column catalog,
    # "number" for an unknown id), the row count of the others; text and bools are skipped
    doc = {"report": "custom", "tables": {
        "summary": [{"deals": 4, "win_rate_pct": 25.0, "score_x": 1.5, "label": "x", "ok": True}],
        "rows": [{"a": 1}, {"a": 2}, {"a": 3}],
    }}
    assert headline_numbers(doc) == [("deals", 4, "int"), ("win_rate_pct", 25.0, "pct"), ("score_x", 1.5, "number"),
                                     ("rows:rows", 3, "int")]


def test_summary_html_escapes_crm_text_and_formats_numbers():
    doc = {**FUNNEL, "portal": "https://evil.example/<script>", "warnings": [f"deal {i}: <b>bad</b>" for i in range(7)]}
    html = summary_html("acme <weekly>", ("2026-11-23", "2026-11-29"), [doc], lang="ru",
                        titles={"funnel": "Воронка & сделки"}, max_warnings=5)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>bad</b>" not in html and "deal 0: &lt;b&gt;bad&lt;/b&gt;" in html
    assert "acme &lt;weekly&gt;" in html and "Воронка &amp; сделки" in html
    assert "23.11.2026 — 29.11.2026" in html
    assert "… и ещё 2" in html  # 7 warnings, 5 shown
    assert "deal 5:" not in html
    # 300.75 RUB shown with no decimals in ru: "301 ₽" (babel: narrow no-break spaces)
    assert "<b>301\u00a0₽</b>" in html
    assert "<b>5</b>" in html


def test_subject_and_attachments(tmp_path):
    assert subject_line("acme", ("2026-10-01", "2026-10-31"), "ru") == "Отчёты Bitrix24 — acme: 01.10.2026 — 31.10.2026"
    assert subject_line("acme", ("2026-10-01", "2026-10-31"), "en") == "Bitrix24 reports — acme: Oct 1, 2026 — Oct 31, 2026"
    files = [tmp_path / "a" / "report.xlsx", tmp_path / "a" / "report.pdf", tmp_path / "b" / "report.pdf"]
    assert pick_attachments(files) == [files[1], files[2]]  # PDFs win
    assert pick_attachments(files[:1]) == files[:1]
    with pytest.raises(BadParameter, match="recipients"):
        build_message(sender="a@b.ru", recipients=[], subject="s", html_body="<p>x</p>")


def test_smtp_settings_resolve():
    env = {"B24_SMTP_HOST": "mail.acme.ru", "B24_SMTP_PORT": "2525", "B24_SMTP_FROM": "r@acme.ru", "PW": "s3cret"}
    s = SmtpSettings.resolve({"password_env": "PW", "user_env": "PW", "starttls": False}, env)
    assert (s.host, s.port, s.sender, s.starttls, s.password_env) == ("mail.acme.ru", 2525, "r@acme.ru", False, "PW")
    s2 = SmtpSettings.resolve({"host": "smtp.x.ru", "port": 465, "ssl": True, "sender": "a@x.ru"}, env)
    assert (s2.host, s2.port, s2.ssl) == ("smtp.x.ru", 465, True)  # the file wins over env
    with pytest.raises(BadParameter, match="smtp.port"):
        SmtpSettings.resolve({"port": "abc"}, env)
    with pytest.raises(BadParameter, match="smtp.password_env"):
        SmtpSettings.resolve({"password_env": "NOPE"}, env)
    with pytest.raises(BadParameter, match="smtp.hots"):
        SmtpSettings.resolve({"hots": "x"}, env)
    with pytest.raises(BadParameter, match="smtp.host"):
        SmtpSettings.resolve({}, {})


class AuthInbox:
    """aiosmtpd on loopback with AUTH LOGIN/PLAIN (TLS not required: loopback test only)."""

    def __init__(self, user: str, password: str):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages, self.logins = [], []
        box = self

        def authenticator(server, session, envelope, mechanism, auth_data):
            login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
            pw = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
            ok = (login, pw) == (user, password)
            box.logins.append((login, ok))
            return AuthResult(success=ok, handled=False)  # handled=False: the server replies 535

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                box.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                                     auth_require_tls=False)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def test_send_logs_in_with_env_credentials_and_attaches(tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    env = {"U": "robot", "P": "pa55word"}
    with AuthInbox("robot", "pa55word") as box:
        settings = SmtpSettings(host="127.0.0.1", port=box.port, starttls=False, sender="r@acme.ru",
                                user_env="U", password_env="P", retries=2, retry_delay=0)
        msg = build_message(sender="r@acme.ru", recipients=["a@acme.ru"], subject="Тема",
                            html_body="<p>Привет</p>", attachments=[pdf], attachment_names=["funnel.pdf"])
        assert send_message(msg, settings, env=env) == 1
        assert box.logins == [("robot", True)]
        got = box.messages[0]
        assert got["Subject"] == "Тема"
        (att,) = list(got.iter_attachments())
        assert (att.get_filename(), att.get_content_type(), att.get_content()) == ("funnel.pdf", "application/pdf",
                                                                                    b"%PDF-1.4 test")
        assert "Привет" in got.get_body(("html",)).get_content()

        # a wrong password is not retried, and is not in the error
        bad = {"U": "robot", "P": "wrong-pass"}
        with pytest.raises(DeliveryError, match="after 1 attempt") as ei:
            send_message(msg, settings, env=bad)
        assert "wrong-pass" not in str(ei.value)
        # one connection only; inside it smtplib tries each advertised mechanism (PLAIN, LOGIN)
        assert [ok for _, ok in box.logins[1:]] == [False, False]
        assert len(box.messages) == 1


def test_send_to_a_closed_port_is_retried_then_reported():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    settings = SmtpSettings(host="127.0.0.1", port=port, starttls=False, sender="r@acme.ru", retries=3,
                            retry_delay=0, timeout=2)
    msg = build_message(sender="r@acme.ru", recipients=["a@acme.ru"], subject="s", html_body="<p>x</p>")
    with pytest.raises(DeliveryError, match=rf"via 127.0.0.1:{port} failed after 3 attempt\(s\): ConnectionRefusedError"):
        send_message(msg, settings, env={})


class TlsInbox:
    """aiosmtpd on loopback that requires STARTTLS before AUTH and mail, with a certificate for
    127.0.0.1 issued by a test CA (trustme); records the logins and messages it got."""

    def __init__(self, cert, user: str, password: str):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages, self.logins, self.tls = [], [], []
        box = self

        def authenticator(server, session, envelope, mechanism, auth_data):
            box.tls.append(session.ssl is not None)
            login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
            pw = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
            box.logins.append(login)
            return AuthResult(success=(login, pw) == (user, password), handled=False)

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                box.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_ctx)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                                     tls_context=server_ctx, require_starttls=True, auth_require_tls=True)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def test_starttls_upgrades_before_login_and_checks_the_certificate(tmp_path, monkeypatch):
    """The default settings (starttls on) upgrade the connection before AUTH; the server's
    certificate is verified against the system's trust store (here: SSL_CERT_FILE = a test CA),
    so a server whose certificate is not trusted gets no password and no mail."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    env = {"U": "robot", "P": "pa55word"}
    msg = build_message(sender="r@acme.ru", recipients=["a@acme.ru"], subject="TLS", html_body="<p>x</p>")
    with TlsInbox(cert, "robot", "pa55word") as box:
        settings = SmtpSettings(host="127.0.0.1", port=box.port, sender="r@acme.ru", user_env="U",
                                password_env="P", retries=1, retry_delay=0, timeout=5)
        assert settings.starttls is True  # the default
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        assert send_message(msg, settings, env=env) == 1
        assert (box.logins, box.tls, len(box.messages)) == (["robot"], [True], 1)
        assert box.messages[0]["Subject"] == "TLS"
        # a certificate from a CA the client does not trust: refused before any login
        other = tmp_path / "other.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        monkeypatch.setenv("SSL_CERT_FILE", str(other))
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed") as ei:
            send_message(msg, settings, env=env)
        assert "pa55word" not in str(ei.value)
        assert (box.logins, len(box.messages)) == (["robot"], 1)
