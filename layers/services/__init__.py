"""Use cases of the service on stored data: each runs inside the caller's transaction.

No FastAPI here: the routes in ``gisapp.api`` parse, call one of these, and shape the
response. Errors are ``DomainError`` subclasses from ``layers.services.errors``.
"""
