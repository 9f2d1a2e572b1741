-- Which satellite scenes covered a facility around an observation, and how cloudy were they?
-- Parameters: $facility_id (e.g. 'tumangang'), $observed_on (date, e.g. 2023-10-05),
-- $window_days (e.g. 7: scenes from that many days before to that many days after).
with scene_facilities as (
    select * from staging.stg_imagery__scene_facilities
    where facility_id = $facility_id
),

near as (
    select
        scene_id,
        collection,
        acquired_on,
        cloud_cover,
        overlap_fraction,
        acquired_on - cast($observed_on as date) as days_from_observation
    from scene_facilities
    where acquired_on between cast($observed_on as date) - cast($window_days as integer)
        and cast($observed_on as date) + cast($window_days as integer)
)

select * from near
order by acquired_on, scene_id;
