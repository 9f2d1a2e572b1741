"""Secrets as they may be shown: a webhook URL is a key (whoever holds it can post), so only
its scheme, host and port ever appear in logs, metadata, errors or the configuration printout."""

from urllib.parse import urlsplit


def mask_url(url: str) -> str:
    """The webhook as it may be shown: scheme, host and port, never the path that is the key."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(webhook URL)"
    if not parts.scheme or not host:
        return "(webhook URL)"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}/…"
