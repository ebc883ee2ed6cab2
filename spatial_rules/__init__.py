"""Pure domain logic: pressure classes, protection rule sets, coordinate maths, screening.

Imports shapely, pyproj and numpy only; never the other packages of this project.
"""
