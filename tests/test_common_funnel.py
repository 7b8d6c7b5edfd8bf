"""facts.reached_index (vectorized for the funnel's 100k-deal target): edge cases, by hand."""

import pandas as pd

from b24reports.ingest.dataset import Dataset
from b24reports.metrics import common as c
from b24reports.metrics.facts import deal_facts, reached_index

from test_common import CUR, STATUSES


def test_reached_index_uses_current_pipeline_and_keeps_index():
    deals = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "category_id": [1, 0, 1],
            "stage_id": ["C1:NEW", "OLD", "C1:WON"],
            "stage_semantic_id": ["P", "P", "S"],
            "date_create": ["2026-01-01T10:00:00+03:00"] * 3,
        }
    )
    hist = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "owner_id": [1, 1, 1, 2],
            # deal 1 went NEW -> PREP in pipeline 0, then moved to pipeline 1 (C1:NEW): its pipeline 0
            # stages are not on pipeline 1's path, so it reached C1:NEW only (index 0).
            # deal 2's record after as_of is ignored; its stage OLD is unknown: nothing reached (-1)
            "stage_id": ["NEW", "PREP", "C1:NEW", "INVOICE"],
            "stage_semantic_id": ["P", "P", "P", "P"],
            "created_time": ["2026-01-01T10:00:00+03:00", "2026-01-02T10:00:00+03:00", "2026-01-03T10:00:00+03:00",
                             "2026-03-01T10:00:00+03:00"],
        }
    )
    ds = Dataset.from_frames(deals=deals, deal_stage_history=hist, statuses=STATUSES, currencies=CUR, timezone="+03:00")
    as_of = pd.Timestamp("2026-02-01T00:00:00+03:00")
    f, _ = deal_facts(ds, as_of)
    f.index = [10, 11, 12]
    r = reached_index(f, ds.deal_stage_history, c.stage_order(ds.statuses), as_of)
    # deal 3 won in pipeline 1: its S stage C1:WON has path index 1
    assert r.index.tolist() == [10, 11, 12]
    assert r.tolist() == [0, -1, 1]


def test_deal_url_keeps_index_and_missing_ids():
    urls = c.deal_url("https://portal.example.ru/", pd.Series([5, None], dtype="Int64", index=[7, 8]))
    assert urls.to_dict() == {7: "https://portal.example.ru/crm/deal/details/5/", 8: None}
