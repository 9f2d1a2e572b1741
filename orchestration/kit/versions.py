"""code_version from content: the hash of the files behind an asset (SQL, suite, parser modules),
so the UI shows which assets changed code since they were last materialised."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType

from assets.core.warehouse import PROJECT_ROOT


def content_version(*parts: Path | ModuleType) -> str:
    """sha256 (first 16 hex digits) over each file's project-relative path and bytes."""
    digest = hashlib.sha256()
    for part in parts:
        path = Path(part.__file__) if isinstance(part, ModuleType) else Path(part)
        path = path.resolve()
        name = (
            path.relative_to(PROJECT_ROOT).as_posix()
            if path.is_relative_to(PROJECT_ROOT)
            else path.name
        )
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
