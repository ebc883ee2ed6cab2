"""The data layers: ORM tables, validation, import/export of geodata, CRS handling, PostGIS queries.

Never imports FastAPI or ``gisapp``.
"""
