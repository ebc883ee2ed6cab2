"""The service and the command line: settings, local PostGIS, CLI, (later) the API.

The only package that imports FastAPI.
"""
