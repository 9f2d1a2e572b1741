-- GDELT 2.0 mentions that concern a facility: the mentioning document is a staged article, or
-- the mentioned event is a staged event. Partitioned daily on mention_on (UTC).
create schema if not exists staging;
create table if not exists staging.stg_news__mentions (
    global_event_id bigint not null,
    mention_identifier varchar not null,
    mention_on date not null,
    mention_at timestamptz not null,
    event_at timestamptz,
    mention_type integer,
    mention_source_name varchar,
    sentence_id integer,
    confidence integer,
    mention_doc_len integer,
    mention_doc_tone double,
    language varchar,                      -- ISO 639-1
    translated boolean not null,
    article_id varchar,                    -- set when the document is a staged article
    facility_ids varchar[] not null,
    source_uri varchar not null,
    line_number bigint not null
);
