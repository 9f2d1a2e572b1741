-- Which facility areas each staged scene covers: one row per scene and facility whose area of
-- interest its footprint (the polygon, not the bbox) intersects. Partitioned daily on acquired_on.
create schema if not exists staging;
create table if not exists staging.stg_imagery__scene_facilities (
    scene_id varchar not null,
    collection varchar not null,
    facility_id varchar not null,
    acquired_on date not null,
    acquired_at timestamptz not null,
    cloud_cover double,
    overlap_fraction double not null    -- share of the facility's area inside the footprint, 0-1
);
