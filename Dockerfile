# The image every Airflow service of docker-compose.yaml runs: Airflow plus the pinned requirements.
# The project itself is mounted at /opt/erp-sync and found through PYTHONPATH.
FROM apache/airflow:3.3.2-python3.11 AS cloud
COPY requirements.txt constraints.txt /tmp/erp-sync/
RUN pip install --no-cache-dir -r /tmp/erp-sync/requirements.txt -c /tmp/erp-sync/constraints.txt
ENV PYTHONPATH=/opt/erp-sync/src:/opt/erp-sync/plugins:/opt/erp-sync

# The on-premises worker (service airflow-worker-sage-onprem) reaches Sage over ODBC: the Microsoft
# ODBC driver for SQL Server (Sage 100 Contractor) and pyodbc. The Sage 300 CRE ODBC driver is
# Windows-only: at sites with Sage 300 CRE the worker runs on a Windows host of the contractor's
# network (see README, "On-premises ERPs").
FROM apache/airflow:3.3.2-python3.11 AS onprem
USER root
RUN apt-get update && apt-get install -y --no-install-recommends curl gnupg unixodbc \
 && curl -fsSL https://packages.microsoft.com/keys/microsoft.asc | gpg --dearmor -o /usr/share/keyrings/microsoft.gpg \
 && echo "deb [signed-by=/usr/share/keyrings/microsoft.gpg] https://packages.microsoft.com/debian/12/prod bookworm main" \
    > /etc/apt/sources.list.d/mssql.list \
 && apt-get update && ACCEPT_EULA=Y apt-get install -y --no-install-recommends msodbcsql18 \
 && rm -rf /var/lib/apt/lists/*
USER airflow
COPY requirements.txt requirements-onprem.txt constraints.txt /tmp/erp-sync/
RUN pip install --no-cache-dir -r /tmp/erp-sync/requirements.txt -r /tmp/erp-sync/requirements-onprem.txt \
    -c /tmp/erp-sync/constraints.txt
ENV PYTHONPATH=/opt/erp-sync/src:/opt/erp-sync/plugins:/opt/erp-sync
