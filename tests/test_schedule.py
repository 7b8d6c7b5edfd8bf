"""run-schedule: period presets, schedule validation (entry + line in errors), cron selection,
and a full run on a Dask LocalCluster with a real local SMTP server (aiosmtpd).

The end-to-end test here replaces only the *sync* step (the real one needs a portal, see
``test_schedule_demo.py``): the good portal's "sync" writes the tiny store of
``b24r_fixture_report`` (report ``testrep``), the broken one raises ``B24AuthError`` as a
wrong webhook does. Render (json/xlsx), email and Dask are the real ones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import json
import textwrap
import time
from email import policy
from pathlib import Path

import dask
import pytest

from b24reports.core.errors import B24AuthError, BadParameter, ScheduleFileError
from b24reports.outputs.schedule import DASK_CONFIG, Hooks, run_schedule
from b24reports.outputs.schedule_file import is_due, load_schedule

D = dt.date


# --------------------------------------------------------------------------- cron


def test_is_due_within_the_window_only():
    cron = "0 8 * * 1"  # Mondays 08:00
    mon = dt.datetime(2026, 11, 30, 8, 20)
    assert is_due(cron, mon)  # fired 20 min ago, window 1 h
    assert is_due(cron, dt.datetime(2026, 11, 30, 8, 0))  # exactly at the fire time
    assert not is_due(cron, dt.datetime(2026, 11, 30, 9, 30))  # 90 min ago
    assert not is_due(cron, dt.datetime(2026, 12, 1, 8, 20))  # Tuesday
    assert is_due(cron, dt.datetime(2026, 11, 30, 9, 30), dt.timedelta(hours=2))
    assert is_due(None, mon)


# --------------------------------------------------------------------------- validation


@pytest.fixture(scope="session")
def testrep(tmp_path_factory):
    """Register the fixture report ``testrep`` (tests/b24r_fixture_report.py) once."""
    import b24r_fixture_report as fx

    from b24reports import reports

    try:
        reports.get("testrep")  # another test module set it up already
    except BadParameter:
        fx.setup_fixture(tmp_path_factory.mktemp("testrep"))
    return reports.get("testrep")


GOOD = """\
output_dir: out
store_dir: stores
smtp:
  host: 127.0.0.1
  port: {port}
  starttls: false
  sender: reports@example.ru
  retries: 2
  retry_delay: 0
portals:
  good:
    webhook_env: B24T_GOOD_WEBHOOK
  broken:
    webhook_env: B24T_BROKEN_WEBHOOK
defaults:
  formats: [json, xlsx]
  lang: ru
entries:
  - name: good-monthly
    portal: good
    reports: [testrep]
    period: last_month
    recipients: [head@acme.ru, owner@acme.ru]
  - name: good-mtd
    portal: good
    reports: testrep
    period: month_to_date
    formats: [xlsx]
    lang: en
    recipients: [head@acme.ru]
  - name: broken-weekly
    portal: broken
    reports: [testrep]
    period: last_week
    recipients: [boss@broken.ru]
    cron: "0 8 * * 1"
"""

ENV = {"B24T_GOOD_WEBHOOK": "http://127.0.0.1:9/rest/1/goodsecret123/",
       "B24T_BROKEN_WEBHOOK": "http://127.0.0.1:9/rest/1/wrongsecret999/"}


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "schedule.yaml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_load_schedule_good(tmp_path, testrep):
    s = load_schedule(write(tmp_path, GOOD.format(port=2525)), env=ENV, base_dir=tmp_path)
    assert [e.name for e in s.entries] == ["good-monthly", "good-mtd", "broken-weekly"]
    a, b, c = s.entries
    assert a.formats == ("xlsx", "json") and b.formats == ("xlsx",)  # defaults vs own, registry order
    assert (a.lang, b.lang) == ("ru", "en")
    assert b.reports == ("testrep",)  # a plain string is a one-item list
    assert a.portal.store == tmp_path / "stores" / "good.duckdb"
    assert c.cron == "0 8 * * 1" and a.cron is None
    assert a.line == 19 and c.line == 31  # "- name:" lines in GOOD
    assert s.output_dir == tmp_path / "out"
    assert (s.smtp.host, s.smtp.port, s.smtp.starttls) == ("127.0.0.1", 2525, False)
    # as_of 2026-02-20 14:00: last month = January; month to date = 1..20 February
    assert a.report_params(dt.datetime(2026, 2, 20, 14, 0)) == {
        "date_from": "2026-01-01", "date_to": "2026-01-31", "lang": "ru", "as_of": "2026-02-20T14:00:00"}


BAD = """\
portals:
  acme:
    webhook_env: ACME_HOOK
  leaky:
    webhook_env: https://leaky.bitrix24.ru/rest/1/abc/
entries:
  - name: one
    portal: acme
    reports: [testrep, nosuch]
    period: last_year
  - name: two
    portal: acme
    reports: [testrep]
    formats: [pdf, docx]
    cron: "61 8 * * 1"
    colour: red
  - name: three
    portal: ghost
    reports: [testrep]
    recipients: [not-an-address]
    params: {min_amount: abc}
"""


def test_validation_names_entry_and_line_for_every_problem(tmp_path, testrep):
    p = write(tmp_path, BAD)
    with pytest.raises(ScheduleFileError) as ei:
        load_schedule(p, env={}, base_dir=tmp_path)
    msg = str(ei.value)
    expected = [
        f"{p}:5: portal 'leaky': webhook_env must NAME an environment variable",
        f"{p}:9: entry 'one': unknown report 'nosuch'",
        f"{p}:10: entry 'one': unknown period preset 'last_year'",
        f"{p}:14: entry 'two': unknown format(s) ['docx']",
        f"{p}:15: entry 'two': bad cron line '61 8 * * 1'",
        f"{p}:16: entry 'two': unknown key 'colour'",
        f"{p}:18: entry 'three': portal 'ghost' is not defined",
        f"{p}:20: entry 'three': recipient 'not-an-address' is not an email address",
        f"{p}:21: entry 'three': parameter min_amount='abc'",
    ]
    for line in expected:
        assert line in msg, (line, msg)
    assert "leaky.bitrix24.ru/rest/1/abc" not in msg  # a URL pasted by mistake is not echoed


def test_validation_missing_env_and_smtp(tmp_path, testrep, monkeypatch):
    for k in ("B24_SMTP_HOST", "B24_SMTP_FROM"):
        monkeypatch.delenv(k, raising=False)
    text = GOOD.format(port=25).replace("  host: 127.0.0.1\n", "")
    p = write(tmp_path, text)
    with pytest.raises(ScheduleFileError) as ei:
        load_schedule(p, env={"B24T_GOOD_WEBHOOK": "x"}, base_dir=tmp_path)
    msg = str(ei.value)
    # the env check points at the portal's webhook_env line (13, one line up without host:)
    # and names the entries that need it
    assert (f"{p}:13: environment variable B24T_BROKEN_WEBHOOK (webhook of portal 'broken') is not set; "
            "needed by entry 'broken-weekly'") in msg
    assert f"{p}:3: parameter smtp.host='': not set" in msg
    # --only an entry of the good portal: the broken portal's variable is not needed
    s = load_schedule(p, env={"B24T_GOOD_WEBHOOK": "x", "B24_SMTP_HOST": "mail.local"}, only="good-mtd",
                      base_dir=tmp_path)
    assert [e.name for e in s.entries] == ["good-mtd"] and s.smtp.host == "mail.local"
    with pytest.raises(ScheduleFileError, match="--only 'nope'"):
        load_schedule(p, env=ENV, only="nope", base_dir=tmp_path)


def test_yaml_syntax_error_and_duplicate_key_have_lines(tmp_path):
    p = write(tmp_path, "portals:\n  a: [1, 2\nentries: []\n")
    with pytest.raises(ScheduleFileError, match=r"schedule.yaml:\d+: not valid YAML"):
        load_schedule(p, env={})
    p = write(tmp_path, "portals:\n  a:\n    webhook_env: A\n  a:\n    webhook_env: B\n")
    with pytest.raises(ScheduleFileError, match=r"schedule.yaml:4: duplicate key 'a'"):
        load_schedule(p, env={})


# --------------------------------------------------------------------------- end to end


class Inbox:
    """A real SMTP server on loopback (aiosmtpd) keeping every message received."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.fail_next = 0  # reply 451 (temporary failure) to the next N DATA commands
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if inbox.fail_next > 0:
                    inbox.fail_next -= 1
                    return "451 4.3.0 try again later"
                inbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                inbox.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        import socket

        with socket.socket() as sock:  # a free loopback port (aiosmtpd cannot start on port 0)
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


@pytest.fixture
def inbox():
    with Inbox() as box:
        yield box


def make_sync(good_store_writer, log_path: Path):
    """A stand-in for b24reports.ingest.sync.sync: the 'good' webhook writes the fixture store,
    the 'wrong' one fails as Bitrix24 does for a bad token (401). Each call appends
    "<portal> <start> <end>" (monotonic seconds) to ``log_path`` (Dask pickles the task, so
    a shared file, not a list, records the calls)."""

    def fake_sync(webhook_url, store):
        t0 = time.monotonic()
        time.sleep(0.3)  # long enough for two same-portal entries to overlap if unlocked
        broken = "wrongsecret" in webhook_url
        if not broken and not Path(store).exists():
            good_store_writer(Path(store))
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(f"{'broken' if broken else 'good'} {t0} {time.monotonic()}\n")
        if broken:
            raise B24AuthError("INVALID_CREDENTIALS", "Invalid request credentials", method="crm.deal.list", status=401)

    return fake_sync


def read_log(log_path: Path) -> list[tuple[str, float, float]]:
    rows = [line.split() for line in log_path.read_text().splitlines()] if log_path.exists() else []
    return [(w, float(a), float(b)) for w, a, b in rows]


def test_run_schedule_end_to_end(tmp_path, testrep, inbox, monkeypatch):
    import b24r_fixture_report as fx

    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    p = write(tmp_path, GOOD.format(port=inbox.port))
    sched = load_schedule(p, base_dir=tmp_path)
    log = tmp_path / "sync.log"
    # the broken entry has a cron line (Mondays 08:00): now = Monday 08:10 makes it due
    summary = run_schedule(sched, as_of=dt.datetime(2026, 2, 20, 14, 0), now=dt.datetime(2026, 2, 16, 8, 10),
                           workers=2, processes=False, hooks=Hooks(sync=make_sync(fx.write_store, log)))

    by = {r.entry: r for r in summary.results}
    assert [r.entry for r in summary.results] == ["good-monthly", "good-mtd", "broken-weekly"]
    assert (by["good-monthly"].status, by["good-mtd"].status, by["broken-weekly"].status) == ("ok", "ok", "failed")
    assert summary.exit_code == 1
    assert by["broken-weekly"].error.startswith("sync: B24AuthError: Bitrix24 error INVALID_CREDENTIALS")
    assert by["broken-weekly"].files == [] and by["broken-weekly"].emailed == []

    # files: out/<portal>/<report>/<as_of date>/
    day = tmp_path / "out" / "good" / "testrep" / "2026-02-20"
    assert sorted(Path(f).name for f in by["good-monthly"].files) == ["metrics.json", "report.xlsx"]
    assert sorted(Path(f).name for f in by["good-mtd"].files) == ["report.xlsx"]
    assert {Path(f).parent for f in by["good-monthly"].files} == {day}
    doc = json.loads((day / "metrics.json").read_text(encoding="utf-8"))
    # January 2026 (last_month of 2026-02-20): only deal 1 (created 01-10, won, 1000.004 RUB)
    assert doc["params"]["date_from"] == "2026-01-01" and doc["params"]["date_to"] == "2026-01-31"
    assert doc["tables"]["summary"][0]["deals"] == 1 and doc["tables"]["summary"][0]["won_amount"] == 1000.0
    assert not (tmp_path / "out" / "broken").exists() or not any((tmp_path / "out" / "broken").rglob("*.*"))

    # the two entries of portal 'good' never synced at the same time (per-portal lock)
    calls = read_log(log)
    good = sorted((a, b) for who, a, b in calls if who == "good")
    assert len(good) == 2 and good[0][1] <= good[1][0]
    # ... while the other portal did sync at the same time as one of them (2 workers)
    (b0, b1), = [(a, b) for who, a, b in calls if who == "broken"]
    assert any(a < b1 and b0 < b for a, b in good)

    # emails: one per good entry, none for the broken one
    assert len(inbox.messages) == 2
    msgs = {m["Subject"]: m for m in inbox.messages}
    ru = next(m for s, m in msgs.items() if "good-monthly" in s)
    en = next(m for s, m in msgs.items() if "good-mtd" in s)
    assert ru["Subject"] == "Отчёты Bitrix24 — good-monthly: 01.01.2026 — 31.01.2026"
    assert ru["To"] == "head@acme.ru, owner@acme.ru" and ru["From"] == "reports@example.ru"
    assert sorted(rcpt for _, r in inbox.envelopes for rcpt in r) == ["head@acme.ru", "head@acme.ru", "owner@acme.ru"]
    # no pdf requested -> every rendered file is attached, named after the report
    att = {a.get_filename(): a.get_content() for a in ru.iter_attachments()}
    assert sorted(att) == ["testrep-metrics.json", "testrep.xlsx"]
    assert att["testrep.xlsx"][:2] == b"PK"  # a zip container (xlsx)
    assert json.loads(att["testrep-metrics.json"])["tables"]["summary"][0]["deals"] == 1
    body = ru.get_body(("html",)).get_content()
    # summary numbers of the one-row table: deals 1, won 1000.004 -> "1 000 ₽"-like, win rate 1/(1+0)=100 %
    assert "Тестовый отчёт" in body
    assert ">1<" in body.replace("<b>", "").replace("</b>", "")
    assert "1\u00a0000" in body and "100,0\u00a0%" in body
    # February 1..20 (month_to_date, en): deals 2 (lost, USD) and 3 (open, no amount): win rate 0/(0+1) = 0 %
    en_body = en.get_body(("html",)).get_content()
    assert en["Subject"] == "Bitrix24 reports — good-mtd: Feb 1, 2026 — Feb 20, 2026"
    assert "Test report" in en_body and "0.0%" in en_body
    assert [a.get_filename() for a in en.iter_attachments()] == ["testrep.xlsx"]

    table = summary.table()
    assert "broken-weekly" in table and "failed" in table and "2 ok, 1 failed, 0 skipped" in table
    assert "wrongsecret999" not in table and "goodsecret123" not in table


def test_send_retried_then_reported_files_kept(tmp_path, testrep, inbox, monkeypatch):
    import b24r_fixture_report as fx

    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    p = write(tmp_path, GOOD.format(port=inbox.port))
    sched = load_schedule(p, only=["good-monthly", "good-mtd"], base_dir=tmp_path)
    # retries: 2 in the file. 1st entry run: 451 then 250 (delivered on attempt 2);
    # 2nd: 451, 451 -> reported. Entries run one at a time (1 worker), in file order.
    inbox.fail_next = 3
    summary = run_schedule(sched, as_of=dt.datetime(2026, 2, 20, 14, 0), workers=1, processes=False,
                           hooks=Hooks(sync=make_sync(fx.write_store, tmp_path / "sync.log")))
    statuses = sorted(r.status for r in summary.results)
    assert statuses == ["failed", "ok"] and summary.exit_code == 1
    failed = summary.failed[0]
    assert failed.error.startswith("email: DeliveryError: email to ")
    assert "after 2 attempt(s)" in failed.error and "(files kept)" in failed.error
    assert failed.files and all(Path(f).exists() for f in failed.files)
    assert len(inbox.messages) == 1


def test_cron_not_due_is_skipped_and_not_a_failure(tmp_path, testrep, monkeypatch):
    import b24r_fixture_report as fx

    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    text = GOOD.format(port=25)
    p = write(tmp_path, text)
    sched = load_schedule(p, base_dir=tmp_path)
    sched = dataclasses.replace(sched, entries=sched.entries[2:])  # only broken-weekly
    summary = run_schedule(sched, now=dt.datetime(2026, 2, 17, 8, 10), processes=False,  # a Tuesday
                           hooks=Hooks(sync=make_sync(fx.write_store, tmp_path / "sync.log")))
    assert [(r.entry, r.status) for r in summary.results] == [("broken-weekly", "skipped")]
    assert summary.exit_code == 0


def test_portal_lock_serializes_same_portal_across_dask_tasks(tmp_path, testrep, monkeypatch):
    """Two entries of one portal submitted straight to Dask (no chaining, as two overlapping
    run-schedule calls would) still never sync together; another portal runs alongside."""
    import b24r_fixture_report as fx
    from distributed import Client, LocalCluster

    from b24reports.outputs.schedule import EntryJob, run_entry
    from b24reports.outputs.schedule_file import Entry as E
    from b24reports.outputs.schedule_file import Portal

    monkeypatch.setenv("B24T_GOOD_WEBHOOK", ENV["B24T_GOOD_WEBHOOK"])
    monkeypatch.setenv("B24T_OTHER_WEBHOOK", "http://127.0.0.1:9/rest/1/othersecret42/")
    log = tmp_path / "sync.log"
    hooks = Hooks(sync=make_sync(fx.write_store, log), render=lambda *a, **k: {})
    good = Portal("good", "B24T_GOOD_WEBHOOK", tmp_path / "good.duckdb")
    other = Portal("other", "B24T_OTHER_WEBHOOK", tmp_path / "other.duckdb")
    jobs = [EntryJob(E(n, p, ("testrep",), "last_week", ("json",), "ru"), tmp_path / "out", None, None,
                     dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), hooks)
            for n, p in (("g1", good), ("g2", good), ("o1", other))]
    with dask.config.set(DASK_CONFIG), \
            LocalCluster(n_workers=3, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        results = client.gather([client.submit(run_entry, j, pure=False) for j in jobs])
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    assert len(read_log(log)) == 3  # every entry synced once
    g = [r.timings for r in results[:2]]
    # the two same-portal entries: one waited for the other's lock at least ~0.3 s (its sync)
    assert max(t["lock_wait"] for t in g) >= 0.25
    assert results[2].timings["lock_wait"] < 0.25  # the other portal did not wait


def test_cli_invalid_schedule_exits_2_naming_entry_and_line(tmp_path, testrep, capsys):
    from b24reports import cli

    p = write(tmp_path, BAD)
    assert cli.run(["run-schedule", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p}:10: entry 'one': unknown period preset 'last_year'" in err


def test_place_moves_files_and_drops_a_stale_file_of_a_failed_format(tmp_path):
    from b24reports.outputs.schedule import _place

    src = tmp_path / "tmp" / "funnel"
    src.mkdir(parents=True)
    (src / "report.xlsx").write_bytes(b"new")
    day = tmp_path / "out" / "funnel" / "2026-11-30"
    day.mkdir(parents=True)
    (day / "metrics.json").write_text("{}")  # from an earlier run today; json failed this time
    (day / "report.xlsx").write_bytes(b"old")
    placed = _place({"funnel": {"xlsx": src / "report.xlsx"}}, tmp_path / "out", "2026-11-30",
                    ["funnel", "managers"], ["xlsx", "json"])
    assert placed == [day / "report.xlsx"] and (day / "report.xlsx").read_bytes() == b"new"
    assert not (day / "metrics.json").exists()
    assert not (tmp_path / "out" / "managers").exists()  # nothing rendered, nothing created


def test_run_schedule_on_an_existing_scheduler_by_address(tmp_path, testrep, monkeypatch):
    """--scheduler tcp://host:port: entries go to that cluster (here: one on loopback)."""
    import b24r_fixture_report as fx
    from distributed import LocalCluster

    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    sched = load_schedule(write(tmp_path, GOOD.format(port=25)), only=["good-mtd", "broken-weekly"],
                          env={**ENV, "B24_SMTP_HOST": "x"}, base_dir=tmp_path)
    # files only: no SMTP server in this test
    sched = dataclasses.replace(sched, entries=tuple(dataclasses.replace(e, recipients=()) for e in sched.entries),
                                smtp=None)
    with dask.config.set(DASK_CONFIG), LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        summary = run_schedule(sched, scheduler=cluster.scheduler_address, as_of=dt.datetime(2026, 2, 20, 14, 0),
                               run_all=True,
                               hooks=Hooks(sync=make_sync(fx.write_store, tmp_path / "sync.log")))
    assert [(r.entry, r.status) for r in summary.results] == [("good-mtd", "ok"), ("broken-weekly", "failed")]
    assert [Path(f).name for f in summary.results[0].files] == ["report.xlsx"]


def test_an_incomplete_sync_still_renders_but_fails_the_entry(tmp_path, testrep, inbox, monkeypatch):
    """A sync that refused a deletion (SyncIncomplete, exit code 3 on the command line) lost
    nothing: the entry renders and mails as usual, and the summary fails it with the reason."""
    import b24r_fixture_report as fx

    from b24reports.core.errors import SyncIncomplete

    for k, v in ENV.items():
        monkeypatch.setenv(k, v)

    def refusing_sync(webhook_url, store):
        if not Path(store).exists():
            fx.write_store(Path(store))
        raise SyncIncomplete("deals: refused to delete 250 of 250 stored rows: the export returned 0 rows "
                             "but the portal counts 250; nothing was deleted")

    p = write(tmp_path, GOOD.format(port=inbox.port))
    sched = load_schedule(p, only=["good-monthly"], base_dir=tmp_path)
    summary = run_schedule(sched, as_of=dt.datetime(2026, 2, 20, 14, 0), workers=1, processes=False,
                           hooks=Hooks(sync=refusing_sync))
    (res,) = summary.results
    assert res.status == "failed" and summary.exit_code == 1
    assert res.error.startswith("sync: SyncIncomplete: deals: refused to delete 250 of 250 stored rows")
    assert sorted(Path(f).name for f in res.files) == ["metrics.json", "report.xlsx"]
    assert len(inbox.messages) == 1


def test_user_recipients_are_validated(tmp_path, testrep):
    """`- user: 12` recipients (with an optional `sees`) load as UserRecipient; a bad id, level or
    key is named with the entry and line."""
    from b24reports.outputs.schedule_file import UserRecipient

    text = GOOD.replace("    recipients: [head@acme.ru, owner@acme.ru]\n",
                        "    sees: own\n    recipients:\n      - head@acme.ru\n      - user: 12\n"
                        "      - user: 3\n        sees: department\n")
    s = load_schedule(write(tmp_path, text.format(port=2525)), env=ENV, base_dir=tmp_path)
    e = s.entry("good-monthly")
    assert e.recipients == ("head@acme.ru",)
    assert e.users == (UserRecipient(12, "own"), UserRecipient(3, "department"))
    bad = GOOD.replace("    recipients: [head@acme.ru, owner@acme.ru]\n",
                       "    recipients:\n      - user: abc\n      - user: 4\n        sees: boss\n"
                       "      - user: 5\n        mail: x@y.ru\n")
    p = write(tmp_path, bad.format(port=2525))
    with pytest.raises(ScheduleFileError) as ex:
        load_schedule(p, env=ENV, base_dir=tmp_path)
    assert str(ex.value).splitlines()[1:] == [
        f"  {p}:24: entry 'good-monthly': recipient user 'abc' is not a Bitrix24 user id (a positive integer)",
        f"  {p}:25: entry 'good-monthly': recipient user 4: sees 'boss': use one of own, department, all",
        f"  {p}:27: entry 'good-monthly': recipient: unknown key(s) 'mail'; known: sees, user",
    ]


def test_the_schedule_cluster_runs_without_the_worker_profiler(tmp_path, monkeypatch):
    """A full-suite run hung in test_schedule_demo: the worker's profiler thread called
    ``sys._current_frames()``, a garbage collection inside it freed a ``threading.local``, and
    CPython 3.11.7 deadlocked on its thread-list lock (gh-106883). The cluster run_schedule
    starts has no profiler callback; dask's default would give it one."""
    import distributed

    seen: list[set[str]] = []

    class Recording(distributed.LocalCluster):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen.append({name for w in self.workers.values() for name in w.periodic_callbacks})

    monkeypatch.setattr(distributed, "LocalCluster", Recording)
    from b24reports.outputs import schedule

    assert schedule._run_on_dask([], scheduler=None, workers=1, processes=False, client=None, on_result=None) == []
    assert len(seen) == 1 and "heartbeat" in seen[0] and not {"profile", "profile-cycle"} & seen[0]
    with Recording(n_workers=1, processes=False, dashboard_address=None):  # dask's default, for contrast
        pass
    assert {"profile", "profile-cycle"} <= seen[1]
