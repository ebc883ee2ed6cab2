# Deployment image for gisapp (the database runs in its own postgis/postgis container).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# A CJK font reportlab can embed in the PDF reports.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gisapp ./gisapp
COPY layers ./layers
COPY spatial_rules ./spatial_rules
COPY maps ./maps
COPY campaign ./campaign
COPY vocabulary ./vocabulary
RUN pip install --no-cache-dir . && useradd --system --create-home gisapp
USER gisapp
WORKDIR /home/gisapp
EXPOSE 8000
CMD ["gisapp", "serve", "--host", "0.0.0.0", "--port", "8000"]
