"""Which days a STAC file dropped under imagery/ touches: the acquisition days of its Items."""

from __future__ import annotations

from datetime import date

from assets.imagery.backends import is_stac_key
from assets.imagery.stac import parse_stac_document


def days_touched(key: str, data: bytes) -> set[date]:
    """The UTC acquisition days of the Items in one STAC document (an Item, an ItemCollection or
    an array of Items). A catalog's linked Items are files of their own and name their own days
    when they arrive; a file that is not STAC names none (the run that reads it quarantines it).
    """
    if not is_stac_key(key):
        return set()
    document = parse_stac_document(data, key)
    return {scene.acquired_at.date() for scene in document.scenes}
