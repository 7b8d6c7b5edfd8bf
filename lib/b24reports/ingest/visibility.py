"""What one viewer may open, asked of the portal with the viewer's own token, and the
dataset cut to it.

Bitrix24 has no REST method that reads the CRM role matrix (bitrix24-api.md §8): list
methods called with a user's token return exactly what that user may read (own / department
/ department and sub-departments / all). So :func:`fetch_visibility` asks, ids only:

1. one ``batch`` request with ``user.admin`` and the ``total`` of crm.deal.list,
   crm.lead.list and tasks.task.list as the viewer sees them. An admin, or a viewer whose
   three totals equal the portal's (``full_counts``, counted with the application's admin
   token), sees everything: no paging.
2. otherwise the ids of deals, leads and tasks through the fast ID-cursor export
   (``client.export``: ``>ID`` + ``start=-1``, 50 pages chained per batch, so ~2,500 ids a
   request).

:func:`restrict` then keeps only what that viewer may open: deals, leads and tasks by id;
their versions (``deal_versions``) and stage/status history by owner; activities whose deal
or lead is visible or whose responsible is the viewer; calls whose activity is visible or
whose employee is the viewer; users reduced to the people whose records remain (plus the
viewer). Departments, pipelines, statuses, currencies and workgroups stay whole: they hold
no one's numbers.

:func:`structure_visibility` builds the same :class:`Visibility` from the store's structure when
no viewer token exists (a scheduled delivery to a Bitrix24 user): own records, the departments
the user heads with their sub-departments (``UF_HEAD``), or everything (``sees: all``).

:func:`cache_visibility` / :func:`cached_visibility` keep a viewer's answer for
``AppConfig.visibility_ttl`` seconds in ``<store>.viewers/<member>-<user>.json`` (0600), so
the dashboard kernels (other processes) read what the app handler asked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from b24reports.ingest.auth import read_secret_json, write_secret_json
from b24reports.core.errors import BadParameter

if TYPE_CHECKING:
    from b24reports.outputs.appmode import AppConfig, Viewer
    from b24reports.ingest.client import B24Client
    from b24reports.ingest.dataset import Dataset

#: (key, method, result key, id key in the rows) of the three entities rights are asked for;
#: each is selected, filtered and ordered by ``ID``.
_ENTITIES = (("deal", "crm.deal.list", None, "ID"), ("lead", "crm.lead.list", None, "ID"),
             ("task", "tasks.task.list", "tasks", "id"))


@dataclass(frozen=True)
class Visibility:
    """What ``user_id`` may open: everything (``sees_all``) or the ids in ``deal_ids``,
    ``lead_ids``, ``task_ids`` (portal ids, ints)."""

    user_id: int
    sees_all: bool
    deal_ids: frozenset[int] = field(default_factory=frozenset)
    lead_ids: frozenset[int] = field(default_factory=frozenset)
    task_ids: frozenset[int] = field(default_factory=frozenset)

    def to_json(self) -> dict:
        return {"user_id": self.user_id, "sees_all": self.sees_all, "deal_ids": sorted(self.deal_ids),
                "lead_ids": sorted(self.lead_ids), "task_ids": sorted(self.task_ids)}

    @classmethod
    def from_json(cls, d: dict) -> Visibility:
        return cls(int(d["user_id"]), bool(d["sees_all"]), frozenset(map(int, d.get("deal_ids", []))),
                   frozenset(map(int, d.get("lead_ids", []))), frozenset(map(int, d.get("task_ids", []))))


def _total(env_total: Any) -> int:
    from b24reports.ingest.client import as_total

    n = as_total(env_total)
    return -1 if n is None else n


def portal_counts(client: B24Client) -> dict[str, int]:
    """``{"deal": n, "lead": n, "task": n}``: the totals these lists report for ``client``'s
    token, in one ``batch`` request (1 row each, ``start=0`` for the COUNT)."""
    cmds = {k: (m, {"select": ["ID"], "start": 0}) for k, m, _, _ in _ENTITIES}
    res = client.batch(cmds)
    return {k: _total(res.result_total.get(k)) for k, *_ in _ENTITIES}


def fetch_visibility(client: B24Client, *, full_counts: dict[str, int] | None = None) -> Visibility:
    """Ask the portal, with the viewer's token in ``client``, what the viewer may open.

    ``full_counts``: the portal's totals (:func:`portal_counts` with an admin token); when the
    viewer's three totals equal them, the viewer sees everything. Without it only
    ``user.admin`` proves that.

    Cost: 1 request when the viewer sees everything; else 1 + about ids/2,500 requests per
    entity (deals, leads, tasks), the three entities read at the same time (a client each on
    ``client.auth``).

    Raises:
        B24AuthError: the token was refused (expired, forged). And what ``client.export`` raises.
    """
    cmds: dict[str, tuple[str, dict]] = {"me": ("user.current", {}), "admin": ("user.admin", {})}
    for k, m, _, _ in _ENTITIES:
        cmds[k] = (m, {"select": ["ID"], "start": 0})
    res = client.batch(cmds)
    user_id = int(res.result["me"]["ID"])
    mine = {k: _total(res.result_total.get(k)) for k, *_ in _ENTITIES}
    if res.result.get("admin") is True or (full_counts and all(mine[k] == full_counts.get(k) for k in mine)):
        return Visibility(user_id, True)
    def read(entity: tuple) -> frozenset[int]:
        k, m, rkey, idf = entity
        if mine[k] == 0:
            return frozenset()
        # the three lists are read at once, each through its own client (one HTTP pool each)
        with B24Client(client.auth, max_retries=client.max_retries, timeout=client.timeout) as c:
            got: set[int] = set()
            for page in c.export(m, select=["ID"], row_id_field=idf, result_key=rkey,
                                 first_chain=1 if mine[k] <= 50 else 50):
                got.update(int(r[idf]) for r in page)
            return frozenset(got)

    from concurrent.futures import ThreadPoolExecutor

    from b24reports.ingest.client import B24Client

    with ThreadPoolExecutor(max_workers=len(_ENTITIES)) as pool:
        ids = dict(zip((e[0] for e in _ENTITIES), pool.map(read, _ENTITIES)))
    return Visibility(user_id, False, ids["deal"], ids["lead"], ids["task"])


def restrict(ds: Dataset, vis: Visibility) -> Dataset:
    """``ds`` with only what ``vis`` may open (see module doc); ``ds`` itself is unchanged.

    In: a :class:`~b24reports.data.Dataset`. Out: a new Dataset with the same tables and
    columns and fewer rows (the same object back when ``vis.sees_all``).
    """
    from b24reports.ingest.dataset import Dataset

    if vis.sees_all:
        return ds
    f = dict(ds.frames)

    def keep(df: pd.DataFrame, col: str, ids: frozenset[int] | set[int]) -> pd.DataFrame:
        return df[df[col].isin(list(ids)).fillna(False).astype(bool)].reset_index(drop=True)

    f["deals"] = keep(f["deals"], "id", vis.deal_ids)
    f["leads"] = keep(f["leads"], "id", vis.lead_ids)
    f["tasks"] = keep(f["tasks"], "id", vis.task_ids)
    f["deal_versions"] = keep(f["deal_versions"], "id", vis.deal_ids)
    f["deal_stage_history"] = keep(f["deal_stage_history"], "owner_id", vis.deal_ids)
    f["lead_status_history"] = keep(f["lead_status_history"], "owner_id", vis.lead_ids)
    a = f["activities"]
    owner = a["owner_id"]
    ok = ((a["owner_type_id"] == 2) & owner.isin(list(vis.deal_ids))) | (
        (a["owner_type_id"] == 1) & owner.isin(list(vis.lead_ids))) | (a["responsible_id"] == vis.user_id)
    f["activities"] = a[ok.fillna(False).astype(bool)].reset_index(drop=True)
    c = f["calls"]
    ok = c["crm_activity_id"].isin(f["activities"]["id"].dropna().astype(int).tolist()) | (c["portal_user_id"] == vis.user_id)
    f["calls"] = c[ok.fillna(False).astype(bool)].reset_index(drop=True)
    people = {vis.user_id}
    for table, cols in (("deals", ("assigned_by_id",)), ("leads", ("assigned_by_id",)),
                        ("tasks", ("responsible_id", "created_by")), ("activities", ("responsible_id",)),
                        ("deal_versions", ("assigned_by_id",))):
        for col in cols:
            people.update(int(x) for x in f[table][col].dropna().tolist())
    f["users"] = keep(f["users"], "id", people)
    return Dataset(frames=f, portal=ds.portal, timezone=ds.timezone, base_currency=ds.base_currency,
                   telephony=ds.telephony, warnings=list(ds.warnings), visibility=vis)


# --------------------------------------------------------------------------- from the store's structure
#: What a scheduled recipient may see (``sees:`` in params/schedule.yaml).
SEES = ("own", "department", "all")


def structure_level(ds: Dataset, user_id: int) -> str:
    """``"department"`` when ``user_id`` heads a department (``departments.uf_head``), else
    ``"own"``. Admins cannot be told from the store (``user.admin`` answers only for the
    token's own user): a schedule says ``sees: all`` for them."""
    heads = ds.frames["departments"]["uf_head"].dropna().astype(int)
    return "department" if int(user_id) in set(heads.tolist()) else "own"


def structure_people(ds: Dataset, user_id: int, sees: str) -> frozenset[int] | None:
    """The responsible ids whose records ``user_id`` sees at level ``sees`` (None = all):
    ``own`` the user; ``department`` the user and every user whose ``uf_department`` is a
    department the user heads or a sub-department of one (walking ``parent``)."""
    if sees == "all":
        return None
    if sees == "own":
        return frozenset({int(user_id)})
    deps = ds.frames["departments"]
    children: dict[int, list[int]] = {}
    for d, parent in zip(deps["id"].tolist(), deps["parent"].tolist()):
        if parent is not None and not pd.isna(parent):
            children.setdefault(int(parent), []).append(int(d))
    todo = [int(d) for d, h in zip(deps["id"].tolist(), deps["uf_head"].tolist())
            if h is not None and not pd.isna(h) and int(h) == int(user_id)]
    seen: set[int] = set()
    while todo:
        d = todo.pop()
        if d not in seen:
            seen.add(d)
            todo.extend(children.get(d, []))
    out = {int(user_id)}
    users = ds.frames["users"]
    for uid, udeps in zip(users["id"].tolist(), users["uf_department"].tolist()):
        if udeps is not None and not isinstance(udeps, float) and seen & {int(x) for x in udeps}:
            out.add(int(uid))
    return frozenset(out)


def structure_visibility(ds: Dataset, user_id: int, sees: str | None = None) -> Visibility:
    """What ``user_id`` may open by the portal's structure in the store, for a scheduled
    delivery (no viewer token then): ``sees`` (``own`` | ``department`` | ``all``; None = by
    structure, :func:`structure_level`) → the responsible people (:func:`structure_people`) →
    deals and leads they are responsible for (``assigned_by_id``), tasks they are responsible
    for or created (Bitrix24's own "own / department and sub-departments / all" rights).
    The result goes through :func:`restrict` like a viewer's.

    Raises:
        BadParameter("sees", …): not one of :data:`SEES`.
        BadParameter("user", …): ``user_id`` is not a user of the store.
    """
    if sees is not None and sees not in SEES:
        raise BadParameter("sees", sees, f"use one of {', '.join(SEES)}")
    if int(user_id) not in set(ds.frames["users"]["id"].dropna().astype(int).tolist()):
        raise BadParameter("user", user_id, "no such user in the store (run sync first, or check the id)")
    level = sees or structure_level(ds, user_id)
    people = structure_people(ds, user_id, level)
    if people is None:
        return Visibility(int(user_id), True)
    allowed = list(people)

    def ids(table: str, *cols: str) -> frozenset[int]:
        df = ds.frames[table]
        mask = pd.Series(False, index=df.index)
        for c in cols:
            mask |= df[c].isin(allowed).fillna(False).astype(bool)
        return frozenset(int(x) for x in df.loc[mask, "id"].tolist())

    return Visibility(int(user_id), False, ids("deals", "assigned_by_id"), ids("leads", "assigned_by_id"),
                      ids("tasks", "responsible_id", "created_by"))


def fingerprint(vis: Visibility | None) -> str:
    """A short stable digest of ``vis`` ("" for None or everything): part of every result
    and render cache key, so two recipients never share a file."""
    if vis is None or vis.sees_all:
        return ""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(vis.to_json(), sort_keys=True).encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- cache per viewer
def _cache_path(cfg: AppConfig, viewer: Viewer) -> Path:
    import re

    member = re.sub(r"[^A-Za-z0-9]", "", viewer.member_id)[:64] or "portal"
    store = Path(cfg.store)
    return store.with_name(store.name + ".viewers") / f"{member}-{int(viewer.user_id)}.json"


def cached_visibility(cfg: AppConfig, viewer: Viewer, *, max_age: float | None = None) -> Visibility | None:
    """The viewer's kept answer if younger than ``max_age`` s (default ``cfg.visibility_ttl``;
    the kernel passes the session's lifetime), else None."""
    p = _cache_path(cfg, viewer)
    try:
        d = read_secret_json(p)
    except BadParameter:
        return None
    age = time.time() - float(d.get("fetched_at", 0))
    if age > (cfg.visibility_ttl if max_age is None else max_age) or int(d.get("user_id", -1)) != viewer.user_id:
        return None
    return Visibility.from_json(d)


def cache_visibility(cfg: AppConfig, viewer: Viewer, client: B24Client) -> Visibility:
    """The viewer's visibility: the kept one while fresh, else asked (:func:`fetch_visibility`;
    the portal's totals come from the application's token when it can be used) and kept."""
    vis = cached_visibility(cfg, viewer)
    if vis is not None:
        return vis
    full = None
    if not viewer.admin:
        full = _app_counts(cfg)
    vis = fetch_visibility(client, full_counts=full)
    p = _cache_path(cfg, viewer)
    p.parent.mkdir(mode=0o700, exist_ok=True)
    write_secret_json(p, {**vis.to_json(), "fetched_at": time.time()})
    return vis


def _app_counts(cfg: AppConfig) -> dict[str, int] | None:
    """The portal's totals with the application's (admin) token, or None when it cannot be
    used (no client id/secret in the environment, or the portal refused)."""
    from b24reports.ingest.auth import AppToken
    from b24reports.ingest.client import B24Client
    from b24reports.core.errors import B24ReportsError

    try:
        with B24Client(AppToken.load(cfg.tokens_path), max_retries=1, timeout=15) as c:
            return portal_counts(c)
    except B24ReportsError:
        return None


__all__ = ["SEES", "Visibility", "cache_visibility", "cached_visibility", "fetch_visibility", "fingerprint",
           "portal_counts", "restrict", "structure_level", "structure_people", "structure_visibility"]
