#!/bin/bash
# One database and one login per service (docker-compose), run once on an empty data volume by the
# postgres image. Each service owns its database; no login may connect to another's.
set -euo pipefail

for service in contacts interactions documents reporting gateway; do
    password_var="${service^^}_DB_PASSWORD"
    password="${!password_var:?$password_var is not set}"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v service="$service" -v password="$password" <<'SQL'
CREATE ROLE :"service" LOGIN PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE ALL ON DATABASE :"service" FROM PUBLIC;
SQL
done
