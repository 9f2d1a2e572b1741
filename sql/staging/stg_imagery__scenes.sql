-- STAC scenes whose footprint covers at least one facility: one row per (collection, scene_id),
-- whichever folder, bucket or API it came from. Partitioned daily on acquired_on (UTC).
create schema if not exists staging;
create table if not exists staging.stg_imagery__scenes (
    scene_id varchar not null,
    collection varchar not null,
    platform varchar,
    acquired_at timestamptz not null,
    acquired_on date not null,          -- UTC date of acquired_at
    cloud_cover double,                 -- eo:cloud_cover in percent; null when the item has none (radar)
    gsd double,                         -- metres
    footprint_wkt varchar not null,     -- the item's geometry (lon/lat), valid (Multi)Polygon
    bbox double[],                      -- west, south, east, north: always 4 numbers (DuckLake has no fixed-size arrays)
    mgrs_tile varchar,                  -- e.g. 52TFM, when the item tells
    item_href varchar,                  -- the item's self link, else where it was read
    source_uri varchar not null,
    stac_version varchar,
    synthetic boolean not null
);
