"""Who acts: one type for signed-in users, command-line runs and background jobs.

Every write names its actor in the audit log: an API user by its username, a command by
the OS user that ran it (``cli:alice``), a background job by its name (``job:outbox``).
What each actor may do is ``layers.services.permissions``' business, by its ``role``.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

CLI_ROLE = "cli"  # the operator at the server's shell (holds the database credentials)
JOB_ROLE = "job"  # a background job of the server
MAX_NAME = 64  # audit_log.username, permit_event.username


@dataclass(frozen=True)
class Actor:
    """The one acting: ``id`` is the ``app_user`` id of a signed-in user, else None."""

    id: int | None
    username: str
    role: str
    organisation: str | None = None
    # The district (adcode) the actor is scoped to; None: the deployment's whole jurisdiction.
    district: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        """Return the actor of a command run by the current OS user (``cli:<user>``)."""
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry in some containers
            name = "unknown"
        return cls(None, f"cli:{name}"[:MAX_NAME], CLI_ROLE)

    @classmethod
    def job(cls, name: str) -> Actor:
        """Return the actor of the background job ``name`` (``job:<name>``)."""
        return cls(None, f"job:{name}"[:MAX_NAME], JOB_ROLE)
