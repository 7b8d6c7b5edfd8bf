"""The local store's typed tables: the contract between sync (writer) and metrics (reader).

Every Bitrix24 payload is normalised once (staging, see ``b24reports.ingest.staging``) into these
tables; metrics read only these, never raw payloads. Column names are the Bitrix24 field
names in snake_case (``ASSIGNED_BY_ID`` -> ``assigned_by_id``), so the edge stays
recognisable. Types:

* ids of Bitrix24 entities: ``BIGINT``; stage/status/source codes: ``VARCHAR``;
* money: ``DECIMAL(18, 2)`` in the row's own currency (``currency_id``);
* Y/N flags: ``BOOLEAN``;
* datetimes: ``TIMESTAMPTZ`` (an instant; the portal's UTC offset is kept in
  ``portal_info`` key ``timezone`` and reapplied on load);
* date-only fields (``CLOSEDATE``, ``BEGINDATE``): ``DATE`` -- the calendar date as the
  portal shows it, never shifted.

Tables with a ``PRIMARY KEY`` are upserted by id. ``deal_versions`` keeps every version of a
deal that a sync saw (slowly changing dimension, type 2).
"""

from __future__ import annotations

#: Entity tables filled by sync, in dependency-free order. name -> DDL column list.
TABLES: dict[str, str] = {
    "deals": """
        id BIGINT PRIMARY KEY,
        title VARCHAR,
        type_id VARCHAR,
        category_id BIGINT,            -- pipeline id; 0 = default pipeline
        stage_id VARCHAR,
        stage_semantic_id VARCHAR,     -- 'P' open, 'S' won, 'F' lost (NULL -> open)
        opportunity DECIMAL(18, 2),    -- NULL when the portal sent "" (warned)
        currency_id VARCHAR,
        probability INTEGER,
        assigned_by_id BIGINT,
        created_by_id BIGINT,
        date_create TIMESTAMPTZ,
        date_modify TIMESTAMPTZ,
        moved_time TIMESTAMPTZ,
        begindate DATE,
        closedate DATE,
        closed BOOLEAN,
        lead_id BIGINT,
        company_id BIGINT,
        contact_id BIGINT,
        source_id VARCHAR,
        utm_source VARCHAR,
        utm_medium VARCHAR,
        utm_campaign VARCHAR,
        utm_content VARCHAR,
        utm_term VARCHAR,
        is_return_customer BOOLEAN,
        last_activity_time TIMESTAMPTZ
    """,
    "leads": """
        id BIGINT PRIMARY KEY,
        title VARCHAR,
        name VARCHAR,
        last_name VARCHAR,
        company_title VARCHAR,
        status_id VARCHAR,
        status_semantic_id VARCHAR,    -- 'S' converted, 'F' junk, else in work
        source_id VARCHAR,             -- NULL when empty ("not set")
        source_description VARCHAR,
        opportunity DECIMAL(18, 2),
        currency_id VARCHAR,
        assigned_by_id BIGINT,
        created_by_id BIGINT,
        date_create TIMESTAMPTZ,
        date_modify TIMESTAMPTZ,
        date_closed TIMESTAMPTZ,
        moved_time TIMESTAMPTZ,
        company_id BIGINT,
        contact_id BIGINT,
        utm_source VARCHAR,
        utm_medium VARCHAR,
        utm_campaign VARCHAR,
        utm_content VARCHAR,
        utm_term VARCHAR,
        is_return_customer BOOLEAN
    """,
    # crm.stagehistory.list entityTypeId=2; append-only by id.
    "deal_stage_history": """
        id BIGINT PRIMARY KEY,
        type_id INTEGER,               -- 1 created, 2 intermediate, 3 final, 5 pipeline changed
        owner_id BIGINT,               -- deal id
        created_time TIMESTAMPTZ,
        category_id BIGINT,
        stage_id VARCHAR,
        stage_semantic_id VARCHAR
    """,
    # crm.stagehistory.list entityTypeId=1; append-only by id.
    "lead_status_history": """
        id BIGINT PRIMARY KEY,
        type_id INTEGER,
        owner_id BIGINT,               -- lead id
        created_time TIMESTAMPTZ,
        status_id VARCHAR,
        status_semantic_id VARCHAR
    """,
    # crm.activity.list
    "activities": """
        id BIGINT PRIMARY KEY,
        owner_type_id INTEGER,         -- 1 lead, 2 deal, 3 contact, 4 company
        owner_id BIGINT,
        type_id INTEGER,               -- 1 meeting, 2 call, 3 task, 4 email, 5 calendar, 6 provider
        provider_id VARCHAR,
        provider_type_id VARCHAR,
        subject VARCHAR,
        direction INTEGER,             -- 1 incoming, 2 outgoing, 0 n/a
        completed BOOLEAN,
        status INTEGER,
        responsible_id BIGINT,
        author_id BIGINT,
        created TIMESTAMPTZ,
        last_updated TIMESTAMPTZ,
        start_time TIMESTAMPTZ,
        end_time TIMESTAMPTZ,
        deadline TIMESTAMPTZ,
        origin_id VARCHAR
    """,
    # voximplant.statistic.get (needs the telephony scope); append-only by id.
    "calls": """
        id BIGINT PRIMARY KEY,
        call_id VARCHAR,
        portal_user_id BIGINT,
        call_type INTEGER,             -- 1 outgoing, 2 incoming, 3 redirected, 4 callback, 5 info
        call_duration INTEGER,         -- seconds
        call_start_date TIMESTAMPTZ,
        call_failed_code VARCHAR,
        crm_entity_type VARCHAR,
        crm_entity_id BIGINT,
        crm_activity_id BIGINT
    """,
    # tasks.task.list
    "tasks": """
        id BIGINT PRIMARY KEY,
        title VARCHAR,
        status INTEGER,                -- 2 pending, 3 in progress, 4 awaiting control, 5 completed, 6 deferred, 7 declined
        responsible_id BIGINT,
        created_by BIGINT,
        closed_by BIGINT,
        group_id BIGINT,               -- 0/NULL = no project
        created_date TIMESTAMPTZ,
        changed_date TIMESTAMPTZ,
        closed_date TIMESTAMPTZ,
        date_start TIMESTAMPTZ,
        deadline TIMESTAMPTZ,
        start_date_plan TIMESTAMPTZ,
        end_date_plan TIMESTAMPTZ
    """,
    # user.get (inactive users too)
    "users": """
        id BIGINT PRIMARY KEY,
        active BOOLEAN,
        name VARCHAR,
        last_name VARCHAR,
        second_name VARCHAR,
        email VARCHAR,
        work_position VARCHAR,
        uf_department BIGINT[],
        user_type VARCHAR
    """,
    # department.get
    "departments": """
        id BIGINT PRIMARY KEY,
        name VARCHAR,
        sort INTEGER,
        parent BIGINT,                 -- NULL for the root
        uf_head BIGINT
    """,
    # sonet_group.get (task projects); optional scope
    "workgroups": """
        id BIGINT PRIMARY KEY,
        name VARCHAR
    """,
    # crm.category.list entityTypeId=2 (deal pipelines)
    "pipelines": """
        id BIGINT PRIMARY KEY,
        name VARCHAR,
        sort INTEGER,
        is_default BOOLEAN
    """,
    # crm.status.list: DEAL_STAGE, DEAL_STAGE_{n}, STATUS (lead statuses), SOURCE, ...
    "statuses": """
        entity_id VARCHAR,
        status_id VARCHAR,
        name VARCHAR,
        sort INTEGER,
        semantics VARCHAR,             -- 'P' process, 'S' success, 'F' failure
        category_id BIGINT,            -- pipeline for DEAL_STAGE*, NULL otherwise
        PRIMARY KEY (entity_id, status_id)
    """,
    # crm.currency.list
    "currencies": """
        currency VARCHAR PRIMARY KEY,
        amount_cnt INTEGER,
        amount DECIMAL(18, 6),         -- AMOUNT base-currency units per AMOUNT_CNT units
        base BOOLEAN,
        sort INTEGER
    """,
}

#: Bookkeeping tables (not entities).
META_TABLES: dict[str, str] = {
    # key/value facts about the portal: 'portal' (scheme://host, never the webhook path),
    # 'timezone' (e.g. '+03:00'), 'base_currency', 'telephony' ('yes'/'no').
    "portal_info": """
        key VARCHAR PRIMARY KEY,
        value VARCHAR
    """,
    # per-entity incremental sync state
    "sync_state": """
        entity VARCHAR PRIMARY KEY,
        watermark TIMESTAMPTZ,         -- max modified time seen in the last complete pass
        last_id BIGINT,                -- append-only entities: max id stored
        last_full_at TIMESTAMPTZ,      -- last full (deletion-catching) pass
        updated_at TIMESTAMPTZ
    """,
    "sync_runs": """
        run_id BIGINT PRIMARY KEY,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        status VARCHAR,                -- 'running', 'ok', 'incomplete' (a pass not shown complete), 'failed'
        mode VARCHAR,                  -- 'full' or 'incremental'
        requests INTEGER,
        rows JSON,                     -- {"deals": 123, ...} rows written per entity
        warnings JSON,                 -- ["...", ...]
        error VARCHAR
    """,
    # every version of a deal a sync saw (SCD type 2): same columns as deals plus validity
    "deal_versions": """
        id BIGINT,
        valid_from TIMESTAMPTZ,        -- DATE_MODIFY of this version
        valid_to TIMESTAMPTZ,          -- DATE_MODIFY of the next version; NULL = current
        seen_at TIMESTAMPTZ,           -- when a sync first saw it
        stage_id VARCHAR,
        stage_semantic_id VARCHAR,
        category_id BIGINT,
        opportunity DECIMAL(18, 2),
        currency_id VARCHAR,
        assigned_by_id BIGINT,
        closedate DATE,
        PRIMARY KEY (id, valid_from)
    """,
}

ALL_TABLES: dict[str, str] = {**TABLES, **META_TABLES}


def ddl(table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` statement for one table of :data:`ALL_TABLES`."""
    return f"CREATE TABLE IF NOT EXISTS {table} ({ALL_TABLES[table]})"
