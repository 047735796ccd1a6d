-- name: roll_over_budget_window
-- The window's reset time has passed: a new window starts empty; its reset comes with the next answer.
UPDATE procore_budget
SET window_reset = NULL, remaining = rate_limit, sync_calls = 0, on_demand_calls = 0, updated_at = :now
WHERE conn_id = :conn_id AND window_reset <= :epoch;

-- name: lease_sync_calls
-- The sync stays inside its share and leaves the on-demand reserve untouched (what on-demand work
-- already spent of its reserve does not shrink the sync's share; what others spent does). Checked
-- and counted in one statement, so two workers never both take the last calls. (The reserve is
-- written as rate_limit - share * rate_limit: (1 - 0.7) * 100 is 30.000000000000004 in floating point.)
UPDATE procore_budget
SET sync_calls = sync_calls + :calls, remaining = remaining - :calls, updated_at = :now
WHERE conn_id = :conn_id
  AND sync_calls + :calls <= :share * rate_limit
  AND remaining + on_demand_calls - :calls >= rate_limit - :share * rate_limit;

-- name: lease_on_demand_calls
UPDATE procore_budget
SET on_demand_calls = on_demand_calls + :calls, remaining = remaining - :calls, updated_at = :now
WHERE conn_id = :conn_id;

-- name: return_sync_calls
-- A lease's unused calls go back to the window it was taken from (not to a later one).
UPDATE procore_budget
SET sync_calls = sync_calls - :calls, remaining = remaining + :calls, updated_at = :now
WHERE conn_id = :conn_id AND window_reset IS NOT DISTINCT FROM :reset AND sync_calls >= :calls;

-- name: return_on_demand_calls
UPDATE procore_budget
SET on_demand_calls = on_demand_calls - :calls, remaining = remaining + :calls, updated_at = :now
WHERE conn_id = :conn_id AND window_reset IS NOT DISTINCT FROM :reset AND on_demand_calls >= :calls;

-- name: start_budget_window
-- An answer from a window newer than the one kept (or the first answer ever): counting starts over.
INSERT INTO procore_budget (conn_id, window_reset, rate_limit, remaining, sync_calls, on_demand_calls, updated_at)
VALUES (:conn_id, :reset, :rate_limit, :remaining, :sync_calls, :on_demand_calls, :now)
ON CONFLICT (conn_id) DO UPDATE SET
    window_reset = excluded.window_reset,
    rate_limit = excluded.rate_limit,
    remaining = excluded.remaining,
    sync_calls = excluded.sync_calls,
    on_demand_calls = excluded.on_demand_calls,
    updated_at = excluded.updated_at
WHERE procore_budget.window_reset < excluded.window_reset;

-- name: note_budget_window
-- An answer from the current window: the lower remaining wins (answers arrive out of order).
UPDATE procore_budget
SET window_reset = :reset, rate_limit = :rate_limit,
    remaining = CASE WHEN :remaining < remaining THEN :remaining ELSE remaining END, updated_at = :now
WHERE conn_id = :conn_id AND (window_reset IS NULL OR window_reset = :reset);

-- name: budget_of_connection
SELECT conn_id, window_reset, rate_limit, remaining, sync_calls, on_demand_calls, updated_at
FROM procore_budget
WHERE conn_id = :conn_id;
