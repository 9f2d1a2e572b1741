-- Which article concerns which facility, and why: one row per (article, facility, match_kind).
-- match_kind: 'location' (a GKG location within the match distance; distance_km set),
-- 'alias_title', 'alias_url', 'alias_location' (an alias found there; see assets/news/matching.py).
create schema if not exists staging;
create table if not exists staging.stg_news__article_facilities (
    article_id varchar not null,
    facility_id varchar not null,
    published_on date not null,
    match_kind varchar not null,
    matched_text varchar,
    distance_km double
);
