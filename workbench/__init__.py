"""The workbench's pages: Jinja2 templates, vendored scripts and styles, menus per role.

No FastAPI here: ``gisapp.web.pages`` serves what ``workbench.render`` produces.
"""
