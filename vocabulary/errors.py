"""The base of every user-facing error of the product (Chinese message, one class per cause)."""

from __future__ import annotations


class DomainError(Exception):
    """A problem the user can fix; ``str(err)`` is the message to show them.

    Lives in the shared vocabulary so that every package, including the pure ``campaign``,
    derives its errors from one base that the CLI prints and the API maps to a status.
    """
