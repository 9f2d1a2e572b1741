"""The borderwatch resource: every setting and threshold, declared once with its default and the
environment variable that overrides it; the Dagster UI shows the values a run used."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from assets.core import warehouse
from assets.core.rawzone import ManifestStore, RawFile, RawZone, fetch_to_raw
from assets.core.sources import SourceStore, open_source_store
from assets.core.warehouse import PROJECT_ROOT

# Settings that name a place: a default is inside the project, a value a user sets is taken from
# the current directory.
LOCATIONS = {"source", "facilities", "home", "imagery_source"}


def _env(name: str, description: str) -> dict:
    return {"description": description, "json_schema_extra": {"env": name}}


class Borderwatch(dg.ConfigurableResource):
    """Where data comes from and goes to, and the thresholds of the indicator rules."""

    source: str = Field(
        "data/sample",
        **_env(
            "BORDERWATCH_SOURCE",
            "source store: a folder or s3://bucket/prefix holding reported/, imagery/, "
            "news/gdelt/, news/feeds/",
        ),
    )
    facilities: str = Field(
        "data/reference/facilities.csv",
        **_env("BORDERWATCH_FACILITIES", "the facilities gazetteer"),
    )
    home: str = Field(
        "var",
        **_env(
            "BORDERWATCH_HOME",
            "the embedded lake lake/, the raw zone raw/, the Dagster instance dagster/, "
            "the report report/",
        ),
    )
    lake_catalog: str = Field(
        "",
        **_env(
            "BORDERWATCH_LAKE_CATALOG",
            "the DuckLake catalog: empty for the embedded SQLite catalog under the home, or "
            "postgres:dbname=... host=... port=... user=... (password in PGPASSWORD)",
        ),
    )
    lake_data_path: str = Field(
        "",
        **_env(
            "BORDERWATCH_LAKE_DATA_PATH",
            "where the lake's Parquet files go: empty for <home>/lake/data, or an absolute folder "
            "or s3://bucket/prefix (S3 settings from AWS_* variables)",
        ),
    )
    lake_retention_days: int = Field(
        7,
        **_env(
            "BORDERWATCH_LAKE_RETENTION_DAYS",
            "lake maintenance keeps snapshots (time travel) for this many days",
        ),
    )
    imagery_source: str = Field(
        "",
        **_env(
            "BORDERWATCH_IMAGERY_SOURCE",
            "imagery location if not <source>/imagery: a folder, s3://bucket/prefix "
            "(e.g. s3://sentinel-s2-l2a-cogs) or a STAC API URL (https://...)",
        ),
    )
    imagery_collections: str = Field(
        "sentinel-2-l2a",
        **_env(
            "BORDERWATCH_IMAGERY_COLLECTIONS", "STAC API collections to search, comma-separated"
        ),
    )
    gdelt_base_url: str = Field(
        "",
        **_env(
            "BORDERWATCH_GDELT_URL",
            "read GDELT from its HTTP file lists at this base URL "
            "(e.g. http://data.gdeltproject.org/gdeltv2/) instead of <source>/news/gdelt",
        ),
    )
    alert_webhook_url: str = Field(
        "",
        **_env("BORDERWATCH_ALERT_WEBHOOK", "POST each new alert as JSON to this URL, once"),
    )
    alert_format: str = Field(
        "",
        **_env(
            "BORDERWATCH_ALERT_FORMAT",
            "alert webhook message format: generic, slack or teams; empty = from the webhook "
            "URL's host (hooks.slack.com: slack, *.webhook.office.com: teams, else generic)",
        ),
    )
    replay: bool = Field(
        False, description="read every source from the raw zone only (borderwatch replay)"
    )
    clear_cloud_max: float = Field(
        20.0,
        **_env("BORDERWATCH_CLEAR_CLOUD_MAX", "a scene is clear at or below this cloud cover (%)"),
    )
    news_match_distance_km: float = Field(
        25.0,
        **_env(
            "BORDERWATCH_NEWS_MATCH_KM",
            "a GKG location this close to a facility matches the article to it",
        ),
    )
    min_prior_n: int = Field(
        5,
        **_env(
            "BORDERWATCH_MIN_PRIOR_N",
            "an observation needs at least this many prior observations to be an anomaly",
        ),
    )
    ratio_threshold: float = Field(
        1.5,
        **_env(
            "BORDERWATCH_RATIO_THRESHOLD",
            "anomaly: value at least this many times the five-year prior maximum",
        ),
    )
    robust_z_threshold: float = Field(
        3.5,
        **_env(
            "BORDERWATCH_ROBUST_Z_THRESHOLD",
            "anomaly: modified z-score against the five-year prior median at least this",
        ),
    )
    ratio_elevated: float = Field(
        1.0,
        **_env(
            "BORDERWATCH_RATIO_ELEVATED",
            "weekly status 'elevated': a ratio to the prior maximum at least this",
        ),
    )
    attention_z_elevated: float = Field(
        2.0,
        **_env(
            "BORDERWATCH_ATTENTION_Z_ELEVATED",
            "weekly status 'elevated': news attention z-score at least this",
        ),
    )
    scene_window_days: int = Field(
        7,
        **_env(
            "BORDERWATCH_SCENE_WINDOW_DAYS",
            "evidence: scenes within this many days before or after an anomaly",
        ),
    )
    article_window_days: int = Field(
        14,
        **_env(
            "BORDERWATCH_ARTICLE_WINDOW_DAYS",
            "evidence: articles from the anomaly's day to this many days after",
        ),
    )
    high_ratio: float = Field(
        3.0,
        **_env("BORDERWATCH_HIGH_RATIO", "alert severity 'high': ratio to prior maximum at least"),
    )
    high_robust_z: float = Field(
        7.0,
        **_env("BORDERWATCH_HIGH_ROBUST_Z", "alert severity 'high': robust z-score at least"),
    )
    nightly_days: int = Field(
        30,
        **_env("BORDERWATCH_NIGHTLY_DAYS", "trailing days the nightly schedule re-materialises"),
    )
    weekly_days: int = Field(
        365,
        **_env("BORDERWATCH_WEEKLY_DAYS", "trailing days the weekly schedule re-materialises"),
    )

    @classmethod
    def settings(cls) -> list[tuple[str, str, object, str]]:
        """(field, environment variable, default, description) of every setting the env can set."""
        out = []
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra or {}
            if isinstance(extra, dict) and "env" in extra:
                out.append((name, str(extra["env"]), info.default, info.description or ""))
        return out

    @classmethod
    def from_env(cls, **overrides) -> Borderwatch:
        """Defaults, overridden by BORDERWATCH_* variables, overridden by `overrides`."""
        values: dict = {}
        for name, env, default, _ in cls.settings():
            raw = os.environ.get(env)
            value = default if raw in (None, "") else type(default)(raw)
            if name in LOCATIONS:
                value = _location(str(value), from_cwd=raw not in (None, ""))
            values[name] = value
        values.update(overrides)
        return cls(**values)

    def describe(self) -> list[tuple[str, object, str]]:
        """(environment variable, value in force, description) for `borderwatch config`."""
        out = []
        for name, env, _, text in self.settings():
            value = getattr(self, name)
            if name == "alert_webhook_url" and value:
                # Whoever holds the URL can post to the channel: show its host only.
                from assets.core.secrets import mask_url

                value = mask_url(str(value))
            elif name == "lake_catalog" and value:
                value = warehouse.redact(str(value))  # a password in it stays out of sight
            out.append((env, value, text))
        return out

    @property
    def paths(self) -> Paths:
        return Paths(Path(self.home))

    def lake(self) -> warehouse.LakeConfig:
        """The lake: the embedded one under the home, or the catalog and data path configured."""
        if self.lake_catalog or self.lake_data_path:
            if not (self.lake_catalog and self.lake_data_path):
                raise ValueError(
                    "set both BORDERWATCH_LAKE_CATALOG and BORDERWATCH_LAKE_DATA_PATH, or neither"
                )
            return warehouse.LakeConfig(self.lake_catalog, self.lake_data_path)
        return warehouse.LakeConfig.embedded(self.home)

    # Within a run, steps share one attached lake (opened on first use): each step's connect()
    # is a session on it, not a fresh DuckDB loading extensions and the catalog again.
    _in_run: bool = PrivateAttr(default=False)
    _lake_base: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._in_run = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        base, self._lake_base, self._in_run = self._lake_base, None, False
        if base is not None:
            base.close()

    @contextmanager
    def connect(self, read_only: bool = False, as_of=None) -> Iterator:
        """A lake connection, closed on exit. In a run, writable connections are sessions on
        one attached lake per run; readers of the past (as_of) and read-only ones open their own."""
        if read_only or as_of is not None or not self._in_run:
            con = warehouse.connect(self.lake(), read_only=read_only, as_of=as_of)
        else:
            if self._lake_base is None:
                self._lake_base = warehouse.connect(self.lake())
            con = warehouse.session(self._lake_base)
        try:
            yield con
        finally:
            con.close()

    def store(self, con, location: str, namespace: str) -> SourceStore:
        """Where a source's files are listed and read: `location` (a folder or s3:// URI), or, in
        replay mode, the raw zone's copies of what was fetched under `namespace`."""
        if self.replay:
            return ManifestStore(con, self.raw_zone(), namespace)
        return open_source_store(location)

    def source_location(self, sub: str) -> str:
        return f"{self.source.rstrip('/')}/{sub}"

    def raw_zone(self) -> RawZone:
        return RawZone(self.paths.raw)

    def fetch(self, con, store: SourceStore, objects, namespace: str, log=None) -> list[RawFile]:
        """Source objects into the raw zone (a replay's objects are there already: a no-op)."""
        return fetch_to_raw(
            store, list(objects), self.raw_zone(), con, log=log, namespace=namespace
        )

    def today(self) -> date:
        return datetime.now(UTC).date()

    def sql_params(self) -> dict:
        """Every threshold a curated SQL file may bind; each file takes the ones it names."""
        return {
            name: getattr(self, name)
            for name in (
                "min_prior_n",
                "ratio_threshold",
                "robust_z_threshold",
                "ratio_elevated",
                "attention_z_elevated",
                "scene_window_days",
                "article_window_days",
                "clear_cloud_max",
                "high_ratio",
                "high_robust_z",
            )
        }


def _location(value: str, from_cwd: bool) -> str:
    if not value or "://" in value:
        return value
    path = Path(value)
    if not path.is_absolute():
        path = (Path.cwd() if from_cwd else PROJECT_ROOT) / path
    return str(path.resolve())


@dataclass(frozen=True)
class Paths:
    """What lives under BORDERWATCH_HOME."""

    home: Path

    @property
    def lake(self) -> Path:
        """The embedded lake: catalog.sqlite and data/ (Parquet)."""
        return self.home / "lake"

    @property
    def legacy_warehouse(self) -> Path:
        """Where earlier versions kept a single DuckDB file (see `borderwatch migrate`)."""
        return self.home / "borderwatch.duckdb"

    @property
    def raw(self) -> Path:
        return self.home / "raw"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def report(self) -> Path:
        return self.home / "report"

    @property
    def cache(self) -> Path:
        """Files built once and kept (the report's JavaScript bundle); safe to delete."""
        return self.home / "cache"


@cache
def default_resource() -> Borderwatch:
    """The resource from the environment, one per process: every source's Definitions and the
    merged ones share it, so they merge without conflict."""
    return Borderwatch.from_env()


def source_definitions(*assets) -> dg.Definitions:
    """A source's own small Definitions: its assets and the resource they need."""
    return dg.Definitions(assets=list(assets), resources={"borderwatch": default_resource()})
