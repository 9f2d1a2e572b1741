-- One row per anomaly: a (facility_id, metric, observed_on) with at least one anomalous
-- observation in curated.activity_baselines, with its evidence counted from curated.evidence
-- (build that first). alert_id comes from curated.activity_baselines, where it is computed once.
--
-- value, ratio_to_prior_max, robust_z: the largest over the anomalous reports of that day;
-- prior_n, prior_max, prior_median: the trailing five-year baseline (the same for every report
-- of one day, since the baseline window ends the day before).
-- severity: 'high' when ratio_to_prior_max >= $high_ratio (3: three times anything seen in five
-- years) or robust_z >= $high_robust_z (7: twice the usual 3.5 cut-off); otherwise 'medium'.
-- first_seen_on: the earliest published_on of the reports of that day, else observed_on (a data
-- date: when the outside world could first have known, never the time of this build).
-- n_scenes / n_clear_scenes: scenes within $scene_window_days of observed_on (clear: cloud cover
-- <= the clear_cloud_max the evidence was built with); n_articles / n_languages: matched articles from
-- observed_on to observed_on + the article window (facility or crossing partner).
-- summary: one plain line, e.g. "Tumangang rail facility: 73 railcars on 2023-10-05, 3.7× the
-- five-year maximum of 20; 2 clear scenes within 7 days; 6 articles in 3 languages" ("no matched
-- articles" when there are none; a robust z against the median when there is no maximum). Whole
-- numbers print without decimals, other values with at most 1 (ratio, z) or 2 decimals.
create schema if not exists curated;
create or replace table curated.alerts as
with baselines as (
    select * from curated.activity_baselines
),

observations as (
    select * from curated.observations
),

facilities as (
    select facility_id, name as facility_name, crossing_id from curated.facilities
),

evidence as (
    select * from curated.evidence
),

anomalies as (
    select
        alert_id,
        facility_id,
        metric,
        observed_on,
        max(value) as value,
        max(prior_n) as prior_n,
        max(prior_max) as prior_max,
        max(prior_median) as prior_median,
        max(ratio_to_prior_max) as ratio_to_prior_max,
        max(robust_z) as robust_z,
        bool_and(synthetic) as synthetic
    from baselines
    where is_anomaly
    group by alert_id, facility_id, metric, observed_on
),

reports as (
    select
        a.alert_id,
        count(*) as n_reports,
        min(o.published_on) as first_published_on,
        list(distinct o.source order by o.source) as sources
    from anomalies as a
    inner join observations as o using (facility_id, metric, observed_on)
    group by a.alert_id
),

evidence_counts as (
    select
        alert_id,
        count(*) filter (where evidence_kind = 'scene') as n_scenes,
        count(*) filter (where evidence_kind = 'scene' and is_clear) as n_clear_scenes,
        count(*) filter (where evidence_kind = 'article') as n_articles,
        count(distinct language) filter (where evidence_kind = 'article') as n_languages
    from evidence
    group by alert_id
),

scored as (
    select
        a.alert_id,
        a.facility_id,
        coalesce(f.facility_name, a.facility_id) as facility_name,
        f.crossing_id,
        a.metric,
        a.observed_on,
        a.value,
        a.prior_n,
        a.prior_max,
        a.prior_median,
        a.ratio_to_prior_max,
        a.robust_z,
        case
            when a.ratio_to_prior_max >= $high_ratio or a.robust_z >= $high_robust_z then 'high'
            else 'medium'
        end as severity,
        coalesce(r.first_published_on, a.observed_on) as first_seen_on,
        cast(coalesce(r.n_reports, 0) as bigint) as n_reports,
        coalesce(r.sources, []) as sources,
        cast(coalesce(e.n_scenes, 0) as bigint) as n_scenes,
        cast(coalesce(e.n_clear_scenes, 0) as bigint) as n_clear_scenes,
        cast(coalesce(e.n_articles, 0) as bigint) as n_articles,
        cast(coalesce(e.n_languages, 0) as bigint) as n_languages,
        a.synthetic
    from anomalies as a
    left join facilities as f using (facility_id)
    left join reports as r using (alert_id)
    left join evidence_counts as e using (alert_id)
),

formatted as (
    select
        *,
        case when value = trunc(value) then cast(cast(value as bigint) as varchar)
            else cast(cast(round(cast(value as decimal(18, 4)), 2) as double) as varchar)
        end as value_text,
        case when prior_max = trunc(prior_max) then cast(cast(prior_max as bigint) as varchar)
            else cast(cast(round(cast(prior_max as decimal(18, 4)), 2) as double) as varchar)
        end as prior_max_text,
        case when prior_median = trunc(prior_median)
            then cast(cast(prior_median as bigint) as varchar)
            else cast(cast(round(cast(prior_median as decimal(18, 4)), 2) as double) as varchar)
        end as prior_median_text,
        cast(round(cast(ratio_to_prior_max as decimal(18, 4)), 1) as varchar) as ratio_text,
        cast(round(cast(robust_z as decimal(18, 4)), 1) as varchar) as robust_z_text
    from scored
),

final as (
    select
        alert_id,
        facility_id,
        facility_name,
        crossing_id,
        metric,
        observed_on,
        value,
        prior_n,
        prior_max,
        prior_median,
        ratio_to_prior_max,
        robust_z,
        severity,
        first_seen_on,
        n_reports,
        sources,
        n_scenes,
        n_clear_scenes,
        n_articles,
        n_languages,
        synthetic,
        facility_name || ': ' || value_text || ' ' || metric
            || ' on ' || strftime(observed_on, '%Y-%m-%d')
            || case
                when ratio_text is not null
                    then ', ' || ratio_text || '× the five-year maximum of ' || prior_max_text
                when robust_z_text is not null
                    then ', robust z ' || robust_z_text || ' against the five-year median of '
                        || prior_median_text
                else ''
            end
            || '; ' || n_clear_scenes || ' clear scene' || case when n_clear_scenes = 1 then '' else 's' end
            || ' within ' || cast($scene_window_days as integer) || ' days'
            || case
                when n_articles = 0 then '; no matched articles'
                else '; ' || n_articles || ' article' || case when n_articles = 1 then '' else 's' end
                    || ' in ' || n_languages || ' language'
                    || case when n_languages = 1 then '' else 's' end
            end
            as summary
    from formatted
)

select * from final
order by facility_id, metric, observed_on;
