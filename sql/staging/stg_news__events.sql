-- GDELT 2.0 events whose ActionGeo point lies within the match distance of a facility.
-- Event codes stay text ('042'); *_geo_country_code are FIPS (KN, RS, CH), actor country codes
-- are CAMEO (PRK, RUS, CHN). Partitioned daily on event_on, the UTC date GDELT added the event.
create schema if not exists staging;
create table if not exists staging.stg_news__events (
    global_event_id bigint not null,       -- unique within a window
    event_on date not null,
    date_added_at timestamptz not null,
    event_date date,                       -- SQLDATE: the day the event is said to have happened
    event_code varchar,
    event_base_code varchar,
    event_root_code varchar,
    quad_class integer,
    goldstein_scale double,
    is_root_event boolean,
    actor1_code varchar,
    actor1_name varchar,
    actor1_country_code varchar,           -- CAMEO
    actor2_code varchar,
    actor2_name varchar,
    actor2_country_code varchar,           -- CAMEO
    actor1_geo_country_code varchar,       -- FIPS
    actor2_geo_country_code varchar,       -- FIPS
    action_geo_type integer,
    action_geo_fullname varchar,
    action_geo_country_code varchar,       -- FIPS
    action_geo_adm1_code varchar,
    action_geo_lat double,
    action_geo_lon double,
    action_geo_feature_id varchar,
    num_mentions integer,
    num_sources integer,
    num_articles integer,
    avg_tone double,
    source_url varchar,
    facility_ids varchar[] not null,       -- every facility within the distance, sorted
    nearest_facility_id varchar not null,
    distance_km double not null,           -- to the nearest facility
    source_uri varchar not null,
    line_number bigint not null
);
