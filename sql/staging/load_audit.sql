-- One row per source file and load window: where every row read went.
-- rows_read = rows_loaded + rows_filtered + rows_quarantined: DuckLake has no CHECK constraint,
-- so assets/core/warehouse.py (check_audit, ParseResult.check_accounting) refuses a row that
-- breaks it before inserting.
-- Key: (table_name, window_start, window_end, source_uri, sha256). DuckLake has no PRIMARY KEY:
-- load_partition deletes the rows with those keys, then inserts, in the writer's transaction.
create schema if not exists staging;
create table if not exists staging.load_audit (
    table_name varchar not null,
    window_start date not null,
    window_end date not null,          -- exclusive
    source_uri varchar not null,
    sha256 varchar not null,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_filtered bigint not null,     -- irrelevant to this table or outside the window
    rows_quarantined bigint not null,
    warnings varchar,
    run_id varchar
);
