"""Configuration in one place: environment variables, their defaults, and the paths they imply."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from assets.core.warehouse import PROJECT_ROOT

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS = {
    "source": Setting(
        "BORDERWATCH_SOURCE",
        "data/sample",
        "source store: a folder or s3://bucket/prefix holding reported/, imagery/, news/gdelt/, news/feeds/",
    ),
    "facilities": Setting(
        "BORDERWATCH_FACILITIES", "data/reference/facilities.csv", "the facilities gazetteer"
    ),
    "home": Setting(
        "BORDERWATCH_HOME",
        "var",
        "warehouse borderwatch.duckdb, raw zone raw/, Dagster instance dagster/, report/",
    ),
    "imagery_source": Setting(
        "BORDERWATCH_IMAGERY_SOURCE",
        "",
        "imagery location if not <source>/imagery: a folder, s3://bucket/prefix "
        "(e.g. s3://sentinel-s2-l2a-cogs) or a STAC API URL (https://...)",
    ),
    "imagery_collections": Setting(
        "BORDERWATCH_IMAGERY_COLLECTIONS",
        "sentinel-2-l2a",
        "STAC API collections to search, comma-separated",
    ),
    "clear_cloud_max": Setting(
        "BORDERWATCH_CLEAR_CLOUD_MAX", "20", "a scene is clear at or below this cloud cover (%)"
    ),
    "news_match_distance_km": Setting(
        "BORDERWATCH_NEWS_MATCH_KM",
        "25",
        "a GKG location this close to a facility matches the article to it",
    ),
    "gdelt_base_url": Setting(
        "BORDERWATCH_GDELT_URL",
        "",
        "read GDELT from its HTTP file lists at this base URL "
        "(e.g. http://data.gdeltproject.org/gdeltv2/) instead of <source>/news/gdelt",
    ),
    "alert_webhook_url": Setting(
        "BORDERWATCH_ALERT_WEBHOOK", "", "POST each new alert as JSON to this URL"
    ),
    "nightly_days": Setting(
        "BORDERWATCH_NIGHTLY_DAYS", "30", "trailing days the nightly schedule re-materialises"
    ),
    "weekly_days": Setting(
        "BORDERWATCH_WEEKLY_DAYS", "365", "trailing days the weekly schedule re-materialises"
    ),
}


def setting(name: str) -> str:
    spec = SETTINGS[name]
    return os.environ.get(spec.env, spec.default)


def is_set(name: str) -> bool:
    return bool(os.environ.get(SETTINGS[name].env))


def location(name: str) -> str:
    """A path-like setting: defaults are inside the project, values a user sets are from the cwd."""
    value = setting(name)
    if not value or "://" in value:
        return value
    path = Path(value)
    if not path.is_absolute():
        path = (Path.cwd() if is_set(name) else PROJECT_ROOT) / path
    return str(path.resolve())


@dataclass(frozen=True)
class Paths:
    home: Path

    @property
    def warehouse(self) -> Path:
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


def home_paths(home: str | None = None) -> Paths:
    return Paths(Path(home).resolve() if home else Path(location("home")))


def prepare_instance(paths: Paths) -> Path:
    """Create the Dagster instance folder with the shipped dagster.yaml; point DAGSTER_HOME at it."""
    paths.dagster_home.mkdir(parents=True, exist_ok=True)
    target = paths.dagster_home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(INSTANCE_TEMPLATE, target)
    os.environ["DAGSTER_HOME"] = str(paths.dagster_home)
    # A single-run backfill otherwise writes one "planned" event per partition and asset before
    # it starts: about 7,000 SQLite writes (a minute and a half) for the demo's six years.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    return paths.dagster_home


def describe() -> list[tuple[str, str, str]]:
    return [(s.env, setting(k), s.help) for k, s in SETTINGS.items()]
