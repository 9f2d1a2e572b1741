-- News articles that concern at least one facility, from GDELT GKG rows and RSS/Atom items:
-- one row per article_id (a hash of the normalised URL). Partitioned daily on published_on.
create schema if not exists staging;
create table if not exists staging.stg_news__articles (
    article_id varchar not null,           -- unique (checked by the suite, not a key: windows reload)
    document_url varchar not null,
    source_name varchar,
    published_at timestamptz not null,
    published_on date not null,            -- UTC date of published_at
    language varchar,                      -- ISO 639-1 (GDELT's translation info or the feed's)
    title varchar,
    tone double,                           -- GDELT V2Tone's first number (-100..100); null for feeds
    themes varchar[],
    translated boolean not null,           -- from GDELT's translingual stream
    record_id varchar,                     -- GKG record id (…-T<n> when translated) or feed guid
    source_kind varchar not null,          -- 'gdelt_gkg' | 'feed'
    source_uri varchar not null,
    synthetic boolean not null
);
