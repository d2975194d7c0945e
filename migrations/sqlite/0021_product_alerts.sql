-- Back-in-stock alerts. Kept in step with the other dialect's 0021_product_alerts.sql.
--
-- A customer's alert is active at once; a guest's waits for a click on the link sent to the
-- address ('unconfirmed'). The background task sends an active alert's email when the product
-- can be bought again ('sent'); the customer or the unsubscribe link can cancel it first.
-- Only SHA-256 hashes of the links' secrets are kept.
CREATE TABLE product_alert (
    id INTEGER PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    customer_id BIGINT REFERENCES customer(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('unconfirmed', 'active', 'sent', 'cancelled')),
    confirm_hash TEXT UNIQUE,
    unsubscribe_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    confirmed_at TEXT,
    sent_at TEXT,
    cancelled_at TEXT
);
-- One open alert per product and address.
CREATE UNIQUE INDEX product_alert_open ON product_alert(product_id, email)
    WHERE status IN ('unconfirmed', 'active');
CREATE INDEX product_alert_due ON product_alert(status, product_id);
CREATE INDEX product_alert_customer ON product_alert(customer_id);
CREATE INDEX product_alert_email ON product_alert(email);
