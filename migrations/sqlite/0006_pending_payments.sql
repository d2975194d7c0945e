-- Redirect payments in flight: written when the customer leaves for the provider's page, so a
-- provider's server-to-server notification (webhook) can place the order even if the customer
-- never comes back. Removed once the payment is decided (order placed, declined or voided).
-- Kept in step with the other dialect's 0006_pending_payments.sql; only the dialect differs.
CREATE TABLE pending_payment (
    id INTEGER PRIMARY KEY,
    gateway TEXT NOT NULL,
    -- The provider's payment id, from the gateway's redirect.
    reference TEXT NOT NULL,
    basket_id INTEGER NOT NULL REFERENCES basket(id) ON DELETE CASCADE,
    customer_id INTEGER REFERENCES customer(id) ON DELETE SET NULL,
    email TEXT NOT NULL,
    -- JSON: the shipping address and the chosen shipping method, as checkout had them.
    shipping_address TEXT NOT NULL,
    shipping_method TEXT NOT NULL,
    -- The basket's fingerprint then: a basket changed since is not ordered.
    fingerprint TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    -- scheme://host of the shop as the customer used it, for links in the confirmation email.
    site_url TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (gateway, reference)
);
