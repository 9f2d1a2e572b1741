-- Rows of staging.stg_news__mentions that could not be loaded: the file, the line (feeds: item index), the raw text and why.
create schema if not exists quarantine;
create table if not exists quarantine.stg_news__mentions (
    source_uri varchar not null,
    sha256 varchar not null,
    line_number bigint not null,  -- 1-based line or item index; 0 when the whole file failed
    raw_line varchar,
    reason varchar not null,
    primary key (source_uri, sha256, line_number)
);
