"""The borderwatch resource: settings the Dagster UI shows, the warehouse, the source store, the raw zone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import dagster as dg

from assets.core import warehouse
from assets.core.rawzone import ManifestStore, RawFile, RawZone, fetch_to_raw
from assets.core.sources import SourceStore, open_source_store
from orchestration import settings


class Borderwatch(dg.ConfigurableResource):
    """Where data comes from and goes to. Defaults come from BORDERWATCH_* environment variables."""

    source: str
    facilities: str
    home: str
    imagery_source: str = ""
    imagery_collections: str = "sentinel-2-l2a"
    clear_cloud_max: float = 20.0
    news_match_distance_km: float = 25.0
    gdelt_base_url: str = ""
    alert_webhook_url: str = ""
    replay: bool = False
    min_prior_n: int = 5
    ratio_threshold: float = 1.5
    robust_z_threshold: float = 3.5
    scene_window_days: int = 7
    article_window_days: int = 14
    attention_z_elevated: float = 2.0

    @classmethod
    def from_env(cls, **overrides) -> Borderwatch:
        values = dict(
            source=settings.location("source"),
            facilities=settings.location("facilities"),
            home=settings.location("home"),
            imagery_source=settings.location("imagery_source"),
            imagery_collections=settings.setting("imagery_collections"),
            clear_cloud_max=float(settings.setting("clear_cloud_max")),
            news_match_distance_km=float(settings.setting("news_match_distance_km")),
            gdelt_base_url=settings.setting("gdelt_base_url"),
            alert_webhook_url=settings.setting("alert_webhook_url"),
        )
        values.update(overrides)
        return cls(**values)

    @property
    def paths(self) -> settings.Paths:
        return settings.home_paths(self.home)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator:
        con = warehouse.connect(self.paths.warehouse, read_only=read_only)
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
        """Every value a curated SQL file may bind; each file takes the ones it names."""
        from assets.indicators import DEFAULT_PARAMS

        return {
            **DEFAULT_PARAMS,
            "min_prior_n": self.min_prior_n,
            "ratio_threshold": self.ratio_threshold,
            "robust_z_threshold": self.robust_z_threshold,
            "clear_cloud_max": self.clear_cloud_max,
            "attention_z_elevated": self.attention_z_elevated,
            "scene_window_days": self.scene_window_days,
            "article_window_days": self.article_window_days,
        }
