-- The raw zone's manifest: one row per source file version fetched, the bytes kept under
-- raw/<sha256[:2]>/<sha256>. fetched_at is when it was fetched (operational metadata: curated
-- tables never read it).
-- Key: (source_uri, sha256). DuckLake has no PRIMARY KEY: record_raw inserts only a missing key.
create schema if not exists raw;
create table if not exists raw.manifest (
    source_uri varchar not null,
    source_key varchar not null,
    sha256 varchar not null,
    bytes bigint not null,
    fetched_at timestamptz not null,
    etag varchar
);
