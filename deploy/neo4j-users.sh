#!/bin/sh
# Run by docker-compose's neo4j-users service: the users the API and the notebooks connect as.
# cypher-shell reads the superuser's password from NEO4J_PASSWORD; the new users' passwords
# reach it as query parameters, never spliced into Cypher.
set -eu
quoted() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
shell() {
  cypher-shell -a neo4j://neo4j:7687 -u neo4j -d system --format plain \
    -P "{app: $(quoted "$APP_DB_PASSWORD"), analyst: $(quoted "$ANALYST_DB_PASSWORD")}" "$@"
}
shell <<'CYPHER'
CREATE USER vendr_app IF NOT EXISTS SET PASSWORD $app CHANGE NOT REQUIRED;
ALTER USER vendr_app SET PASSWORD $app CHANGE NOT REQUIRED;
CREATE USER vendr_analyst IF NOT EXISTS SET PASSWORD $analyst CHANGE NOT REQUIRED;
ALTER USER vendr_analyst SET PASSWORD $analyst CHANGE NOT REQUIRED;
CYPHER
edition=$(shell "CALL dbms.components() YIELD edition RETURN edition" | tail -n 1 | tr -d '"')
if [ "$edition" = "enterprise" ]; then
  shell <<'CYPHER'
GRANT ROLE architect TO vendr_app;
GRANT ROLE reader TO vendr_analyst;
CYPHER
  echo "neo4j-users: vendr_app (architect) and vendr_analyst (reader) ready"
else
  echo "neo4j-users: Neo4j $edition has no roles: vendr_app and vendr_analyst may both write;" >&2
  echo "neo4j-users: NEO4J_IMAGE=neo4j:5-enterprise gives each only what it needs." >&2
fi
