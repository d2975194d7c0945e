-- Password resets: one row per emailed link. Only the SHA-256 of the link's token is kept,
-- so a copy of the database opens no account; a link works once (used_at) and until
-- expires_at. Rows are deleted with their customer.
CREATE TABLE password_reset (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX password_reset_customer ON password_reset(customer_id);
