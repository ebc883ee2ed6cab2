"""Planned construction activities with their Chinese names, for the new-project form.

One list for the whole product: ``vocabulary.activities`` (issue #13), in its order; the
codes are the ones a site file's ``activities`` column and the API take.
"""

from __future__ import annotations

from vocabulary.activities import Activity

ACTIVITIES: tuple[tuple[str, str], ...] = tuple((a.value, a.label) for a in Activity)
