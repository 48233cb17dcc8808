# The API image for docker-compose.yml (and any container platform).
FROM python:3.11-slim AS base
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY graph ./graph
COPY api ./api
COPY seeds ./seeds
COPY cypher ./cypher
RUN pip install --no-cache-dir .

FROM base AS api
RUN useradd --create-home vendr && mkdir -p /data && chown vendr /data
USER vendr
ENV VENDR_HOST=0.0.0.0 VENDR_DATA_DIR=/data
EXPOSE 8000
CMD ["vendr", "serve"]

FROM base AS notebooks
RUN pip install --no-cache-dir ".[notebooks]"
COPY notebooks ./notebooks
EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--no-browser", "--allow-root", "--notebook-dir=/app/notebooks"]
