-- Where is news attention elevated but nobody has reported a count nearby? Facility-days with
-- attention_z >= $attention_z_min and no reported count (any metric) for that facility within
-- $report_window_days days before or after: a gap to task an analyst with.
-- Parameters: $attention_z_min (double, e.g. 2.0), $report_window_days (integer, e.g. 7).
with attention as (
    select * from curated.news_attention_daily
),

observations as (
    select facility_id, observed_on from curated.observations
),

facilities as (
    select facility_id, name as facility_name from curated.facilities
),

elevated as (
    select *
    from attention
    where attention_z >= $attention_z_min
),

nearest_reports as (
    select
        e.facility_id,
        e.published_on,
        max(o.observed_on) filter (where o.observed_on <= e.published_on) as last_report_on,
        min(o.observed_on) filter (where o.observed_on > e.published_on) as next_report_on
    from elevated as e
    left join observations as o using (facility_id)
    group by e.facility_id, e.published_on
),

gaps as (
    select
        e.facility_id,
        f.facility_name,
        e.published_on,
        e.n_articles,
        e.n_languages,
        e.attention_z,
        e.top_urls,
        r.last_report_on,
        r.next_report_on
    from elevated as e
    inner join nearest_reports as r using (facility_id, published_on)
    left join facilities as f using (facility_id)
    where (r.last_report_on is null
            or r.last_report_on < e.published_on - cast($report_window_days as integer))
        and (r.next_report_on is null
            or r.next_report_on > e.published_on + cast($report_window_days as integer))
)

select * from gaps
order by facility_id, published_on;
