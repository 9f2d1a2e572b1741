-- Each observation against its trailing five-year history of the same facility and metric.
--
-- Baseline window: observations dated in [observed_on - 5 years, observed_on): the day exactly
-- five years back is inside, the observation's own day (any source) is outside.
--
-- Anomaly rule (parameters in brackets, defaults from the README):
--   prior_n >= $min_prior_n (5)
--   and (ratio_to_prior_max >= $ratio_threshold (1.5)
--        or robust_z >= $robust_z_threshold (3.5))
-- ratio_to_prior_max = value / prior_max: "half again over anything seen in five years" is
-- simple to explain and does not depend on the shape of a short, irregular history.
-- robust_z = 0.6745 * (value - prior_median) / prior_mad (Iglewicz and Hoaglin's modified
-- z-score; 3.5 is their cut-off). It catches a jump from a long, stable history even below
-- 1.5x the maximum. It is null when prior_mad = 0 (a flat history): then only the ratio speaks.
-- Fewer than five priors never flag: one earlier sighting is no baseline.
--
-- alert_id (anomalies only): first 16 hex digits of md5(facility_id|metric|observed_on).
--
-- prior_clear_days: days in the same window with at least one clear scene over the facility
-- (curated.imagery_coverage_daily.n_clear > 0): how many chances there were to see more.
create schema if not exists curated;
create or replace table curated.activity_baselines as
with observations as (
    select * from curated.observations
),

coverage as (
    select facility_id, acquired_on from curated.imagery_coverage_daily where n_clear > 0
),

priors as (
    select
        o.observation_id,
        count(p.value) as prior_n,
        max(p.value) as prior_max,
        median(p.value) as prior_median,
        mad(p.value) as prior_mad
    from observations as o
    left join observations as p
        on p.facility_id = o.facility_id
        and p.metric = o.metric
        and p.observed_on >= o.observed_on - interval 5 year
        and p.observed_on < o.observed_on
    group by o.observation_id
),

clear_days as (
    select
        o.observation_id,
        count(distinct c.acquired_on) as prior_clear_days
    from observations as o
    left join coverage as c
        on c.facility_id = o.facility_id
        and c.acquired_on >= o.observed_on - interval 5 year
        and c.acquired_on < o.observed_on
    group by o.observation_id
),

scored as (
    select
        o.observation_id,
        o.facility_id,
        o.facility_name,
        o.metric,
        o.observed_on,
        o.value,
        o.source,
        o.source_url,
        o.synthetic,
        p.prior_n,
        p.prior_max,
        p.prior_median,
        p.prior_mad,
        case when p.prior_max > 0 then round(o.value / p.prior_max, 4) end as ratio_to_prior_max,
        case when p.prior_mad > 0
            then round(0.6745 * (o.value - p.prior_median) / p.prior_mad, 4)
        end as robust_z,
        c.prior_clear_days
    from observations as o
    inner join priors as p using (observation_id)
    inner join clear_days as c using (observation_id)
),

flagged as (
    select
        *,
        coalesce(
            prior_n >= $min_prior_n
            and (ratio_to_prior_max >= $ratio_threshold or robust_z >= $robust_z_threshold),
            false
        ) as is_anomaly
    from scored
),

final as (
    select
        *,
        -- The alert an anomaly belongs to: one per facility, metric and day (several sources
        -- reporting the same count share it). Derived from the data only, so it is stable
        -- across rebuilds; curated.evidence and curated.alerts take it from here.
        case when is_anomaly then
            substr(md5(facility_id || '|' || metric || '|' || cast(observed_on as varchar)), 1, 16)
        end as alert_id
    from flagged
)

select * from final
order by facility_id, metric, observed_on, source;
