"""Which of the page's actions the permission table grants the user, for its script.

The script shows a control only when the user holds its grant (the API asks the table
again on every request); a page never decides by role name.
"""

from __future__ import annotations

from layers.services.actors import Actor
from layers.services.permissions import allowed

# The actions a project page's controls stand for.
PROJECT_PAGE_ACTIONS = ("answer.read", "answer.renew", "plan.upload", "start_notice.submit",
                        "review.read", "document.read")


def granted(user: Actor, actions: tuple[str, ...] = PROJECT_PAGE_ACTIONS) -> str:
    """Return the granted ``actions`` as one space-separated string (a data attribute)."""
    return " ".join(a for a in actions if allowed(user, a))
