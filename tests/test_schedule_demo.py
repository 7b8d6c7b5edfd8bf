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


RECIPIENTS = SCHEDULE[:SCHEDULE.index("  globex:")] + """\
entries:
  - name: team-funnel
    portal: acme
    reports: [funnel]
    period: last_month
    params:              # half a year: every slice has deals
      date_from: "2026-06-01"
      date_to: "2026-11-30"
    formats: [pdf, json]
    recipients:
      - user: 3          # heads «Продажи Москва»: his department
      - user: 6          # a manager: his own deals
      - user: 7
        sees: all        # said explicitly: everything
"""

#: By hand from the demo's structure (seed 42): head 3 runs «Продажи Москва» (users 3, 6..12).
SLICES = {3: {3, 6, 7, 8, 9, 10, 11, 12}, 6: {6}, 7: None}


def _squash(text: str) -> str:
    return "".join(text.split())


def test_each_user_recipient_gets_their_own_slice(tmp_path, monkeypatch, capsys):
    """Three Bitrix24-user recipients of one entry: each gets one message at the address the
    store holds for them, whose PDF and metrics.json equal the funnel rendered by hand over the
    records their level lets them open (tests/hand_filter.py, not ingest.visibility); the
    slices differ; the webhook's secret is in no file, message or stream."""
    import duckdb
    from pypdf import PdfReader

    from b24reports import cli, reports
    from b24reports.core.i18n import format_value
    from b24reports.demo import DemoServer, generate_portal
    from b24reports.ingest.dataset import Dataset
    from b24reports.metrics.labels import name_maps
    from b24reports.views import funnel as v
    from hand_filter import hand_dataset

    portal = generate_portal(seed=42, scale=0.1, anchor=ANCHOR)
    as_of = f"{ANCHOR.isoformat()}T12:00:00"
    with Inbox() as inbox, DemoServer(portal) as acme:
        monkeypatch.setenv("B24T_ACME_WEBHOOK", acme.webhook_url)
        monkeypatch.chdir(tmp_path)
        sched = tmp_path / "schedule.yaml"
        sched.write_text(RECIPIENTS.format(port=inbox.port), encoding="utf-8")
        from b24reports.outputs import kernels

        pools = []
        real_init = kernels.KernelPool.__init__
        monkeypatch.setattr(kernels.KernelPool, "__init__",
                            lambda self, *a, **k: pools.append(self) or real_init(self, *a, **k))
        code = cli.run(["run-schedule", str(sched), "--all", "--threads", "--workers", "1", "--as-of", as_of])
        messages = list(inbox.messages)
    # the three recipients' renders ran on one warm kernel, each notebook cut to its own slice
    # (the checks below would see another recipient's records)
    assert len(pools) == 1
    out, err = capsys.readouterr()
    assert code == 0, out + err
    store = tmp_path / "stores" / "acme.duckdb"
    with duckdb.connect(str(store), read_only=True) as con:
        emails = dict(con.execute("select id, email from users where id in (3, 6, 7)").fetchall())
    assert sorted(m["To"] for m in messages) == sorted(emails.values())
    spec = reports.get("funnel")
    names = name_maps(Dataset.load(store))["employee_id"]
    seen = {}
    for user, people in SLICES.items():
        folder = tmp_path / "out" / "acme" / "users" / str(user) / "funnel" / "2026-11-30"
        doc = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        want = spec.run(hand_dataset(store, people, user), {**doc["params"], "lang": "ru"})
        got_deals = sorted(r["id"] for r in doc["tables"]["deals"])
        assert got_deals == sorted(int(x) for x in want.tables["deals"]["id"]) and got_deals
        assert [(r["employee_id"], r["deals"], r["won_deals"]) for r in doc["tables"]["managers"]] == [
            (int(a), int(b), int(c)) for a, b, c in zip(want.tables["managers"]["employee_id"],
                                                        want.tables["managers"]["deals"],
                                                        want.tables["managers"]["won_deals"])]
        if people is not None:
            assert {r["employee_id"] for r in doc["tables"]["managers"]} <= people
        # the PDF shows that slice's headline numbers (as the dashboard's cards format them)
        text = _squash("".join(p.extract_text() or "" for p in PdfReader(folder / "report.pdf").pages))
        for label, value, kind in v.kpis(want.tables["managers"], "ru"):
            assert _squash(format_value(value, kind, "ru", "RUB")) in text, (user, label)
        # and says whose records they are (nothing for the one who sees everything)
        whose = _squash(f"Данные, доступные сотруднику: {names[user]}")
        assert (whose in text) == (people is not None), user
        mail = next(m for m in messages if m["To"] == emails[user])
        assert [a.get_filename() for a in mail.iter_attachments()] == ["funnel.pdf"]
        assert mail.get_body(("html",)).get_content().count("<tr>") >= 3
        seen[user] = got_deals
    assert len(seen[6]) < len(seen[3]) < len(seen[7]) and set(seen[6]) < set(seen[3]) < set(seen[7])
    assert not (tmp_path / "out" / "acme" / "funnel").exists()  # no whole-store file without an address recipient
    for p in (tmp_path / "out").rglob("*"):
        if p.is_file():
            assert acme.token.encode() not in p.read_bytes(), p
    assert acme.token not in out + err and all(acme.token not in m.as_string() for m in messages)


def test_recipient_address_is_asked_of_the_portal_when_the_store_has_none(tmp_path, demo_portal):
    """A user whose EMAIL the store lacks: the address comes from `user.get` over the webhook;
    one the store does not know is refused by name."""
    import duckdb

    from b24reports.core.errors import BadParameter
    from b24reports.demo.server import DemoServer
    from b24reports.ingest.sync import sync
    from b24reports.outputs.schedule import recipient_visibility
    from b24reports.outputs.schedule_file import UserRecipient

    store = tmp_path / "s.duckdb"
    with DemoServer(demo_portal) as acme:
        sync(acme.webhook_url, store, progress=False)
        with duckdb.connect(str(store)) as con:
            want = con.execute("select email from users where id = 6").fetchone()[0]
            con.execute("update users set email = null where id = 6")
        before = acme.requests.total
        address, vis = recipient_visibility(store, UserRecipient(6), acme.webhook_url)
        assert (address, vis.user_id, vis.sees_all) == (want, 6, False) and acme.requests.total == before + 1
        with pytest.raises(BadParameter, match="no such user"):
            recipient_visibility(store, UserRecipient(999), acme.webhook_url)
