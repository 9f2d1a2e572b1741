-- Which reported counts are anomalous against their own five-year history, and how sure are we?
-- No parameters. One row per anomalous observation, newest first.
with baselines as (
    select * from curated.activity_baselines
),

anomalies as (
    select
        facility_id,
        facility_name,
        metric,
        observed_on,
        value,
        prior_n,
        prior_max,
        prior_median,
        ratio_to_prior_max,
        robust_z,
        prior_clear_days,
        source,
        source_url
    from baselines
    where is_anomaly
)

select * from anomalies
order by observed_on desc, facility_id, metric;
