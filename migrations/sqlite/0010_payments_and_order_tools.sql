-- Money actions staff take on an order's payment (capture, refund, void), one row per action
-- keyed by the idempotency key of the form that asked for it: a double submit finds the first
-- row instead of moving money twice. A row is 'pending' while the gateway is asked, then
-- 'succeeded' or 'failed' with the gateway's message. While pending, its amount is reserved on
-- the payment source (capturing/refunding/voiding), so two actions can never together take more
-- than was authorized or give back more than was captured. Kept in step with the other
-- dialect's 0010_payments_and_order_tools.sql; only the dialect differs.
CREATE TABLE payment_operation (
    id INTEGER PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE,
    source_id BIGINT NOT NULL REFERENCES payment_source(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('capture', 'refund', 'void')),
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    idempotency_key TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    -- The gateway's message for a failure (shown to staff), or how a pending one was settled.
    message TEXT NOT NULL DEFAULT '',
    -- JSON list of order line ids for a refund by line ('[]' otherwise).
    lines TEXT NOT NULL DEFAULT '[]',
    staff_id BIGINT REFERENCES staff_user(id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX payment_operation_order ON payment_operation(order_id, id);

-- Amounts reserved by pending operations, and what a void released for good.
ALTER TABLE payment_source ADD COLUMN capturing_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payment_source ADD COLUMN refunding_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payment_source ADD COLUMN voiding_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payment_source ADD COLUMN voided_minor BIGINT NOT NULL DEFAULT 0;

-- An order-list filter a staff member keeps under a name (the list's query string).
CREATE TABLE saved_order_filter (
    id INTEGER PRIMARY KEY,
    staff_id BIGINT NOT NULL REFERENCES staff_user(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (staff_id, name)
);

-- CSV exports made in the background: what was asked (the list's query string), how far it
-- got, and the file (under the data directory) once done.
CREATE TABLE export_job (
    id INTEGER PRIMARY KEY,
    staff_id BIGINT REFERENCES staff_user(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('orders')),
    query TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    total_rows BIGINT NOT NULL DEFAULT 0,
    done_rows BIGINT NOT NULL DEFAULT 0,
    file_name TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    -- Moved on after every batch: a running export that stops moving has died with its process.
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
