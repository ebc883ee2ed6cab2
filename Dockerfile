# Deployment image for gisapp (the database runs in its own postgis/postgis container).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gisapp ./gisapp
COPY layers ./layers
COPY spatial_rules ./spatial_rules
COPY maps ./maps
COPY campaign ./campaign
RUN pip install --no-cache-dir . && useradd --system --create-home gisapp
USER gisapp
WORKDIR /home/gisapp
CMD ["gisapp", "quickstart"]
