"""DAG parse benchmark: how long each DAG file takes to parse in a fresh interpreter, as the DAG
processor parses it (Airflow's guideline: well under a second; nothing may be done at import time,
which tests/test_dags.py holds).

    make benchmark
    .venv/bin/python benchmarks/dag_parse.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

DAGS = Path(__file__).resolve().parents[1] / "dags"
CODE = ("import sys, time; from airflow.dag_processing.dagbag import DagBag; t = time.perf_counter(); "
        "bag = DagBag(dag_folder=sys.argv[1]); print(time.perf_counter() - t); sys.exit(1 if bag.import_errors else 0)")


def main() -> None:
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="erp-sync-bench-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    print("## DAG files parsed one by one, each in a fresh interpreter (Airflow imported first)")
    for path in sorted(DAGS.glob("*.py")):
        result = subprocess.run([sys.executable, "-c", CODE, str(path)], capture_output=True, text=True, check=True)
        seconds = float(result.stdout.strip().splitlines()[-1])
        print(f"- {path.name}: {seconds:.2f} s{'' if seconds < 1 else '  (over the 1 s guideline)'}")


if __name__ == "__main__":
    main()
