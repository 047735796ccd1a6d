# The image every Airflow service of docker-compose.yaml runs: Airflow plus the pinned requirements.
# The project itself is mounted at /opt/erp-sync and found through PYTHONPATH.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt constraints.txt /tmp/erp-sync/
RUN pip install --no-cache-dir -r /tmp/erp-sync/requirements.txt -c /tmp/erp-sync/constraints.txt
ENV PYTHONPATH=/opt/erp-sync/src:/opt/erp-sync/plugins:/opt/erp-sync
