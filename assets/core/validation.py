"""Run a Great Expectations 1.x suite kept in the repo against a Polars frame; plain-Python results."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path

import polars as pl

ERROR, WARN = "error", "warn"
_RUNS = itertools.count(1)


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    severity: str
    unexpected_count: int | None = None
    partial_unexpected: list = field(default_factory=list)
    observed_value: object = None
    exception: str | None = None

    def as_dict(self) -> dict:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "success": self.success,
            "severity": self.severity,
            "unexpected_count": self.unexpected_count,
            "partial_unexpected": self.partial_unexpected,
            "observed_value": self.observed_value,
            "exception": self.exception,
        }


@dataclass
class SuiteOutcome:
    suite: str
    rows: int
    results: list[ExpectationOutcome]

    @property
    def success(self) -> bool:
        """False when any error-severity expectation failed; warnings never fail a suite."""
        return all(r.success or r.severity != ERROR for r in self.results)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def summary(self) -> str:
        bad = [f"{r.expectation}({r.column or ''}) [{r.severity}]" for r in self.failed]
        ok = len(self.results) - len(bad)
        return f"{self.suite}: {ok}/{len(self.results)} expectations met" + (
            f"; failed: {', '.join(bad)}" if bad else ""
        )


def _plain(value):
    """numpy / pandas scalars and containers to plain JSON-able Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# Modules Great Expectations imports when it loads, which no borderwatch suite needs until an
# expectation uses them: scipy.stats (with scipy.optimize, linalg, spatial: about 1.2 s of a
# 4.3 s GX import) serves only the distribution expectations (KL divergence, KS tests).
DEFERRED_IMPORTS = (("scipy", "stats"),)


def defer_import(package: str, name: str) -> bool:
    """Make `package.name` a module that runs its code on first attribute use.

    Uses importlib.util.LazyLoader. The module is also set as the package's attribute, so
    `from package import name` finds it without going through the import system, which would
    touch `__spec__` and run it at once. Python code that later uses the module (an expectation
    calling `stats.entropy`, `import scipy.stats` anywhere) loads it whole, as a plain import
    would. False when the module is already imported or not installed."""
    full = f"{package}.{name}"
    if full in sys.modules:
        return False
    try:
        parent = importlib.import_module(package)
        spec = importlib.util.find_spec(full)
    except ImportError:
        return False
    if spec is None or spec.loader is None:
        return False
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[full] = module
    spec.loader.exec_module(module)
    setattr(parent, name, module)
    return True


@cache
def _context():
    # GX is slow to import (seconds): import it once, lazily, and keep it quiet and offline.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    for package, name in DEFERRED_IMPORTS:
        defer_import(package, name)
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # older/newer layouts: progress bars are cosmetic
        pass
    return gx, context, context.data_sources.add_pandas("borderwatch")


def load_suite_json(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _to_pandas(df: pl.DataFrame):
    pdf = df.to_pandas()
    # GX compares date parameters as datetime.date; pandas would hand it Timestamps.
    for name, dtype in df.schema.items():
        if dtype == pl.Date:
            pdf[name] = pl.Series(df[name]).to_list()
            pdf[name] = pdf[name].astype(object)
    return pdf


def run_suite(
    df: pl.DataFrame, suite_path: str | Path, parameters: dict | None = None
) -> SuiteOutcome:
    """Validate `df` against the suite JSON at `suite_path` with GX suite parameters."""
    gx, context, datasource = _context()
    spec = load_suite_json(suite_path)
    name = spec.get("name") or Path(suite_path).stem
    suite = gx.ExpectationSuite(name=name, expectations=spec.get("expectations", []))
    if len(suite.expectations) != len(spec.get("expectations", [])):
        # GX logs and skips an expectation it cannot build; a typo must not silently weaken a suite.
        known = {e.expectation_type for e in suite.expectations}
        missing = [e.get("type") for e in spec["expectations"] if e.get("type") not in known]
        raise ValueError(
            f"{suite_path}: expectation(s) GX cannot build: {', '.join(map(str, missing))}"
        )
    asset_name = f"asset_{name}"
    try:
        asset = datasource.get_asset(asset_name)
    except LookupError:
        asset = datasource.add_dataframe_asset(asset_name)
    try:
        batch_definition = asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    # Each run registers its own suite and definition: the ephemeral stores refuse duplicates.
    run = next(_RUNS)
    suite.name = f"{name}#{run}"
    suite = context.suites.add(suite)
    validation = gx.ValidationDefinition(
        data=batch_definition, suite=suite, name=f"validate_{name}#{run}"
    )
    result = validation.run(
        batch_parameters={"dataframe": _to_pandas(df)},
        expectation_parameters=parameters or {},
        result_format="SUMMARY",
    )
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        meta = config.meta or {}
        severity = meta.get("severity")
        if severity is None:
            native = str(getattr(config, "severity", "critical")).lower()
            severity = ERROR if "critical" in native else WARN
        body = item.result or {}
        exc = (item.exception_info or {}) if hasattr(item, "exception_info") else {}
        message = None
        if exc.get("raised_exception"):
            message = exc.get("exception_message")
        else:
            for v in exc.values() if isinstance(exc, dict) else []:
                if isinstance(v, dict) and v.get("raised_exception"):
                    message = v.get("exception_message")
        kwargs = config.kwargs or {}
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=kwargs.get("column")
                or (",".join(kwargs["column_list"]) if "column_list" in kwargs else None)
                or (f"{kwargs['column_A']},{kwargs['column_B']}" if "column_A" in kwargs else None),
                success=bool(item.success),
                severity=ERROR if severity in {"error", "critical"} else WARN,
                unexpected_count=_plain(body.get("unexpected_count")),
                partial_unexpected=_plain(body.get("partial_unexpected_list", []))[:20],
                observed_value=_plain(body.get("observed_value")),
                exception=message,
            )
        )
    return SuiteOutcome(suite=name, rows=df.height, results=outcomes)
