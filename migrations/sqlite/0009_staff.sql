-- Dashboard users. A staff user has one role; partner_scope rows (if any) restrict everything
-- they see and change to those partners' products, stock and orders. Kept in step with the
-- other dialect's 0009_staff.sql; only the dialect differs.
CREATE TABLE staff_user (
    id INTEGER PRIMARY KEY,
    -- Stored trimmed and lower-cased, like customer emails.
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'catalogue_manager', 'order_manager', 'read_only', 'partner')),
    is_active INTEGER NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    last_login_at TEXT
);

CREATE TABLE staff_partner (
    staff_id INTEGER NOT NULL REFERENCES staff_user(id) ON DELETE CASCADE,
    partner_id INTEGER NOT NULL REFERENCES partner(id) ON DELETE CASCADE,
    PRIMARY KEY (staff_id, partner_id)
);

-- Every staff write: who (kept as text too, so the entry outlives the account), what, when,
-- and the object before and after (JSON, NULL for a creation or a deletion).
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    staff_id INTEGER REFERENCES staff_user(id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX audit_log_object ON audit_log(object_type, object_id);
CREATE INDEX audit_log_created ON audit_log(created_at);

-- Notes staff keep on an order (shown on its timeline, never to the customer).
CREATE TABLE order_note (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE,
    staff_id INTEGER REFERENCES staff_user(id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX order_note_order ON order_note(order_id);
-- The dashboard's order list: newest first, optionally by status.
CREATE INDEX shop_order_placed ON shop_order(placed_at, id);
CREATE INDEX shop_order_status ON shop_order(status, placed_at, id);

-- Every change to a stock level made by hand, with the reason given (orders allocate and
-- release stock through num_allocated and are not listed here).
CREATE TABLE stock_adjustment (
    id INTEGER PRIMARY KEY,
    stock_record_id INTEGER NOT NULL REFERENCES stock_record(id) ON DELETE CASCADE,
    delta INTEGER NOT NULL,
    num_in_stock_after INTEGER NOT NULL,
    reason TEXT NOT NULL,
    staff_id INTEGER REFERENCES staff_user(id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX stock_adjustment_record ON stock_adjustment(stock_record_id);
