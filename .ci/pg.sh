#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `source .ci/pg.sh && pg_up` installs
# PostgreSQL from the distribution's packages when missing, starts a cluster in a temporary
# directory as a non-root user on a free local port, loads adult, the NIST excerpt and the
# demo admissions table, and exports DPSYNTH_TEST_PG (a URL without password) and PGPASSWORD
# for the tests. `pg_down` stops it and removes the directory (.ci/run traps it on exit).

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

pg_up() {
  set -euo pipefail
  local root data_dir
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -z "$(pg_bin)" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  PG_BIN="$(pg_bin)"
  export PG_BIN
  # The server refuses to run as root: run it as the package's `postgres` user (or our own).
  PG_USER="$(id -un)"
  if [ "$(id -u)" = 0 ]; then
    PG_USER=postgres
    id -u "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home "$PG_USER"
  fi
  export PG_USER
  PG_DIR="$(mktemp -d /tmp/dpsynth-pg.XXXXXX)"
  export PG_DIR
  chmod 755 "$PG_DIR"
  data_dir="$PG_DIR/data"
  local run=()
  [ "$(id -u)" = 0 ] && run=(runuser -u "$PG_USER" --)
  chown "$PG_USER" "$PG_DIR"
  # A random password for the throwaway superuser; the tests read it from PGPASSWORD.
  PGPASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  export PGPASSWORD
  printf '%s\n' "$PGPASSWORD" > "$PG_DIR/pw"
  chown "$PG_USER" "$PG_DIR/pw"
  chmod 600 "$PG_DIR/pw"
  "${run[@]}" "$PG_BIN/initdb" -D "$data_dir" -U dpsynth --pwfile="$PG_DIR/pw" \
    --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
    || "${run[@]}" "$PG_BIN/initdb" -D "$data_dir" -U dpsynth --pwfile="$PG_DIR/pw" \
    --auth=scram-sha-256 -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1
  rm -f "$PG_DIR/pw"
  # A free local port.
  PG_PORT=55432
  while (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; do PG_PORT=$((PG_PORT + 1)); done
  export PG_PORT
  "${run[@]}" "$PG_BIN/pg_ctl" -D "$data_dir" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c work_mem=64MB" start >/dev/null
  export DPSYNTH_TEST_PG="postgresql://dpsynth@127.0.0.1:$PG_PORT/dpsynth_test"
  local admin="postgresql://dpsynth@127.0.0.1:$PG_PORT/postgres"
  psql -q -v ON_ERROR_STOP=1 "$admin" -c "CREATE DATABASE dpsynth_test" >/dev/null
  pg_load "$root" >/dev/null
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT ($PG_DIR): DPSYNTH_TEST_PG=$DPSYNTH_TEST_PG"
}

# Loads the test tables. adult: integer codes; nist: every column as text (as exported);
# admissions: typed columns (text, integer, date, double precision).
pg_load() {
  local root="$1" db="$DPSYNTH_TEST_PG" shared
  shared="$root/../shared/data"
  psql -q -v ON_ERROR_STOP=1 "$db" <<SQL
CREATE TABLE admissions (patient_id text, age integer, sex text, admission_type text,
  diagnosis_group text, ward text, icu text, admission_date date, discharge_date date,
  discharge_outcome text, died text, creatinine double precision, insurance text,
  readmitted_30d text);
\copy admissions FROM '$root/examples/data/admissions.csv' CSV HEADER
SQL
  if [ -f "$shared/adult/adult.csv" ]; then
    local cols
    cols=$(head -1 "$shared/adult/adult.csv" | tr -d '\r' | tr ',' '\n' | sed 's/.*/"&" integer/' | paste -sd, -)
    psql -q -v ON_ERROR_STOP=1 "$db" -c "CREATE TABLE adult ($cols)"
    psql -q -v ON_ERROR_STOP=1 "$db" -c "\\copy adult FROM '$shared/adult/adult.csv' CSV HEADER"
  fi
  if [ -f "$shared/nist_crc/national2019.csv" ]; then
    local cols
    cols=$(head -1 "$shared/nist_crc/national2019.csv" | tr -d '\r' | tr ',' '\n' | sed 's/.*/"&" text/' | paste -sd, -)
    psql -q -v ON_ERROR_STOP=1 "$db" -c "CREATE TABLE nist ($cols)"
    psql -q -v ON_ERROR_STOP=1 "$db" -c "\\copy nist FROM '$shared/nist_crc/national2019.csv' CSV HEADER"
  fi
  psql -q -v ON_ERROR_STOP=1 "$db" -c "ANALYZE"
}

pg_down() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    local run=()
    [ "$(id -u)" = 0 ] && run=(runuser -u "$PG_USER" --)
    "${run[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
