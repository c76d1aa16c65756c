#!/bin/sh
# First start of the dev PostgreSQL: one role and one database per service, each role
# with the password from that service's Secret <service>-db-app (make-secrets.sh).
set -eu
for svc in gateway customer sales billing service_desk docs notify; do
  var="$(echo "$svc" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  eval "password=\${$var}"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE "$svc" LOGIN PASSWORD '$password';
CREATE DATABASE "$svc" OWNER "$svc";
REVOKE ALL ON DATABASE "$svc" FROM PUBLIC;
SQL
done
