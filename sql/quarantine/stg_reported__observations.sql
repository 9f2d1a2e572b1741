-- Rows of staging.stg_reported__observations that could not be loaded: the file, the line, the raw text and why.
-- Key: (source_uri, sha256, line_number). DuckLake has no PRIMARY KEY: load_partition deletes
-- the rows with those keys, then inserts, in the writer's transaction.
create schema if not exists quarantine;
create table if not exists quarantine.stg_reported__observations (
    source_uri varchar not null,
    sha256 varchar not null,
    line_number bigint not null,  -- 1-based; 0 when the whole file failed
    raw_line varchar,
    reason varchar not null,
    window_start date not null,     -- the load window that found it; re-running that window
    window_end date not null        -- (or one holding it) replaces its rows
);
