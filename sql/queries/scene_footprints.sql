-- The footprints of the scenes covering each facility (what `borderwatch export --geojson` and
-- the report's maps draw): one row per scene and facility, with the share of the facility's
-- area inside the footprint.
with scene_facilities as (
    select * from staging.stg_imagery__scene_facilities
),

scenes as (
    select collection, scene_id, footprint_wkt from staging.stg_imagery__scenes
),

final as (
    select
        sf.facility_id,
        sf.scene_id,
        sf.collection,
        sf.acquired_on,
        sf.cloud_cover,
        sf.overlap_fraction,
        s.footprint_wkt
    from scene_facilities as sf
    inner join scenes as s using (collection, scene_id)
)

select * from final
order by facility_id, acquired_on, scene_id;
