# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export PATH := $(BIN):$(PATH)

.PHONY: demo test benchmark clean chromium

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

demo: $(STAMP)
	$(BIN)/python -m erp_sync.demo

# Two workers (pytest-xdist), each taking tests as it frees up; TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2

test: $(STAMP) chromium
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

# The browser tests drive Debian's Chromium (never a downloaded browser): installed here when missing and
# we are root; otherwise they skip and say why.
chromium:
	@if [ -x /usr/bin/chromium ]; then echo "Browser tests use /usr/bin/chromium."; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests."; \
		apt-get install -y chromium || (apt-get update && apt-get install -y chromium); \
	else echo "No /usr/bin/chromium and not root: the browser tests will skip (apt-get install chromium)."; fi

benchmark: $(STAMP)
	$(BIN)/python benchmarks/hourly_sync.py
	$(BIN)/python benchmarks/payment_import.py
	$(BIN)/python benchmarks/sage_sync.py
	$(BIN)/python benchmarks/api_budget.py
	$(BIN)/python benchmarks/quiet_hour.py
	$(BIN)/python benchmarks/ready_lines.py
	$(BIN)/python benchmarks/integrations_page.py
	$(BIN)/python benchmarks/dag_parse.py
	$(BIN)/python benchmarks/reconciliation.py
	$(BIN)/python benchmarks/reference_data.py
	$(BIN)/python benchmarks/document_lines.py

clean:
	rm -rf $(VENV) $(AIRFLOW_HOME)
