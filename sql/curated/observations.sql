-- Every reported count, normalised, with its provenance. observation_id is derived from the
-- natural key, so it is stable across rebuilds.
create schema if not exists curated;
create or replace table curated.observations as
with staged as (
    select * from staging.stg_reported__observations
),

facilities as (
    select facility_id, name as facility_name, crossing_id from curated.facilities
),

final as (
    select
        substr(md5(concat_ws('|', s.facility_id, s.observed_on, s.metric, s.source)), 1, 16)
            as observation_id,
        s.facility_id,
        f.facility_name,
        f.crossing_id,
        s.observed_on,
        s.metric,
        s.value,
        s.source,
        s.source_url,
        s.method,
        s.published_on,
        s.confidence,
        s.imagery_provider,
        s.notes,
        s.synthetic,
        s.source_uri,
        s.line_number
    from staged as s
    inner join facilities as f using (facility_id)
)

select * from final
order by facility_id, metric, observed_on, source;
