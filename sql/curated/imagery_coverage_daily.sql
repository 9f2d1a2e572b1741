-- How often each facility could be seen: one row per facility and UTC day with at least one
-- scene whose footprint intersects the facility's area (staging.stg_imagery__scene_facilities).
-- n_clear counts scenes with cloud_cover <= $clear_cloud_max (percent; 20 by default); unknown
-- cloud cover (radar) is a scene but never clear. scene_ids is sorted.
-- Parameters: $clear_cloud_max.
create schema if not exists curated;
create or replace table curated.imagery_coverage_daily as
with scene_facilities as (
    select * from staging.stg_imagery__scene_facilities
),

scenes as (
    select distinct
        facility_id,
        acquired_on,
        collection,
        scene_id,
        cloud_cover,
        coalesce(cloud_cover <= cast($clear_cloud_max as double), false) as is_clear
    from scene_facilities
),

daily as (
    select
        facility_id,
        acquired_on,
        count(*) as n_scenes,
        count(*) filter (where is_clear) as n_clear,
        min(cloud_cover) as best_cloud_cover,
        list_sort(list_distinct(list(scene_id))) as scene_ids
    from scenes
    group by facility_id, acquired_on
),

final as (
    select
        facility_id,
        acquired_on,
        cast(n_scenes as bigint) as n_scenes,
        cast(n_clear as bigint) as n_clear,
        best_cloud_cover,
        cast(scene_ids as varchar[]) as scene_ids
    from daily
)

select * from final
order by facility_id, acquired_on;
