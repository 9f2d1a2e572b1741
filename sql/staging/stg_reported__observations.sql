-- Reported counts as parsed from the CSV drops under reported/: typed, one row per
-- (facility_id, observed_on, metric, source). Partitioned daily on observed_on.
create schema if not exists staging;
create table if not exists staging.stg_reported__observations (
    facility_id varchar not null,
    observed_on date not null,
    metric varchar not null,
    value double not null,
    source varchar not null,
    source_url varchar not null,
    method varchar not null,
    published_on date,
    confidence varchar,
    imagery_provider varchar,
    notes varchar,
    synthetic boolean not null,
    source_uri varchar not null,
    line_number bigint not null
);
