#!/usr/bin/env bash
# Installs what shoplab needs: Debian packages (when missing) and the Python virtualenv.
# Idempotent: a second run checks, finds everything in place and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
APT_PACKAGES=(
  mariadb-server mariadb-client redis-server prometheus prometheus-alertmanager
  prometheus-mysqld-exporter prometheus-redis-exporter prometheus-node-exporter
  nginx prometheus-nginx-exporter
  chromium
  valgrind
  openjdk-17-jdk-headless maven
)
# Debian names the binaries differently from upstream; these are what the project calls.
REQUIRED_COMMANDS=(mariadbd mariadb-install-db mariadb redis-server prometheus promtool
  prometheus-alertmanager amtool prometheus-mysqld-exporter prometheus-redis-exporter
  prometheus-node-exporter nginx prometheus-nginx-exporter chromium valgrind java mvn)
# Debian installs its own services for these packages; shoplab runs its own copies on other
# ports, so the packaged ones must not be running or enabled.
PACKAGED_SERVICES=(mariadb redis-server prometheus prometheus-alertmanager
  prometheus-mysqld-exporter prometheus-redis-exporter prometheus-node-exporter
  nginx prometheus-nginx-exporter)

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

missing_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

missing_commands() {
  local c
  for c in "${REQUIRED_COMMANDS[@]}"; do
    command -v "$c" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$c" >/dev/null 2>&1 || echo "$c"
  done
}

stop_packaged_services() {
  # Services started by package scripts (sysvinit or systemd) would hold the default ports.
  local s
  for s in "${PACKAGED_SERVICES[@]}"; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl disable --now "$s" >/dev/null 2>&1 || true
    fi
    if [ -x "/etc/init.d/$s" ]; then
      "/etc/init.d/$s" stop >/dev/null 2>&1 || true
    fi
  done
}

install_system_packages() {
  local missing
  missing=$(missing_packages | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then
    say "system packages: all present"
    return
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing system packages: $missing"
    if command -v apt-get >/dev/null 2>&1; then
      die "run as root, or install them first: sudo apt-get install -y $missing"
    fi
    die "this is not Debian/Ubuntu: install MariaDB >= 10.6, Redis >= 7, Prometheus >= 2.42 (with promtool), Alertmanager, mysqld_exporter, redis_exporter, node_exporter, nginx >= 1.19.5, nginx-prometheus-exporter and Chromium (the report test), with their binaries named as in Debian ($(missing_commands | tr '\n' ' '))"
  fi
  say "installing system packages: $missing"
  # policy-rc.d exit 101 tells invoke-rc.d not to start services during the install.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  # Only a fresh machine gets here (nothing missing means no apt at all), so always refresh.
  say "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/tmp/shoplab-apt.log 2>&1; then
    [ "$created_policy" = 1 ] && rm -f "$policy"
    tail -n 20 /tmp/shoplab-apt.log >&2
    die "apt-get install failed (full log: /tmp/shoplab-apt.log)"
  fi
  [ "$created_policy" = 1 ] && rm -f "$policy"
  stop_packaged_services
  say "system packages installed"
}

check_default_ports_free() {
  # Nothing set-up started may hold the packages' default ports.
  local port busy=""
  for port in 80 3306 6379 9090 9093 9100 9104 9113 9121; do
    if ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then busy="$busy $port"; fi
  done
  if [ -n "$busy" ]; then
    stop_packaged_services
    busy=""
    for port in 80 3306 6379 9090 9093 9100 9104 9113 9121; do
      if ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then busy="$busy $port"; fi
    done
    [ -z "$busy" ] || say "warning: default ports still in use by something else:$busy (shoplab does not use them)"
  fi
}

install_python() {
  local stamp="$VENV/.shoplab-installed" want
  want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "python environment: up to date ($VENV)"
    return
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
  fi
  say "installing python dependencies (pinned by constraints.txt)"
  local log="$VENV/pip-install.log"
  if ! { "$VENV/bin/python" -m pip install --disable-pip-version-check --upgrade pip \
         && PIP_CONSTRAINT=constraints.txt "$VENV/bin/python" -m pip install \
              --disable-pip-version-check -e '.[dev]'; } >"$log" 2>&1; then
    grep -iE 'error|conflict' "$log" | tail -n 15 >&2
    die "pip install failed (full log: $log)"
  fi
  echo "$want" >"$stamp"
  say "python dependencies installed"
}

build_spring_shop() {
  # The Spring shop's jar (spring-shop/): shop/openapi.py's document into its resources, then
  # Maven (dependencies from the Java registry, cached in ~/.m2). Skipped while the sources,
  # the pom and the contract are what the last build saw.
  local jar=spring-shop/target/spring-shop.jar stamp=spring-shop/target/.shoplab-built want
  "$VENV/bin/python" spring-shop/write_openapi.py || die "could not write the Spring shop's openapi.json"
  want=$( { cat spring-shop/pom.xml spring-shop/target/generated-resources/openapi/openapi.json
            find spring-shop/src -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1)
  if [ -f "$jar" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "spring shop: up to date ($jar)"
    return
  fi
  say "building the Spring shop: mvn package -> $jar (Spring Boot 3.5.7; first run downloads to ~/.m2)"
  local log=spring-shop/target/mvn-package.log
  if ! (cd spring-shop && mvn -B -q package -DskipTests) >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "the Spring shop's build failed (full log: $log)"
  fi
  echo "$want" >"$stamp"
  say "spring shop built"
}

install_system_packages
still_missing=$(missing_commands | tr '\n' ' ')
[ -z "${still_missing// /}" ] || die "commands still missing after install: $still_missing"
check_default_ports_free
install_python
build_spring_shop
"$VENV/bin/k6" version >/dev/null 2>&1 || die "k6 is not runnable from $VENV/bin/k6"
mariadb_version=$(PATH="$PATH:/usr/sbin" mariadbd --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+-MariaDB' | head -1)
prometheus_version=$(prometheus --version 2>&1 | grep -oE 'version [0-9.]+' | head -1 | cut -d' ' -f2)
say "ready: $("$VENV/bin/k6" version | head -1 | cut -d' ' -f1-2), ${mariadb_version:-MariaDB ?}, Prometheus ${prometheus_version:-?}"
