# The API image for docker-compose.yml (and any container platform).
FROM python:3.11-slim AS base
WORKDIR /app
# the Cypher library is read from here: an installed (non-editable) package has no cypher/ beside it
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VENDR_CYPHER_DIR=/app/cypher
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
RUN useradd --create-home analyst && chown -R analyst /app/notebooks
USER analyst
EXPOSE 8888
# the access token is printed in the container's log: docker compose logs notebooks
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--no-browser", "--notebook-dir=/app/notebooks"]
