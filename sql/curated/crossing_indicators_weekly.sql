-- One row per facility and ISO week (week_start = the Monday; iso_year, iso_week), for every week
-- from the facility's first to its last data point of any source (reported count, scene or
-- article), so empty weeks show up as 'no_data' instead of disappearing.
--
-- Reported counts: the main metric is pivoted into columns (railcars_latest, railcars_max,
-- railcars_prior_max, railcars_ratio_to_prior_max); every metric, railcars included, is also in
-- `metrics`, a list of structs sorted by metric:
--   {metric, n_observations, latest_value, latest_observed_on, max_value, prior_max,
--    ratio_to_prior_max, is_anomaly}
-- e.g. `select week_start, m.metric, m.max_value from curated.crossing_indicators_weekly,
--       unnest(metrics) as t(m)`.
-- latest = the value on the week's last observed_on (the larger value when two sources report
-- that day); prior_max = the trailing five-year maximum of that latest observation (from
-- curated.activity_baselines); ratio_to_prior_max = the week's largest ratio; is_anomaly = any
-- observation of the metric that week is flagged. max_ratio_to_prior_max: the week's largest
-- ratio over all metrics, among observations with at least $min_prior_n earlier ones.
-- Imagery: n_scenes (scenes over the facility), n_clear_days (days with at least one clear
-- scene) from curated.imagery_coverage_daily. News: n_articles and max_attention_z from
-- curated.news_attention_daily.
--
-- status, first rule that holds wins:
--   'anomalous' any observation of any metric that week has is_anomaly;
--   'elevated'  max_ratio_to_prior_max >= $ratio_elevated (1.0: a new five-year maximum; only
--               observations with prior_n >= $min_prior_n (5) count, as a "new maximum" over two
--               earlier sightings means nothing)
--               or max_attention_z >= $attention_z_elevated (2.0: news attention well above the
--               facility's trailing 90 days);
--   'no_data'   no observation, no scene and no article that week;
--   'normal'    otherwise (something was seen and nothing stood out).
create schema if not exists curated;
create or replace table curated.crossing_indicators_weekly as
with facilities as (
    select facility_id, name as facility_name, crossing_id from curated.facilities
),

observations as (
    select facility_id, metric, observed_on, value, source from curated.observations
),

baselines as (
    select
        facility_id, metric, observed_on, source, prior_n, prior_max, ratio_to_prior_max, is_anomaly
    from curated.activity_baselines
),

coverage as (
    select facility_id, acquired_on, n_scenes, n_clear from curated.imagery_coverage_daily
),

attention as (
    select facility_id, published_on, n_articles, attention_z from curated.news_attention_daily
),

scored_observations as (
    select
        o.facility_id,
        o.metric,
        o.observed_on,
        o.value,
        o.source,
        b.prior_max,
        b.ratio_to_prior_max,
        case when b.prior_n >= $min_prior_n then b.ratio_to_prior_max end as trusted_ratio,
        coalesce(b.is_anomaly, false) as is_anomaly,
        cast(date_trunc('week', o.observed_on) as date) as week_start
    from observations as o
    left join baselines as b using (facility_id, metric, observed_on, source)
),

data_days as (
    select facility_id, observed_on as day from observations
    union all
    select facility_id, acquired_on from coverage
    union all
    select facility_id, published_on from attention
),

facility_spans as (
    select
        facility_id,
        cast(date_trunc('week', min(day)) as date) as first_week,
        cast(date_trunc('week', max(day)) as date) as last_week
    from data_days
    group by facility_id
),

weeks as (
    select
        s.facility_id,
        cast(w.week_start as date) as week_start
    from facility_spans as s,
        unnest(generate_series(
            cast(s.first_week as timestamp), cast(s.last_week as timestamp), interval 7 day
        )) as w(week_start)
),

metric_weeks as (
    select
        facility_id,
        week_start,
        metric,
        count(*) as n_observations,
        first(value order by observed_on desc, value desc, source) as latest_value,
        max(observed_on) as latest_observed_on,
        max(value) as max_value,
        first(prior_max order by observed_on desc, value desc, source) as prior_max,
        max(ratio_to_prior_max) as ratio_to_prior_max,
        max(trusted_ratio) as trusted_ratio,
        bool_or(is_anomaly) as is_anomaly
    from scored_observations
    group by facility_id, week_start, metric
),

observation_weeks as (
    select
        facility_id,
        week_start,
        sum(n_observations) as n_observations,
        max(latest_value) filter (where metric = 'railcars') as railcars_latest,
        max(max_value) filter (where metric = 'railcars') as railcars_max,
        max(prior_max) filter (where metric = 'railcars') as railcars_prior_max,
        max(ratio_to_prior_max) filter (where metric = 'railcars') as railcars_ratio_to_prior_max,
        max(trusted_ratio) as max_ratio_to_prior_max,
        bool_or(is_anomaly) as is_anomaly,
        list(metric order by metric) filter (where is_anomaly) as anomalous_metrics,
        list(
            {
                'metric': metric,
                'n_observations': n_observations,
                'latest_value': latest_value,
                'latest_observed_on': latest_observed_on,
                'max_value': max_value,
                'prior_max': prior_max,
                'ratio_to_prior_max': ratio_to_prior_max,
                'is_anomaly': is_anomaly
            }
            order by metric
        ) as metrics
    from metric_weeks
    group by facility_id, week_start
),

imagery_weeks as (
    select
        facility_id,
        cast(date_trunc('week', acquired_on) as date) as week_start,
        sum(n_scenes) as n_scenes,
        count(*) filter (where n_clear > 0) as n_clear_days
    from coverage
    group by all
),

news_weeks as (
    select
        facility_id,
        cast(date_trunc('week', published_on) as date) as week_start,
        sum(n_articles) as n_articles,
        max(attention_z) as max_attention_z
    from attention
    group by all
),

joined as (
    select
        w.facility_id,
        f.facility_name,
        f.crossing_id,
        w.week_start,
        cast(isoyear(w.week_start) as integer) as iso_year,
        cast(weekofyear(w.week_start) as integer) as iso_week,
        cast(coalesce(o.n_observations, 0) as bigint) as n_observations,
        o.railcars_latest,
        o.railcars_max,
        o.railcars_prior_max,
        o.railcars_ratio_to_prior_max,
        o.max_ratio_to_prior_max,
        coalesce(o.is_anomaly, false) as is_anomaly,
        coalesce(o.anomalous_metrics, []) as anomalous_metrics,
        coalesce(o.metrics, []) as metrics,
        cast(coalesce(i.n_scenes, 0) as bigint) as n_scenes,
        cast(coalesce(i.n_clear_days, 0) as bigint) as n_clear_days,
        cast(coalesce(n.n_articles, 0) as bigint) as n_articles,
        n.max_attention_z
    from weeks as w
    left join facilities as f using (facility_id)
    left join observation_weeks as o using (facility_id, week_start)
    left join imagery_weeks as i using (facility_id, week_start)
    left join news_weeks as n using (facility_id, week_start)
),

final as (
    select
        *,
        case
            when is_anomaly then 'anomalous'
            when max_ratio_to_prior_max >= $ratio_elevated
                or max_attention_z >= $attention_z_elevated then 'elevated'
            when n_observations = 0 and n_scenes = 0 and n_articles = 0 then 'no_data'
            else 'normal'
        end as status
    from joined
)

select * from final
order by facility_id, week_start;
