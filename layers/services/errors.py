"""Errors of the service use cases; ``gisapp.api.errors`` maps each class to an HTTP status."""

from __future__ import annotations

from layers.io.errors import FeatureProblem
from spatial_rules.errors import DomainError


class NotFoundError(DomainError):
    """The record does not exist (or is not visible to the user)."""


class ConflictStateError(DomainError):
    """The request conflicts with the stored state (duplicate code, illegal transition)."""


class PermissionDeniedError(DomainError):
    """The user's role or organisation does not allow this."""


class AuthenticationError(DomainError):
    """Missing, wrong or expired credentials."""


class InvalidRequestError(DomainError):
    """A field of the request is malformed."""


class FieldError(InvalidRequestError):
    """One field of the request is refused: "字段 FIELD：MESSAGE", and ``problems`` names the
    field for a machine (the JSON error's ``problems[].field``, as a validation problem)."""

    def __init__(self, field: str, message: str) -> None:
        """Keep the field and the message as the one problem of the refusal."""
        super().__init__(f"字段 {field}：{message}")
        self.problems = [FeatureProblem(None, None, field, message)]


class QueryParameterError(InvalidRequestError):
    """A query parameter of a standard interface (OGC API) is malformed or unknown: 400."""


class TooManyRequestsError(DomainError):
    """Too many attempts (login throttling): answered 429 with ``Retry-After``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        """Keep how long the client should wait."""
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServiceBusyError(DomainError):
    """The service is saturated for this kind of request: 503 with ``Retry-After``."""

    def __init__(self, message: str, retry_after_s: int = 2) -> None:
        """Keep how long the client should wait."""
        super().__init__(message)
        self.retry_after_s = retry_after_s
