-- Address book, orders, their lines, payments and events. Kept in step with
-- migrations/postgres/0004_orders.sql; only the dialect differs.
-- An order copies everything it shows (titles, SKUs, prices, addresses): it never joins to a
-- product or a stock record to display itself, so later catalogue edits don't rewrite history.

CREATE TABLE customer_address (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    line1 TEXT NOT NULL,
    line2 TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '',
    postcode TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL CHECK (length(country) = 2),
    phone TEXT NOT NULL DEFAULT '',
    -- Digest of the normalised fields: the same address is saved once per customer.
    fingerprint TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    UNIQUE (customer_id, fingerprint)
);

CREATE TABLE shop_order (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    -- One order per basket: placing the same checkout twice finds the first order.
    basket_id INTEGER NOT NULL UNIQUE REFERENCES basket(id),
    customer_id INTEGER REFERENCES customer(id) ON DELETE SET NULL,
    email TEXT NOT NULL,
    -- SHA-256 (hex) of the secret in a guest's order link; the link itself is never stored.
    guest_token_hash TEXT,
    status TEXT NOT NULL,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    lines_excl_minor INTEGER NOT NULL,
    lines_incl_minor INTEGER NOT NULL,
    -- Offers (a later issue) write here; total = lines + shipping - discount.
    discount_minor INTEGER NOT NULL DEFAULT 0,
    shipping_excl_minor INTEGER NOT NULL,
    shipping_incl_minor INTEGER NOT NULL,
    total_excl_minor INTEGER NOT NULL,
    total_incl_minor INTEGER NOT NULL,
    shipping_plugin TEXT NOT NULL,
    shipping_code TEXT NOT NULL,
    shipping_name TEXT NOT NULL,
    -- JSON object: name, line1, line2, city, state, postcode, country, phone.
    shipping_address TEXT NOT NULL,
    billing_address TEXT NOT NULL,
    placed_at TEXT NOT NULL,
    CHECK (total_incl_minor >= 0 AND total_excl_minor >= 0)
);
CREATE INDEX shop_order_customer ON shop_order(customer_id, placed_at);

CREATE TABLE order_line (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE,
    product_id INTEGER REFERENCES product(id) ON DELETE SET NULL,
    stock_record_id INTEGER REFERENCES stock_record(id) ON DELETE SET NULL,
    partner_name TEXT NOT NULL,
    partner_sku TEXT NOT NULL,
    title TEXT NOT NULL,
    upc TEXT,
    -- JSON list of {code, name, value}.
    options TEXT NOT NULL DEFAULT '[]',
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_excl_minor INTEGER NOT NULL,
    unit_incl_minor INTEGER NOT NULL,
    line_excl_minor INTEGER NOT NULL,
    line_incl_minor INTEGER NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX order_line_order ON order_line(order_id);

CREATE TABLE order_status_change (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE,
    old_status TEXT NOT NULL,
    new_status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX order_status_change_order ON order_status_change(order_id);

-- Where the money comes from: one row per gateway used for the order.
CREATE TABLE payment_source (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE,
    plugin_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    currency TEXT NOT NULL,
    allocated_minor INTEGER NOT NULL DEFAULT 0,
    debited_minor INTEGER NOT NULL DEFAULT 0,
    refunded_minor INTEGER NOT NULL DEFAULT 0,
    -- e.g. "Visa ending 4242"; never a full card number.
    label TEXT NOT NULL DEFAULT ''
);
CREATE INDEX payment_source_order ON payment_source(order_id);

CREATE TABLE payment_event (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('authorise', 'capture', 'refund', 'void')),
    amount_minor INTEGER NOT NULL,
    reference TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX payment_event_order ON payment_event(order_id);

CREATE TABLE shipping_event (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    -- JSON list of {line_id, quantity}.
    lines TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX shipping_event_order ON shipping_event(order_id);
