"""Caps every parser applies to untrusted input, so one hostile or broken file costs bounded memory
and time and ends as a quarantine row with the reason, never as a crash that drops a source.

Parsers take `limits: Limits = DEFAULT_LIMITS`; the wiring may build one from settings
(`Limits(field_chars=...)`). Each cap has a sentence below that is the start of the quarantine
reason when it is hit, so a reason can be traced back to the setting that caused it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MiB = 1 << 20
GiB = 1 << 30

# Appended to a clipped raw_line: says that the text was cut and how long it was.
TRUNCATION_MARKER = "…[truncated: {total} characters in all]"


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what one source file may make the pipeline hold."""

    # One CSV or GDELT field. Python's csv stops at 131,072 by default and raises, which used to
    # drop the whole source; analysts' notes fields are far below 1 MiB.
    field_chars: int = MiB
    # Nesting of a JSON document. json.loads raises RecursionError near 1,000 levels (and used to
    # drop the whole source); STAC Items are a dozen levels deep.
    json_depth: int = 64
    # Bytes one zip member may inflate to (a GDELT GKG slot is about 20 MB inflated).
    member_bytes: int = 512 * MiB
    # Bytes one file may hold: a plain file's size, or all of a zip's members once inflated.
    file_bytes: int = GiB
    # Characters of raw_line kept in quarantine (the reason and line number locate the rest).
    raw_line_chars: int = 4000
    # Levels of child catalogs followed below a STAC catalog.
    catalog_depth: int = 16

    def field_reason(self) -> str:
        return f"field over {self.field_chars} characters"

    def json_depth_reason(self) -> str:
        return f"JSON nested deeper than {self.json_depth} levels"

    def member_reason(self) -> str:
        return f"zip member inflates past {self.member_bytes} bytes"

    def file_reason(self) -> str:
        return f"file holds more than {self.file_bytes} bytes"


DEFAULT_LIMITS = Limits()


def clip_text(text: str | None, max_chars: int = DEFAULT_LIMITS.raw_line_chars) -> str | None:
    """`text` cut to at most `max_chars` characters, ending in a marker with the full length."""
    if text is None or len(text) <= max_chars:
        return text
    marker = TRUNCATION_MARKER.format(total=len(text))
    keep = max(max_chars - len(marker), 0)
    return (text[:keep] + marker)[:max_chars]


class LimitExceeded(ValueError):
    """A cap of Limits was hit; the message is the quarantine reason."""


def nesting_depth(value) -> int:
    """How deeply lists and dicts nest in a parsed JSON value, walked with an explicit stack
    (a recursive walk would itself hit Python's recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_json(data: bytes | str, limits: Limits = DEFAULT_LIMITS):
    """json.loads within the caps: LimitExceeded for a document too big or nested too deep,
    ValueError (json.JSONDecodeError, UnicodeDecodeError) for one that is not JSON."""
    if len(data) > limits.file_bytes:
        raise LimitExceeded(limits.file_reason())
    try:
        value = json.loads(data)
    except RecursionError as exc:
        # The C decoder recurses once per level; far past our cap, so the reason is the cap.
        raise LimitExceeded(limits.json_depth_reason()) from exc
    if nesting_depth(value) > limits.json_depth:
        raise LimitExceeded(limits.json_depth_reason())
    return value
