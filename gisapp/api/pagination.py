"""The ``links`` of a paged list: a ``next`` link while more rows match."""

from __future__ import annotations

from fastapi import Request


def next_links(request: Request, *, offset: int, limit: int, returned: int, total: int,
               **attributes: str) -> list[dict]:
    """Return ``[{"rel": "next", "href": ...}]`` when rows remain after this page, else ``[]``."""
    if offset + returned >= total:
        return []
    href = str(request.url.include_query_params(offset=offset + limit))
    return [{"rel": "next", "href": href, **attributes}]
