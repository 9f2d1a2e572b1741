"""What a long run says on the terminal: one short line per step event and per progress message
(files fetched, rows loaded), with the time since the run started, instead of Dagster's
timestamped run-id lines or minutes of silence."""

import logging
import sys
import time

import dagster as dg

# Dagster's own step chatter that tells a user nothing they can act on.
QUIET_EVENTS = {
    "STEP_OUTPUT",
    "HANDLED_OUTPUT",
    "LOADED_INPUT",
    "ASSET_MATERIALIZATION_PLANNED",
    "RUN_ENQUEUED",
    "RUN_STARTING",
    "STEP_WORKER_STARTING",
    "STEP_WORKER_STARTED",
    "RESOURCE_INIT_STARTED",
    "RESOURCE_INIT_SUCCESS",
    "LOGS_CAPTURED",
    "ASSET_CHECK_EVALUATION_PLANNED",
    "STEP_EXPECTATION_RESULT",
}


class ProgressFormatter(logging.Formatter):
    def __init__(self):
        super().__init__()
        self.started = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", {}) or {}
        step = meta.get("step_key") or ""
        message = meta.get("orig_message") or record.getMessage()
        event = meta.get("dagster_event")
        if event is not None:
            kind = event.event_type_value
            if kind == "ASSET_MATERIALIZATION":
                mat = event.event_specific_data.materialization
                if mat.partition:
                    return ""  # one per day in a range run: the step's own summary says it
                message = f"materialised {mat.asset_key.to_user_string()}"
            elif kind == "ASSET_CHECK_EVALUATION":
                check = event.event_specific_data
                verdict = "passed" if check.passed else "FAILED"
                message = f"{check.asset_key.to_user_string()} expectations {verdict}"
            elif kind == "STEP_START":
                message = "started"
            elif kind == "STEP_SUCCESS":
                message = "done"
            elif kind == "STEP_FAILURE":
                message = "FAILED"
        elapsed = time.monotonic() - self.started
        where = f"{step}: " if step else ""
        return f"[{elapsed:6.1f}s] {where}{message}"


class _DropChatter(logging.Filter):
    """Drops Dagster's bookkeeping events unless the user asked for everything (-v)."""

    def __init__(self, verbose: bool):
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", {}) or {}
        event = meta.get("dagster_event")
        return self.verbose or event is None or event.event_type_value not in QUIET_EVENTS


@dg.logger(
    config_schema={"log_level": dg.Field(str, default_value="INFO")},
    description="borderwatch's terminal progress: short lines with the time since the run began.",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    level = init_context.logger_config["log_level"].upper()
    logger = logging.Logger("borderwatch", level=getattr(logging, level))
    formatter = ProgressFormatter()

    class _Handler(logging.StreamHandler):
        def emit(self, record):
            text = formatter.format(record)
            if text:
                self.stream.write(text + "\n")
                self.flush()

    handler = _Handler(sys.stdout)
    handler.addFilter(_DropChatter(verbose=level == "DEBUG"))
    logger.addHandler(handler)
    return logger
