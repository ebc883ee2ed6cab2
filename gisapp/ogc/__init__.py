"""Shapes of the OGC API – Features interface that are not data: the OpenAPI definition."""
