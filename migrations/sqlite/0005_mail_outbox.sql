-- Outgoing email, queued in the same transaction as the write that causes it (an order's
-- confirmation is queued with the order) and sent later by the background sender.
-- Kept in step with migrations/postgres/0005_mail_outbox.sql; only the dialect differs.
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    -- NULL for a text-only message.
    body_html TEXT,
    -- e.g. 'order-confirmation:1001': the same key is never queued twice. NULL = no dedupe.
    dedupe_key TEXT UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    -- Delivery attempts made so far (successful or not).
    attempts INTEGER NOT NULL DEFAULT 0,
    -- RFC 3339 UTC; a pending message is not tried before this.
    next_attempt_at TEXT NOT NULL,
    -- A sender that claimed the row owns it until then (another host process leaves it alone).
    claimed_until TEXT,
    claimed_by TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at);
