-- One facility's history of a metric against its trailing baseline.
-- Parameters: $facility_id (e.g. 'tumangang'), $metric (e.g. 'railcars').
with baselines as (
    select * from curated.activity_baselines
    where facility_id = $facility_id and metric = $metric
),

history as (
    select
        observed_on,
        value,
        prior_n,
        prior_max,
        prior_median,
        ratio_to_prior_max,
        robust_z,
        prior_clear_days,
        is_anomaly,
        synthetic,
        source
    from baselines
)

select * from history
order by observed_on, source;
