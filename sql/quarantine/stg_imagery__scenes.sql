-- STAC items (or whole documents, line_number 0) that could not be staged: the file, the item's
-- 1-based index in the document, the item JSON (truncated) and why.
-- Key: (source_uri, sha256, line_number). DuckLake has no PRIMARY KEY: load_partition deletes
-- the rows with those keys, then inserts, in the writer's transaction.
create schema if not exists quarantine;
create table if not exists quarantine.stg_imagery__scenes (
    source_uri varchar not null,
    sha256 varchar not null,
    line_number bigint not null,  -- 1-based item index; 0 when the whole document failed
    raw_line varchar,
    reason varchar not null,
    window_start date not null,     -- the load window that found it; re-running that window
    window_end date not null        -- (or one holding it) replaces its rows
);
