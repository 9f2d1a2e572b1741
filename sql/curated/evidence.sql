-- The evidence behind every anomaly: one row per piece of evidence.
--
-- An alert is one (facility_id, metric, observed_on) with at least one anomalous observation in
-- curated.activity_baselines; several sources reporting the same count share one alert.
-- alert_id comes from curated.activity_baselines, the one place it is computed (derived from
-- facility, metric and day only, so it is the same on every rebuild and in curated.alerts).
--
-- evidence_kind:
--   'report'  every report of that facility, metric and day in curated.observations
--             (ref = source_url, title = source, evidence_on = published_on, else observed_on);
--   'scene'   every scene over the facility (staging.stg_imagery__scene_facilities) acquired
--             within $scene_window_days (7) before or after observed_on (ref = scene_id,
--             is_clear = cloud_cover <= $clear_cloud_max (20); unknown cloud cover is not clear);
--   'article' every matched article published from observed_on to observed_on +
--             $article_window_days (14), both days included, for the facility OR for its crossing
--             partner (another facility with the same crossing_id in curated.facilities). Reports
--             about a crossing often name only one side (Tumangang / Khasan), so the partner's
--             articles are evidence too; evidence_facility_id says which side matched. An article
--             matched to both sides appears once, under the facility itself.
-- days_from_observation = evidence_on - observed_on (negative: before the observation).
create schema if not exists curated;
create or replace table curated.evidence as
with baselines as (
    select * from curated.activity_baselines
),

observations as (
    select * from curated.observations
),

facilities as (
    select facility_id, crossing_id from curated.facilities
),

scene_facilities as (
    select * from staging.stg_imagery__scene_facilities
),

article_facilities as (
    select * from staging.stg_news__article_facilities
),

articles as (
    select * from staging.stg_news__articles
),

anomalies as (
    select distinct
        alert_id,
        facility_id,
        metric,
        observed_on
    from baselines
    where is_anomaly
),

report_evidence as (
    select
        a.alert_id,
        a.facility_id,
        a.metric,
        a.observed_on,
        'report' as evidence_kind,
        o.source_url as ref,
        o.source as title,
        concat_ws(
            '; ',
            case when o.value = trunc(o.value) then cast(cast(o.value as bigint) as varchar)
                else cast(o.value as varchar) end || ' ' || o.metric,
            o.method,
            o.confidence,
            case when o.synthetic then 'synthetic' end
        ) as detail,
        coalesce(o.published_on, o.observed_on) as evidence_on,
        a.facility_id as evidence_facility_id,
        cast(null as double) as cloud_cover,
        cast(null as boolean) as is_clear,
        cast(null as varchar) as language
    from anomalies as a
    inner join observations as o using (facility_id, metric, observed_on)
),

scene_evidence as (
    select
        a.alert_id,
        a.facility_id,
        a.metric,
        a.observed_on,
        'scene' as evidence_kind,
        s.scene_id as ref,
        cast(null as varchar) as title,
        concat_ws(
            '; ',
            s.collection,
            case when s.cloud_cover is null then 'cloud cover unknown'
                else 'cloud cover ' || cast(round(s.cloud_cover, 1) as varchar) || '%' end,
            'covers ' || cast(round(100 * s.overlap_fraction) as bigint) || '% of the site'
        ) as detail,
        s.acquired_on as evidence_on,
        s.facility_id as evidence_facility_id,
        s.cloud_cover,
        coalesce(s.cloud_cover <= $clear_cloud_max, false) as is_clear,
        cast(null as varchar) as language
    from anomalies as a
    inner join scene_facilities as s
        on s.facility_id = a.facility_id
        and s.acquired_on between a.observed_on - cast($scene_window_days as integer)
            and a.observed_on + cast($scene_window_days as integer)
),

partners as (
    select a.alert_id, a.facility_id as evidence_facility_id, 0 as partner_rank
    from anomalies as a
    union all
    select a.alert_id, p.facility_id, 1
    from anomalies as a
    inner join facilities as f on f.facility_id = a.facility_id
    inner join facilities as p
        on p.crossing_id = f.crossing_id
        and p.facility_id <> f.facility_id
),

matched_articles as (
    select
        a.alert_id,
        a.facility_id,
        a.metric,
        a.observed_on,
        af.article_id,
        af.facility_id as evidence_facility_id,
        af.match_kind,
        p.partner_rank
    from anomalies as a
    inner join partners as p using (alert_id)
    inner join article_facilities as af
        on af.facility_id = p.evidence_facility_id
        and af.published_on between a.observed_on
            and a.observed_on + cast($article_window_days as integer)
),

first_matches as (
    select *
    from matched_articles
    qualify row_number() over (
        partition by alert_id, article_id
        order by partner_rank, evidence_facility_id, match_kind
    ) = 1
),

article_evidence as (
    select
        m.alert_id,
        m.facility_id,
        m.metric,
        m.observed_on,
        'article' as evidence_kind,
        n.document_url as ref,
        n.title,
        concat_ws(
            '; ',
            n.source_name,
            n.language,
            'matched ' || m.evidence_facility_id || ' by ' || m.match_kind,
            case when n.translated then 'translated' end,
            case when n.synthetic then 'synthetic' end
        ) as detail,
        n.published_on as evidence_on,
        m.evidence_facility_id,
        cast(null as double) as cloud_cover,
        cast(null as boolean) as is_clear,
        n.language
    from first_matches as m
    inner join articles as n using (article_id)
),

unioned as (
    select * from report_evidence
    union all
    select * from scene_evidence
    union all
    select * from article_evidence
),

final as (
    select
        alert_id,
        facility_id,
        metric,
        observed_on,
        evidence_kind,
        ref,
        title,
        detail,
        evidence_on,
        cast(evidence_on - observed_on as integer) as days_from_observation,
        evidence_facility_id,
        cloud_cover,
        is_clear,
        language
    from unioned
)

select * from final
order by
    alert_id,
    case evidence_kind when 'report' then 1 when 'scene' then 2 else 3 end,
    evidence_on,
    ref,
    title,
    detail,
    evidence_facility_id;
