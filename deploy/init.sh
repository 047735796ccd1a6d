#!/usr/bin/env bash
# Prepares the production shape before its long-running services start: Airflow's metadata schema,
# one pool per vendor, the status store's schema. Every step can run again (upgrades keep data).
# docker-compose.yaml runs it as the airflow-init service; the native production-shape test runs it too.
set -euo pipefail
cd "$(dirname "$0")/.."
airflow db migrate
airflow pools import include/pools.json
python -m erp_sync upgrade
