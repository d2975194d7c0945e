-- Sessions, customer accounts and baskets. Kept in step with
-- migrations/postgres/0002_sessions_customers_baskets.sql; only the dialect differs.

-- Server-side session data when no Redis is configured. `key` is the SHA-256 (hex) of the
-- session id in the cookie, so a leaked table does not hand out live sessions.
CREATE TABLE web_session (
    key TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    -- Unix seconds; expired rows are ignored on read and deleted by a periodic sweep.
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_session_expiry ON web_session(expires_at);

CREATE TABLE customer (
    id INTEGER PRIMARY KEY,
    -- Stored trimmed and lower-cased; uniqueness is the database's job.
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    last_login_at TEXT
);

CREATE TABLE basket (
    id INTEGER PRIMARY KEY,
    -- NULL for an anonymous basket (found through the session data).
    owner_id INTEGER REFERENCES customer(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'merged', 'frozen', 'submitted')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- One open basket per customer.
CREATE UNIQUE INDEX basket_open_per_owner ON basket(owner_id)
    WHERE status = 'open' AND owner_id IS NOT NULL;

CREATE TABLE basket_line (
    id INTEGER PRIMARY KEY,
    basket_id INTEGER NOT NULL REFERENCES basket(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    stock_record_id INTEGER REFERENCES stock_record(id) ON DELETE SET NULL,
    -- Product id plus a digest of the chosen options: the same product with other options is
    -- another line.
    line_reference TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    -- JSON list of {code, name, value}.
    options TEXT NOT NULL DEFAULT '[]',
    -- The unit price the customer saw when adding, in minor units of `currency`.
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    price_excl_tax_minor INTEGER NOT NULL,
    price_incl_tax_minor INTEGER NOT NULL,
    -- Saved for later: kept with the basket but not bought.
    is_saved INTEGER NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (basket_id, line_reference, is_saved)
);
CREATE INDEX basket_line_basket ON basket_line(basket_id);
