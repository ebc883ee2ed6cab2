"""Map builders and map report export (folium). Reads layers, never writes; no FastAPI."""
