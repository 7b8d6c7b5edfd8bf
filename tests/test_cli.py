"""CLI exit codes and messages (b24reports.cli.run), on the fixture report ``testrep``."""

from __future__ import annotations

import json

import b24r_fixture_report as fx
import pytest
from b24reports import cli


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return fx.setup_fixture(tmp_path_factory.mktemp("testrep"))


def _run(capsys, *argv):
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_reports_and_params(env, capsys):
    code, out, _ = _run(capsys, "list", "--lang", "en")
    assert code == 0
    assert "testrep — Test report" in out
    assert "--param min_amount=…  float: hide deals below this amount" in out
    assert "granularity=…  choice [month|quarter|year]" in out
    assert "date_from" in out and "pipelines" in out


def test_list_is_russian_by_default(env, capsys):
    """Issue 20: `b24reports list` printed English only; the UI is Russian by default."""
    code, out, _ = _run(capsys, "list")
    assert code == 0
    assert out.startswith("Общие параметры (всех отчётов):")
    assert "  date_from      date      начало периода, ГГГГ-ММ-ДД, включительно" in out
    assert "  employees      id_list   id сотрудников; пусто — все" in out
    # as the English list: a demo store's "now" is its portal's, not the clock's
    assert "(по умолчанию: сейчас; у демо-базы — «сейчас» её портала)" in out
    assert "testrep — " in out and "  таблицы: " in out
    assert "Common parameters" not in out and "period start" not in out


def test_render_ok_writes_files(env, tmp_path, capsys):
    code, out, err = _run(capsys, "render", "testrep", "--store", str(env["store"]), "--from", "2026-01-01",
                          "--to", "2026-03-31", "--as-of", "2026-03-31T12:00", "--lang", "en",
                          "--param", "min_amount=5000", "--formats", "json,xlsx", "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    doc = json.loads((tmp_path / "testrep" / "metrics.json").read_text())
    assert doc["params"]["lang"] == "en" and doc["params"]["min_amount"] == 5000.0
    assert [d["id"] for d in doc["tables"]["deals"]] == [2]
    assert str(tmp_path / "testrep" / "report.xlsx") in out


@pytest.mark.parametrize("args, needle", [
    (["--from", "2026-05-01", "--to", "2026-03-31"], "date_from"),         # from after to
    (["--from", "2026-02-30"], "date_from"),                                # not a date
    (["--lang", "de"], "--lang"),                                           # click choice
    (["--param", "colour=red"], "colour"),                                  # nobody declares it
    (["--param", "novalue"], "param"),                                      # not NAME=VALUE
    (["--param", "pipelines=42"], "pipelines"),                             # unknown pipeline id
    (["--param", "min_amount=-1"], "min_amount"),
    (["--formats", "html,docx"], "formats"),
    (["--from", "2026-01-01", "--param", "date_from=2026-01-02"], "date_from"),  # given twice
])
def test_bad_input_exit_2_names_the_input(env, tmp_path, capsys, args, needle):
    code, out, err = _run(capsys, "render", "testrep", "--store", str(env["store"]), "--out", str(tmp_path),
                          "--no-progress", *args)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "testrep").exists()


def test_usage_errors_exit_2(env, tmp_path, capsys):
    assert _run(capsys, "render", "testrep", "--out", str(tmp_path))[0] == 2                  # no --store
    code, _, err = _run(capsys, "render", "testrep", "--store", str(tmp_path / "none.duckdb"), "--out", str(tmp_path))
    assert code == 2 and "none.duckdb" in err                                                   # store missing
    code, _, err = _run(capsys, "render", "no_such_report", "--store", str(env["store"]), "--out", str(tmp_path))
    assert code == 2 and "no_such_report" in err
    assert _run(capsys, "frobnicate")[0] == 2
    assert _run(capsys, "--help")[0] == 0


def test_render_all_rejects_param_nobody_declares(env, tmp_path, capsys):
    code, _, err = _run(capsys, "render", "all", "--store", str(env["store"]), "--out", str(tmp_path),
                        "--param", "nobody_declares=1")
    assert code == 2 and "nobody_declares" in err


def test_other_failure_exit_1_one_line_traceback_only_with_debug(tmp_path, capsys):
    bad = tmp_path / "not-a-store.duckdb"
    bad.write_text("this is not a DuckDB file")
    code, _, err = _run(capsys, "render", "funnel", "--store", str(bad), "--out", str(tmp_path / "o"))
    assert code == 1
    assert "not-a-store.duckdb" in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1
    code, _, err = _run(capsys, "render", "funnel", "--store", str(bad), "--out", str(tmp_path / "o"), "--debug")
    assert code == 1 and "Traceback" in err


def test_sync_auth_error_exit_2_and_webhook_never_printed(tmp_path, capsys, monkeypatch):
    from b24reports.demo.generator import generate_portal
    from b24reports.demo.server import DemoServer

    with DemoServer(generate_portal(scale=0.02)) as srv:
        wrong = srv.webhook_url.replace(srv.token, "wrong-secret-token-123")
        code, out, err = _run(capsys, "sync", "--webhook", wrong, "--store", str(tmp_path / "s.duckdb"))
        assert code == 2, err
        assert "wrong-secret-token-123" not in out + err
        monkeypatch.setenv("B24_WEBHOOK_URL", wrong)                     # the env var works the same
        code, out, err = _run(capsys, "sync", "--store", str(tmp_path / "s.duckdb"), "--debug")
        assert code == 2 and "wrong-secret-token-123" not in out + err


def test_sync_without_webhook_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("B24_WEBHOOK_URL", raising=False)
    code, _, err = _run(capsys, "sync", "--store", str(tmp_path / "s.duckdb"))
    assert code == 2 and "webhook" in err and "B24_WEBHOOK_URL" in err
    assert "None" not in err  # issue 20: "webhook=None" leaked the Python value


def test_redact_masks_url_and_token():
    cli._remember_secret("https://acme.bitrix24.ru/rest/7/abcdef123456/")
    msg = cli.redact("failed at https://acme.bitrix24.ru/rest/7/abcdef123456/crm.deal.list and abcdef123456")
    assert "abcdef123456" not in msg and "***" in msg


def test_cli_bad_date_exit_2_message(env, tmp_path, capsys):
    code, _, err = _run(capsys, "render", "funnel", "--store", str(env["store"]), "--out", str(tmp_path / "o"),
                        "--from", "2025-13-01", "--no-progress")
    assert code == 2
    assert err.strip() == ("error: parameter date_from='2025-13-01': 2025-13-01 is not a calendar date; "
                           "expected a date YYYY-MM-DD, e.g. 2026-01-31")


def test_cli_sync_summary_singular(capsys):
    from types import SimpleNamespace

    cli._print_sync(SimpleNamespace(mode="full", status="ok", rows={"deals": 1}, requests=1, seconds=0.5,
                                    store_path="s.duckdb", warnings=["deal 501: empty OPPORTUNITY (counted as 0)"]))
    err = capsys.readouterr().err
    assert "ok, 1 row written, 1 request, 0.5 s" in err
    assert "  1 data-quality warning (shown in the reports); first: deal #501: amount not set, counted as 0" in err
