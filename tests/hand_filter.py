"""A viewer's or recipient's records filtered by hand from the demo's structure (the demo's
rights: own / department and sub-departments / all), not through ``ingest.visibility``: the
reference the app-mode browser tests and the per-recipient schedule test compare against."""

from __future__ import annotations

from pathlib import Path


def hand_dataset(store: Path, users: set[int] | None, viewer: int | None = None):
    """The store's dataset with only the records a viewer at that level may open, filtered
    directly by responsible (the demo's rights): deals and leads by owner, their history, tasks
    by responsible or creator, activities on those deals and leads or of the ``viewer``, calls
    of those activities or of the ``viewer``."""
    from b24reports.ingest.dataset import Dataset

    ds = Dataset.load(store)
    if users is None:
        return ds
    f = dict(ds.frames)
    deals = f["deals"][f["deals"]["assigned_by_id"].isin(list(users))]
    leads = f["leads"][f["leads"]["assigned_by_id"].isin(list(users))]
    d_ids, l_ids = set(deals["id"].astype(int)), set(leads["id"].astype(int))
    f["deals"], f["leads"] = deals, leads
    f["deal_stage_history"] = f["deal_stage_history"][f["deal_stage_history"]["owner_id"].isin(list(d_ids))]
    f["lead_status_history"] = f["lead_status_history"][f["lead_status_history"]["owner_id"].isin(list(l_ids))]
    f["deal_versions"] = f["deal_versions"][f["deal_versions"]["id"].isin(list(d_ids))]
    a = f["activities"]
    f["activities"] = a[((a["owner_type_id"] == 2) & a["owner_id"].isin(list(d_ids)))
                        | ((a["owner_type_id"] == 1) & a["owner_id"].isin(list(l_ids))) | (a["responsible_id"] == viewer)]
    t = f["tasks"]
    f["tasks"] = t[t["responsible_id"].isin(list(users)) | t["created_by"].isin(list(users))]
    c = f["calls"]
    f["calls"] = c[c["crm_activity_id"].isin(f["activities"]["id"].tolist()) | (c["portal_user_id"] == viewer)]
    return Dataset(frames={k: v.reset_index(drop=True) for k, v in f.items()}, portal=ds.portal, timezone=ds.timezone,
                   base_currency=ds.base_currency, telephony=ds.telephony)
