-- What is anomalous this month? Every alert whose observation falls in the calendar month that
-- contains $month (any date inside the month, e.g. 2023-10-01), most severe and largest first.
-- Parameters: $month (date).
with alerts as (
    select * from curated.alerts
),

this_month as (
    select *
    from alerts
    where observed_on >= cast(date_trunc('month', cast($month as date)) as date)
        and observed_on < cast(date_trunc('month', cast($month as date)) + interval 1 month as date)
)

select
    alert_id,
    facility_id,
    facility_name,
    metric,
    observed_on,
    value,
    prior_max,
    ratio_to_prior_max,
    robust_z,
    severity,
    first_seen_on,
    n_clear_scenes,
    n_articles,
    summary
from this_month
order by severity = 'high' desc, ratio_to_prior_max desc nulls last, facility_id, metric, observed_on;
