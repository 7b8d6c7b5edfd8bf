"""run-schedule end to end through the CLI, with nothing replaced: two demo portals served on
loopback (the second one's webhook has a wrong token → 401), the real incremental sync, real
renders (json/xlsx), a Dask LocalCluster (threads) and a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest

from test_schedule import Inbox

ANCHOR = dt.date(2026, 11, 30)  # the demo portal's today; its "now" is 12:00 portal time

SCHEDULE = """\
output_dir: out
store_dir: stores
smtp:
  host: 127.0.0.1
  port: {port}
  starttls: false
  sender: reports@example.ru
  retries: 1
portals:
  acme:
    webhook_env: B24T_ACME_WEBHOOK
  globex:
    webhook_env: B24T_GLOBEX_WEBHOOK
entries:
  - name: acme-funnel
    portal: acme
    reports: [funnel]
    period: last_month
    formats: [json, xlsx]
    recipients: [head@acme.ru]
  - name: acme-managers
    portal: acme
    reports: [managers]
    period: month_to_date
    formats: [xlsx]
    lang: en
    recipients: [owner@acme.ru]
  - name: globex-funnel
    portal: globex
    reports: [funnel]
    period: last_week
    formats: [json]
    recipients: [ceo@globex.ru]
"""


@pytest.fixture(scope="module")
def demo_portal():
    from b24reports.demo.generator import generate_portal

    return generate_portal(seed=11, scale=0.05, anchor=ANCHOR)


def test_run_schedule_cli_two_demo_portals_one_broken(tmp_path, demo_portal, monkeypatch, capsys):
    from b24reports import cli
    from b24reports.core import columns
    from b24reports.core import i18n
    from b24reports.demo.server import DemoServer

    with Inbox() as inbox, DemoServer(demo_portal) as acme, DemoServer(demo_portal) as globex:
        bad_url = globex.webhook_url.replace(globex.token, "wrong-token-123")
        monkeypatch.setenv("B24T_ACME_WEBHOOK", acme.webhook_url)
        monkeypatch.setenv("B24T_GLOBEX_WEBHOOK", bad_url)
        monkeypatch.chdir(tmp_path)
        sched = tmp_path / "schedule.yaml"
        sched.write_text(textwrap.dedent(SCHEDULE.format(port=inbox.port)), encoding="utf-8")
        assert cli.run(["run-schedule", str(sched), "--check"]) == 0
        code = cli.run(["run-schedule", str(sched), "--all", "--threads", "--workers", "2",
                        "--as-of", f"{ANCHOR.isoformat()}T12:00:00"])
        messages = list(inbox.messages)
    out, err = capsys.readouterr()
    assert code == 1  # one entry failed
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()}  # summary table by entry
    assert " ok " in rows["acme-funnel"] and " ok " in rows["acme-managers"]
    assert " failed " in rows["globex-funnel"] and "B24AuthError" in rows["globex-funnel"]
    assert "2 ok, 1 failed, 0 skipped" in out
    for secret in (acme.token, "wrong-token-123"):
        assert secret not in out and secret not in err

    # files under out/<portal>/<report>/<date>/; none for the broken portal
    day = tmp_path / "out" / "acme"
    funnel_json = day / "funnel" / "2026-11-30" / "metrics.json"
    assert funnel_json.exists() and (day / "funnel" / "2026-11-30" / "report.xlsx").exists()
    assert (day / "managers" / "2026-11-30" / "report.xlsx").exists()
    assert not list((tmp_path / "out").glob("globex/*/*/*"))
    doc = json.loads(funnel_json.read_text(encoding="utf-8"))
    assert (doc["params"]["date_from"], doc["params"]["date_to"]) == ("2026-10-01", "2026-10-31")  # last month

    # two emails (the broken portal sends none)
    assert sorted(m["To"] for m in messages) == ["head@acme.ru", "owner@acme.ru"]
    funnel_mail = next(m for m in messages if m["To"] == "head@acme.ru")
    names = sorted(a.get_filename() for a in funnel_mail.iter_attachments())
    assert names == ["funnel-metrics.json", "funnel.xlsx"]
    body = funnel_mail.get_body(("html",)).get_content()
    # headline = column sums over the managers table of the attached metrics.json
    mgr = doc["tables"]["managers"]
    won = sum(r["won_deals"] for r in mgr)
    deals = sum(r["deals"] for r in mgr)
    assert deals > 0
    row = f"<tr><td>{columns.header('deals', 'ru')}</td><td style=\"text-align:right\"><b>{i18n.format_int(deals, 'ru')}</b></td></tr>"
    assert row in body
    assert f"<b>{i18n.format_int(won, 'ru')}</b>" in body
    money = i18n.format_money(round(sum(r["won_amount"] for r in mgr), 2), doc["params"]["currency"], "ru")
    assert money in body
    # no json rendered for acme-managers: the summary is computed in memory, still present
    mgr_mail = next(m for m in messages if m["To"] == "owner@acme.ru")
    assert [a.get_filename() for a in mgr_mail.iter_attachments()] == ["managers.xlsx"]
    assert columns.header("touches", "en") in mgr_mail.get_body(("html",)).get_content()
