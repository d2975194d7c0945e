-- Account identity: sessions know their customer, and email changes wait for confirmation.
-- Kept in step with the other dialect's 0018_account_identity.sql.

-- The customer signed in with a session (NULL for a visitor), so that a password change, a
-- switched-off account or a deleted one can end every session of that customer. No foreign
-- key: ending sessions is done on purpose, never by a cascade.
ALTER TABLE web_session ADD COLUMN customer_id BIGINT;
CREATE INDEX web_session_customer ON web_session(customer_id);

-- A change of email address, waiting for a click on the link sent to the new address. Only
-- the SHA-256 of the link's token is kept; a link works once (used_at) and until expires_at.
CREATE TABLE email_change (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    new_email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX email_change_customer ON email_change(customer_id);
