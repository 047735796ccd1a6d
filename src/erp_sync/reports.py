"""Tables for engineers: recent runs with their counts and the API calls they spent, per vendor."""

from __future__ import annotations

import json

import pandas as pd

from erp_sync.store import Store


def recent_runs(store: Store, limit: int = 20) -> pd.DataFrame:
    """One row per run, oldest first; each vendor's API calls get a column of their own."""
    runs = pd.DataFrame(store.rows("recent_runs", limit=limit))
    if runs.empty:
        return runs
    calls = pd.json_normalize(runs["api_calls_json"].map(json.loads)).fillna(0).astype(int).add_prefix("calls_")
    table = pd.concat([runs[["id", "job", "integration", "status"]], calls], axis=1)
    table["seconds"] = (runs["finished_at"] - runs["started_at"]).dt.total_seconds().round(1)
    table["counts"] = runs["counts_json"].map(lambda text: ", ".join(f"{k}={v}" for k, v in json.loads(text).items()))
    table["error"] = runs["error"].fillna("")
    return table.sort_values("id").reset_index(drop=True)
