-- Decision traces (issue 11): what a plugin was asked and answered, recorded when its trace
-- mode says so. Kept in step with migrations/postgres/0028_plugin_traces.sql.

-- Which calls of a plugin are recorded: 'off' (the default), 'sampled' (a share of baskets,
-- EMPORIUM_PLUGIN_TRACE_SAMPLE_PERCENT) or 'all'.
ALTER TABLE plugin_installed ADD COLUMN trace_mode TEXT NOT NULL DEFAULT 'off'
    CHECK (trace_mode IN ('off', 'sampled', 'all'));

-- One recorded call. Inputs are masked (no card data, no street lines, emails without their
-- local part) and the plugin's secrets scrubbed before a row is written. Not tied to
-- plugin_installed by a foreign key: the trace of a removed plugin still explains the orders
-- it priced. Bounded by age and total size (EMPORIUM_PLUGIN_TRACE_RETENTION_HOURS,
-- EMPORIUM_PLUGIN_TRACE_MAX_MB); the oldest rows go first.
CREATE TABLE plugin_trace (
    id INTEGER PRIMARY KEY,
    -- RFC 3339 UTC with milliseconds, fixed width, so text order is time order.
    recorded_at TEXT NOT NULL,
    plugin_id TEXT NOT NULL,
    plugin_version TEXT NOT NULL,
    world TEXT NOT NULL,
    -- The world function, as named in the WIT files ('quote', 'price', 'authorize', ...).
    call TEXT NOT NULL,
    basket_id BIGINT,
    order_number TEXT,
    payment_reference TEXT,
    input TEXT NOT NULL,
    -- The answer as JSON, or the error when the call failed (exactly one is set).
    output TEXT,
    error TEXT,
    duration_us BIGINT NOT NULL,
    fuel_used BIGINT,
    memory_peak_bytes BIGINT NOT NULL,
    -- Bytes of input + output + error, summed for the size bound.
    size_bytes BIGINT NOT NULL
);
CREATE INDEX plugin_trace_plugin ON plugin_trace(plugin_id, id);
CREATE INDEX plugin_trace_basket ON plugin_trace(basket_id) WHERE basket_id IS NOT NULL;
CREATE INDEX plugin_trace_order ON plugin_trace(order_number) WHERE order_number IS NOT NULL;
CREATE INDEX plugin_trace_reference ON plugin_trace(payment_reference)
    WHERE payment_reference IS NOT NULL;
CREATE INDEX plugin_trace_recorded ON plugin_trace(recorded_at);
