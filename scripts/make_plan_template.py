"""Write the Excel plan template ``params/plan_template.xlsx`` (sheet ``plan`` + help).

Usage::

    .venv/bin/python scripts/make_plan_template.py [OUT.xlsx] [--store STORE.duckdb --months 2026-12,2027-01]

Without a store it writes the blank template shipped in ``params/``. With ``--store`` it also
lists the portal's employees and departments on their own sheets and pre-fills one row per
active employee × month (amount 0) to overwrite. The reader is
:func:`b24reports.ingest.plan_file.read_plan`; the writer :func:`b24reports.outputs.plan_template.write_plan_template`.
"""

from __future__ import annotations

from pathlib import Path

import click

from b24reports.outputs.plan_template import write_plan_template

ROOT = Path(__file__).resolve().parents[1]


@click.command()
@click.argument("out", required=False, type=click.Path(dir_okay=False, path_type=Path),
                default=ROOT / "params" / "plan_template.xlsx")
@click.option("--store", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="a b24reports store")
@click.option("--months", default="", help="comma-separated YYYY-MM months to pre-fill (needs --store)")
def main(out: Path, store: Path | None, months: str) -> None:
    """Write the plan template to OUT (default params/plan_template.xlsx)."""
    users = deps = None
    if store is not None:
        from b24reports.ingest.dataset import Dataset

        ds = Dataset.load(store)
        users, deps = ds.users, ds.departments
    month_list = [m.strip() for m in months.split(",") if m.strip()]
    path = write_plan_template(out, users, deps, month_list or None)
    click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
