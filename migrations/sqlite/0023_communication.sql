-- Communication: the email history of an account, the in-site notifications inbox and staff
-- overrides of the theme's email templates. Kept in step with the other dialect's
-- 0023_communication.sql; only the dialect differs.

-- The account a message was sent for, set by the code that sends it (never matched by
-- address: an address alone proves nothing). An account's deletion removes its rows; the
-- foreign key only guards against a row outliving it.
ALTER TABLE mail_outbox ADD COLUMN customer_id BIGINT REFERENCES customer(id) ON DELETE SET NULL;
-- Whether the text body stays after delivery, for the account's email history: false for a
-- message with a secret link in it (a password reset, an email change, a guest's order link).
ALTER TABLE mail_outbox ADD COLUMN keep_body INTEGER NOT NULL DEFAULT FALSE;
CREATE INDEX mail_outbox_customer ON mail_outbox(customer_id, id);

-- A customer's in-site messages, written in the transaction of the event they report.
CREATE TABLE notification (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    -- A path on the shop (e.g. '/accounts/orders/100001/'), or NULL.
    link_url TEXT,
    -- e.g. 'order-placed:100001': the same event is never told twice. NULL = no dedupe.
    dedupe_key TEXT UNIQUE,
    created_at TEXT NOT NULL,
    read_at TEXT,
    archived_at TEXT
);
CREATE INDEX notification_customer ON notification(customer_id, id);
-- The header's unread count reads this index alone.
CREATE INDEX notification_unread ON notification(customer_id)
    WHERE read_at IS NULL AND archived_at IS NULL;

-- Staff edits of the theme's email templates, one row per file of a message
-- ('subject.txt', 'body.txt', 'body.html'); rendering uses a row before the theme's file.
CREATE TABLE email_template_override (
    template TEXT NOT NULL,
    file TEXT NOT NULL CHECK (file IN ('subject.txt', 'body.txt', 'body.html')),
    source TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (template, file)
);
