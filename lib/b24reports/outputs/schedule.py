"""Scheduled runs for many portals: sync, render, deliver by email — in parallel on Dask.

``run-schedule params/schedule.yaml`` (see the commented example there) does, per entry:

1. sync the entry's portal incrementally into its own store (``<store_dir>/<portal>.duckdb``;
   the webhook URL is read from the environment variable NAMED in the file, on the worker);
2. render the entry's reports for its period preset (:mod:`b24reports.reports.presets`) into
   ``<output_dir>/<portal>/<report>/<as_of date>/`` (``report.pdf``, ``report.xlsx``, …);
3. email the files (the PDFs when rendered, otherwise every file) with an HTML summary of the
   headline numbers (:mod:`b24reports.outputs.delivery`) to the entry's recipients.

Validation comes first (:func:`b24reports.outputs.schedule_file.load_schedule`, the schedule
file's own module): every problem of the file is listed before anything runs.

Entries run in parallel as Dask tasks (:func:`run_schedule`): a ``LocalCluster`` by default,
an existing scheduler by address. An entry's failure (bad webhook, API down, render or send
error) is caught and reported in its :class:`EntryResult`; the others go on. Two entries of
the same portal never use its store at the same time: sync + render hold a per-portal lock
(``distributed.Lock`` keyed on the portal on a cluster, plus a file lock next to the store,
which also covers two overlapping ``run-schedule`` processes on one machine).

An entry with a ``cron`` line runs only when one of its cron times falls within the
``window`` before ``now`` (default 1 hour: call ``run-schedule`` hourly from cron or a
systemd timer); ``--only NAME`` and ``--all`` ignore cron.
"""


from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from b24reports.core.errors import BadInput, SyncIncomplete
from b24reports.outputs.schedule_file import (
    FORMATS,
    Entry,
    Portal,
    Schedule,
    is_due,
    load_schedule,
)


@dataclass
class EntryResult:
    """Outcome of one entry: ``entry``, ``portal``, ``status`` (``ok`` | ``failed`` |
    ``skipped``), ``duration`` (seconds, wall), ``files`` (written paths, kept on failure),
    ``error`` (one line naming the step: ``sync: …``, ``render: …``, ``email: …``; never
    the webhook), ``emailed`` (recipients the message was accepted for), ``out_dir``,
    ``timings`` (seconds per step: ``lock_wait``, ``sync``, ``render``, ``email``)."""

    entry: str
    portal: str
    status: str
    duration: float = 0.0
    files: list[str] = field(default_factory=list)
    error: str = ""
    emailed: list[str] = field(default_factory=list)
    out_dir: str = ""
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class RunSummary:
    """All entry results of a run, in schedule order. ``exit_code``: 0 when none failed,
    else 1."""

    results: list[EntryResult]
    wall_seconds: float = 0.0

    @property
    def failed(self) -> list[EntryResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_frame(self):
        """The summary table: a DataFrame with columns ``entry``, ``portal``, ``status``,
        ``duration_s`` (1 decimal), ``files`` (count), ``error``."""
        import pandas as pd

        return pd.DataFrame(
            [{"entry": r.entry, "portal": r.portal, "status": r.status, "duration_s": round(r.duration, 1),
              "files": len(r.files), "error": r.error} for r in self.results],
            columns=["entry", "portal", "status", "duration_s", "files", "error"],
        )

    def table(self) -> str:
        """The summary table as plain text, one row per entry, then a totals line."""
        df = self.to_frame()
        left = {c: (lambda w: (lambda v: f"{v:<{w}}"))(max([len(c), *(len(str(v)) for v in df[c])]))
                for c in ("entry", "portal", "status", "error")}
        body = df.to_string(index=False, formatters=left, justify="left") if len(df) else "(no entries ran)"
        n_ok = sum(r.status == "ok" for r in self.results)
        return (f"{body}\n{n_ok} ok, {len(self.failed)} failed, "
                f"{sum(r.status == 'skipped' for r in self.results)} skipped in {self.wall_seconds:.1f} s")


# --------------------------------------------------------------------------- running one entry


@dataclass(frozen=True)
class Hooks:
    """The steps of an entry, replaceable (tests, other transports). Each ``None`` means the
    package's own: ``sync(webhook_url, store_path)`` → :func:`b24reports.ingest.sync.sync`
    (incremental, no progress bar); ``render(names, store_path, params, out_dir, formats,
    generated_at[, visibility=])`` → :func:`b24reports.outputs.render.render_all` returning {report: {format:
    Path}} (``visibility`` only for a Bitrix24-user recipient's slice); ``send(message, smtp_settings)`` → :func:`b24reports.outputs.delivery.send_message`."""

    sync: Callable[[str, Path], Any] | None = None
    render: Callable[..., dict[str, dict[str, Path]]] | None = None
    send: Callable[[Any, Any], Any] | None = None


@dataclass(frozen=True)
class EntryJob:
    """Everything a worker needs for one entry (picklable): ``entry``, ``output_dir``,
    ``smtp`` settings (or None), ``as_of`` (None = now), ``generated_at`` (UTC), ``hooks``."""

    entry: Entry
    output_dir: Path
    smtp: Any
    as_of: dt.datetime | None
    generated_at: dt.datetime
    hooks: Hooks = Hooks()
    lock_timeout: float = 3600.0


def _default_sync(webhook_url: str, store: Path) -> Any:
    from b24reports.ingest.sync import sync

    return sync(webhook_url, store, full=False, progress=False)


def _default_render(names: Sequence[str], store: Path, params: Mapping[str, Any], out_dir: Path,
                    formats: Sequence[str], generated_at: dt.datetime, visibility: Any = None,
                    kernels: Any = None) -> dict[str, dict[str, Path]]:
    from b24reports.outputs.render import render_all

    return render_all(store, params, out_dir, formats, generated_at, names=list(names), workers=1, progress=False,
                      visibility=visibility, kernels=kernels)


def _default_send(message: Any, smtp: Any) -> Any:
    from b24reports.outputs.delivery import send_message

    return send_message(message, smtp)


@contextmanager
def portal_lock(portal: Portal, timeout: float = 3600.0):
    """Hold the portal's store exclusively: a ``distributed.Lock`` named after the portal when
    running inside a Dask worker (cluster-wide), and a file lock ``<store>.lock`` (threads and
    processes on this machine). Raises ``TimeoutError`` after ``timeout`` seconds."""
    from filelock import FileLock, Timeout

    dlock = None
    try:
        from distributed import Lock, get_worker

        get_worker()
        dlock = Lock(f"b24reports-portal-{portal.name}")
    except (ImportError, ValueError):
        dlock = None
    if dlock is not None and not dlock.acquire(timeout=timeout):
        raise TimeoutError(f"portal {portal.name!r} stayed locked for {timeout:.0f} s")
    try:
        portal.store.parent.mkdir(parents=True, exist_ok=True)
        flock = FileLock(str(portal.store) + ".lock", thread_local=False)
        try:
            flock.acquire(timeout=timeout)
        except Timeout:
            raise TimeoutError(f"store of portal {portal.name!r} stayed locked for {timeout:.0f} s") from None
        try:
            yield
        finally:
            flock.release()
    finally:
        if dlock is not None:
            dlock.release()


def _scrub(text: str, secret: str) -> str:
    if secret:
        text = text.replace(secret, "<webhook>")
        try:
            from b24reports.ingest.auth import Webhook

            text = Webhook(secret).redact(text)
        except Exception:  # noqa: BLE001 -- a malformed URL: the plain replace above is enough
            pass
    return " ".join(str(text).split())


def _step_error(step: str, exc: BaseException, secret: str) -> str:
    return _scrub(f"{step}: {type(exc).__name__}: {exc}", secret)


_FILENAMES = {"html": "report.html", "pdf": "report.pdf", "xlsx": "report.xlsx", "json": "metrics.json"}


def _place(rendered: Mapping[str, Mapping[str, Path]], final_root: Path, day: str,
           reports: Sequence[str] = (), formats: Sequence[str] = ()) -> list[Path]:
    """Move ``<tmp>/<report>/<file>`` into ``<final_root>/<report>/<day>/<file>``; a file of
    an earlier run the same day whose format failed this time is removed (never stale)."""
    placed: list[Path] = []
    for report in dict.fromkeys([*reports, *rendered]):
        files = rendered.get(report, {})
        dest_dir = final_root / report / day
        for fmt in formats:
            old = dest_dir / _FILENAMES.get(fmt, "")
            if fmt not in files and old.is_file():
                old.unlink()
        if not files:
            continue
        dest_dir.mkdir(parents=True, exist_ok=True)
        for _fmt, src in files.items():
            dest = dest_dir / Path(src).name
            os.replace(src, dest)
            placed.append(dest)
    return placed


def run_entry(job: EntryJob) -> EntryResult:
    """Run one entry (sync → render → email); never raises for the entry's own failures.

    Files go to ``<output_dir>/<portal>/<report>/<as_of date>/`` (``report.pdf``,
    ``report.xlsx``, ``report.html``, ``metrics.json``); the files of reports that did render
    stay even when another report or the email failed. A Bitrix24-user recipient (``- user:
    12``) gets files of their own, cut to what they see (:func:`recipient_visibility`), in
    ``<output_dir>/<portal>/users/<user id>/<report>/<as_of date>/`` and a message of their own.
    Returns an :class:`EntryResult` whose ``error`` names the failed step; the webhook URL
    never appears in it.
    """
    e, t0 = job.entry, time.monotonic()
    res = EntryResult(entry=e.name, portal=e.portal.name, status="ok")
    secret = os.environ.get(e.portal.webhook_env, "")
    hooks = job.hooks
    day = (job.as_of or dt.datetime.now()).date().isoformat()
    portal_out = job.output_dir / e.portal.name
    res.out_dir = str(portal_out)
    params = e.report_params(job.as_of)
    errors: list[str] = []
    placed: list[Path] = []
    whole: list[Path] = []
    docs: list[dict[str, Any]] = []
    per_user: list[tuple[str, list[Path], list[dict[str, Any]]]] = []  # (address, files, metrics docs)
    # json is always rendered when mailing (cheap: the computed result) for the summary numbers
    fmts = tuple(f for f in FORMATS if f in e.formats or (f == "json" and (e.recipients or e.users)))
    try:
        if not secret:
            raise BadInput(f"environment variable {e.portal.webhook_env} is not set")
        t_lock = time.monotonic()
        with portal_lock(e.portal, job.lock_timeout):
            t_sync = time.monotonic()
            res.timings["lock_wait"] = t_sync - t_lock
            try:
                (hooks.sync or _default_sync)(secret, e.portal.store)
            except SyncIncomplete as ex:  # synced, nothing lost: render and send, but the entry fails
                errors.append(_step_error("sync", ex, secret))
            except Exception as ex:  # noqa: BLE001 -- reported per entry
                raise _StepFailed(_step_error("sync", ex, secret)) from None
            finally:
                res.timings["sync"] = time.monotonic() - t_sync
            t_render = time.monotonic()
            portal_out.mkdir(parents=True, exist_ok=True)
            whole_store = bool(e.recipients or not e.users)  # for address recipients, or files only
            with _entry_kernels(job, fmts, int(whole_store) + len(e.users)) as kernels:
                if whole_store:
                    whole, docs = _render_slice(job, params, fmts, portal_out, day, None, errors, secret, kernels=kernels)
                    placed += whole
                for u in e.users:
                    try:
                        address, vis = recipient_visibility(e.portal.store, u, secret)
                    except Exception as ex:  # noqa: BLE001 -- one recipient's problem; the others go on
                        errors.append(_step_error(f"recipient user {u.user_id}", ex, secret))
                        continue
                    files, udocs = _render_slice(job, params, fmts, portal_out / "users" / str(u.user_id), day,
                                                 None if vis.sees_all else vis, errors, secret,
                                                 label=f"render for user {u.user_id}", kernels=kernels)
                    placed += files
                    per_user.append((address, files, udocs))
            res.timings["render"] = time.monotonic() - t_render
        res.files = [str(p) for p in placed]
        t_mail = time.monotonic()
        if e.recipients:
            _mail(job, params, list(e.recipients), whole, docs, res, errors, secret)
        for address, files, udocs in per_user:
            _mail(job, params, [address], files, udocs, res, errors, secret)
        if e.recipients or per_user:
            res.timings["email"] = time.monotonic() - t_mail
    except _StepFailed as ex:
        errors.append(str(ex))
    except Exception as ex:  # noqa: BLE001 -- one entry's failure must not stop the others
        errors.append(_step_error("config" if isinstance(ex, BadInput) else "run", ex, secret))
    res.files = [str(p) for p in placed]
    if errors:
        res.status, res.error = "failed", "; ".join(errors)
    res.duration = time.monotonic() - t0
    return res


def recipient_visibility(store: Path, user: Any, webhook: str) -> tuple[str, Any]:
    """``(email address, Visibility)`` of a Bitrix24-user recipient (``UserRecipient``) from
    the synced ``store``: the address is the user's ``EMAIL`` in the store's users table, else
    asked of the portal (``user.get`` ``{"ID": id}`` over the ``webhook``); the visibility is
    ``ingest.visibility.structure_visibility`` (own / department with sub-departments by
    ``UF_HEAD`` / all, or the recipient's ``sees``).

    Raises:
        BadParameter("user", …): not a user of the store, or the user has no email address.
    """
    from b24reports.core.errors import BadParameter
    from b24reports.ingest.dataset import Dataset
    from b24reports.ingest.visibility import structure_visibility

    ds = Dataset.load(store)
    vis = structure_visibility(ds, user.user_id, user.sees)
    users = ds.frames["users"]
    row = users[users["id"] == user.user_id]
    address = str(row["email"].iloc[0] or "").strip() if len(row) and row["email"].notna().iloc[0] else ""
    if not address:
        from b24reports.ingest.client import B24Client

        with B24Client(webhook, max_retries=2, timeout=30) as c:
            got = c.call("user.get", {"ID": user.user_id}).get("result") or []
        address = str((got[0] if got else {}).get("EMAIL") or "").strip()
    if "@" not in address:
        raise BadParameter("user", user.user_id, "has no email address in Bitrix24")
    return address, vis


@contextmanager
def _entry_kernels(job: EntryJob, fmts: tuple[str, ...], slices: int) -> Iterator[Any]:
    """One warm notebook kernel for all of an entry's renders (the whole store and each user
    recipient's slice): it imports the stack and loads the store once, not once per slice
    (each notebook still starts from a cleared namespace and cuts the store to its own
    recipient). ``None`` when it would not be shared (one slice), no format runs a notebook, or
    the render step is not the package's own (``Hooks.render``)."""
    if slices < 2 or job.hooks.render is not None or not {"html", "pdf"} & set(fmts):
        yield None
        return
    from b24reports.outputs.kernels import KernelPool

    pool = KernelPool(1, store=job.entry.portal.store, plotlyjs_at_export=True)
    try:
        yield pool
    finally:
        pool.close()


def _render_slice(job: EntryJob, params: Mapping[str, Any], fmts: tuple[str, ...], final_root: Path, day: str,
                  visibility: Any, errors: list[str], secret: str,
                  label: str = "render", kernels: Any = None) -> tuple[list[Path], list[dict[str, Any]]]:
    """Render the entry's reports (the whole store, or cut to ``visibility``) into
    ``final_root/<report>/<day>/``: -> (files placed, metrics.json documents). A failure is
    appended to ``errors`` as ``<label>: …``; what did render is placed. ``kernels``: the
    entry's shared kernel (:func:`_entry_kernels`), handed to the package's own render."""
    from b24reports.outputs.delivery import read_metrics

    e = job.entry
    final_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{e.name}-", dir=final_root))
    try:
        render = job.hooks.render or _default_render
        extra: dict[str, Any] = {"visibility": visibility} if visibility is not None else {}
        if kernels is not None:
            extra["kernels"] = kernels
        try:
            rendered = render(e.reports, e.portal.store, params, tmp, fmts, job.generated_at, **extra)
        except Exception as ex:  # noqa: BLE001
            rendered = getattr(ex, "outputs", None) or {}
            errors.append(_step_error(label, ex, secret))
        # metrics.json feeds the email summary; it is kept only when json was asked for
        docs = read_metrics(f for files in rendered.values() for fmt, f in files.items() if fmt == "json")
        if "json" not in e.formats:
            rendered = {r: {f: p for f, p in files.items() if f != "json"} for r, files in rendered.items()}
        return _place(rendered, final_root, day, e.reports, e.formats), docs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _mail(job: EntryJob, params: Mapping[str, Any], to: list[str], placed: list[Path], docs: list[dict[str, Any]],
          res: EntryResult, errors: list[str], secret: str) -> None:
    """Email ``placed`` (the PDFs when any) with the summary of ``docs`` to ``to``; adds the
    addresses to ``res.emailed``, or a line to ``errors``."""
    from b24reports.outputs.delivery import build_message, pick_attachments, subject_line, summary_html

    e = job.entry
    if not placed:
        errors.append(f"email to {', '.join(to)}: not sent, no file was rendered")
        return
    if job.smtp is None:
        errors.append("email: not sent, no SMTP settings (the schedule was loaded without check_env)")
        return
    attach = pick_attachments(placed)
    names = [f"{p.parent.parent.name}{p.suffix}" if p.name.startswith("report.") else
             f"{p.parent.parent.name}-{p.name}" for p in attach]
    period = (params["date_from"], params["date_to"])
    msg = build_message(sender=job.smtp.sender, recipients=to, subject=subject_line(e.name, period, e.lang),
                        html_body=summary_html(e.name, period, docs, lang=e.lang, titles=_titles(e)),
                        attachments=attach, attachment_names=names)
    try:
        (job.hooks.send or _default_send)(msg, job.smtp)
        res.emailed += list(to)
    except Exception as ex:  # noqa: BLE001
        errors.append(_step_error("email", ex, secret) + " (files kept)")


def _run_entry_after(job: EntryJob, _previous: Any) -> EntryResult:
    """:func:`run_entry` once the previous entry of the same portal is done (a Dask dependency)."""
    return run_entry(job)


class _StepFailed(Exception):
    pass


def _titles(e: Entry) -> dict[str, str]:
    try:
        from b24reports import reports

        return {r: reports.get(r).title.get(e.lang, r) for r in e.reports}
    except Exception:  # noqa: BLE001 -- titles are cosmetic
        return {}


# --------------------------------------------------------------------------- running a schedule


def run_schedule(schedule: Schedule | str | os.PathLike, *, only: str | Sequence[str] | None = None,
                 scheduler: str | None = None, workers: int | None = None, processes: bool = True,
                 as_of: dt.datetime | None = None, now: dt.datetime | None = None, run_all: bool = False,
                 window: dt.timedelta = dt.timedelta(hours=1), hooks: Hooks | None = None, client: Any = None,
                 on_result: Callable[[EntryResult], None] | None = None) -> RunSummary:
    """Validate the schedule (when given a path), then run its due entries in parallel on Dask.

    ``only``: run just these entries (ignores cron). ``scheduler``: address of an existing
    Dask scheduler (``tcp://host:port``); default a ``LocalCluster`` of ``workers`` workers
    (default min(entries, CPUs)), one thread each, ``processes`` (False: threads in this
    process, light for tests). ``client``: an existing ``distributed.Client`` (wins over
    both). ``as_of``: the reports' as_of (portal time, naive; default now) — also the date of
    the output folder and of the period presets. ``now``/``window``/``run_all``: cron
    selection (see :func:`is_due`). ``on_result``: called with each result as it arrives.

    Returns a :class:`RunSummary` (``exit_code`` 1 when an entry failed). Raises
    ``ScheduleFileError`` for an invalid schedule before anything runs.
    """
    t0 = time.monotonic()
    if not isinstance(schedule, Schedule):
        schedule = load_schedule(schedule, only=only)
    elif only:
        wanted = [only] if isinstance(only, str) else list(only)
        schedule = replace(schedule, entries=tuple(schedule.entry(n) for n in wanted))
    now = now or dt.datetime.now()
    results: dict[str, EntryResult] = {}
    todo: list[Entry] = []
    for e in schedule.entries:
        if only or run_all or is_due(e.cron, now, window):
            todo.append(e)
        else:
            results[e.name] = EntryResult(entry=e.name, portal=e.portal.name, status="skipped",
                                          error=f"cron {e.cron!r} not due")
    generated_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    jobs = [EntryJob(e, schedule.output_dir, schedule.smtp, as_of, generated_at, hooks or Hooks()) for e in todo]
    if jobs:
        for r in _run_on_dask(jobs, scheduler=scheduler, workers=workers, processes=processes, client=client,
                              on_result=on_result):
            results[r.entry] = r
    ordered = [results[e.name] for e in schedule.entries if e.name in results]
    return RunSummary(ordered, wall_seconds=time.monotonic() - t0)


#: Dask settings of the cluster ``run_schedule`` starts. The worker's statistical profiler is
#: off: it samples ``sys._current_frames()`` every 10 ms, and on CPython before 3.11.9 that call
#: holds the interpreter's thread-list lock while it allocates, so a garbage collection inside it
#: that frees a ``threading.local`` deadlocks the whole process (CPython gh-106883; seen here:
#: a schedule test hung with the IO loop's thread in ``trigger_profile`` → GC → ``local_clear``).
#: Nobody reads a schedule run's profile.
DASK_CONFIG = {"distributed.worker.profile.enabled": False}


def _run_on_dask(jobs: list[EntryJob], *, scheduler: str | None, workers: int | None, processes: bool,
                 client: Any, on_result: Callable[[EntryResult], None] | None) -> Iterable[EntryResult]:
    import dask
    import distributed  # noqa: F401 -- its config defaults first: a key set before they load hides them

    with dask.config.set(DASK_CONFIG):
        return _run_on_dask_cluster(jobs, scheduler=scheduler, workers=workers, processes=processes, client=client,
                                    on_result=on_result)


def _run_on_dask_cluster(jobs: list[EntryJob], *, scheduler: str | None, workers: int | None, processes: bool,
                         client: Any, on_result: Callable[[EntryResult], None] | None) -> Iterable[EntryResult]:
    from distributed import Client, LocalCluster, as_completed

    own_cluster = own_client = None
    try:
        if client is None:
            if scheduler:
                client = own_client = Client(scheduler, timeout="30s")
            else:
                n = workers or max(1, min(len(jobs), os.cpu_count() or 1))
                own_cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                                           dashboard_address=None, silence_logs=logging.ERROR)
                client = own_client = Client(own_cluster)
        # entries of one portal form a chain (each task depends on the previous one of its
        # portal), so no worker sits blocked on a portal lock while other portals wait
        futures: dict[Any, EntryJob] = {}
        last_of_portal: dict[str, Any] = {}
        for j in jobs:
            prev = last_of_portal.get(j.entry.portal.name)
            key = f"b24reports-entry-{j.entry.name}-{time.time_ns()}"
            fut = (client.submit(run_entry, j, key=key, pure=False) if prev is None
                   else client.submit(_run_entry_after, j, prev, key=key, pure=False))
            last_of_portal[j.entry.portal.name] = fut
            futures[fut] = j
        out: list[EntryResult] = []
        for fut in as_completed(futures):
            j = futures[fut]
            try:
                r = fut.result()
            except Exception as ex:  # noqa: BLE001 -- a lost worker, a pickling error
                r = EntryResult(entry=j.entry.name, portal=j.entry.portal.name, status="failed",
                                error=_scrub(f"dask: {type(ex).__name__}: {ex}",
                                             os.environ.get(j.entry.portal.webhook_env, "")))
            if on_result:
                on_result(r)
            out.append(r)
        return out
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
