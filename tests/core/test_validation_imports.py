"""Great Expectations loads without scipy.stats, and the expectations that need it still work.

Each test runs in a fresh interpreter: whether a module is imported is process state."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_gx_context_leaves_scipy_stats_unloaded_until_used(tmp_path):
    suite = {
        "name": "distribution",
        "expectations": [
            {
                "type": "expect_column_kl_divergence_to_be_less_than",
                "kwargs": {
                    "column": "kind",
                    "partition_object": {"values": ["a", "b"], "weights": [0.5, 0.5]},
                    "threshold": 0.1,
                },
                "meta": {"severity": "error"},
            }
        ],
    }
    path = tmp_path / "distribution.expectations.json"
    path.write_text(json.dumps(suite))
    result = _run(
        f"""
        import json, sys
        import polars as pl
        from assets.core import validation
        validation._context()
        before = sorted(m for m in ("scipy.optimize", "scipy.linalg", "scipy.spatial")
                        if m in sys.modules)
        even = validation.run_suite(pl.DataFrame({{"kind": ["a", "b"] * 50}}), {str(path)!r})
        skewed = validation.run_suite(pl.DataFrame({{"kind": ["a"] * 95 + ["b"] * 5}}),
                                      {str(path)!r})
        print(json.dumps({{
            "before": before,
            "after": "scipy.optimize" in sys.modules,
            "even": even.success,
            "skewed": skewed.success,
            "skewed_value": skewed.results[0].observed_value,
            "exception": even.results[0].exception or skewed.results[0].exception,
        }}))
        """
    )
    assert result["before"] == []  # importing GX did not run scipy.stats
    assert result["exception"] is None
    assert result["even"] is True  # KL divergence 0 against the expected weights
    assert result["skewed"] is False  # 95/5 against 50/50 is about 0.51 nats
    assert result["skewed_value"] > 0.1
    assert result["after"] is True  # the expectation loaded scipy.stats in full to compute it


def test_defer_import_is_a_no_op_for_modules_already_imported():
    result = _run(
        """
        import json, sys
        import scipy.stats
        from assets.core.validation import defer_import
        first = sys.modules["scipy.stats"]
        deferred = defer_import("scipy", "stats")
        print(json.dumps({"deferred": deferred, "same": sys.modules["scipy.stats"] is first,
                          "missing": defer_import("scipy", "no_such_module")}))
        """
    )
    assert result == {"deferred": False, "same": True, "missing": False}
