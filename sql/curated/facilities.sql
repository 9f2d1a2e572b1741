-- The facilities gazetteer (data/reference/facilities.csv, checked and enriched in Python and
-- registered as _facilities). One row per facility.
create schema if not exists curated;
create or replace table curated.facilities as
with source as (
    select * from _facilities
),

final as (
    select
        facility_id,
        name,
        kind,
        country,
        counterpart_country,
        lat,
        lon,
        aoi_radius_m,
        aliases,
        ambiguous_aliases,
        crossing_id,
        mgrs_tiles,
        notes,
        aoi_wkt
    from source
)

select * from final
order by facility_id;
