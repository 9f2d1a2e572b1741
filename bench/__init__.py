"""borderwatch benchmarks: `uv run python -m bench` prints one table of medians (see bench/RESULTS.md).

Modules: common (machine, measured subprocesses, the table), gdelt_data (a GDELT-scale day,
generated and cached under bench/out/), gdelt_ingest (the project's ingest, the floor, plain
pandas), graph (the Dagster graph over day ranges), queries (sql/queries on the demo warehouse),
eventlog_backfill (the Dagster bookkeeping experiment, standalone).
"""
