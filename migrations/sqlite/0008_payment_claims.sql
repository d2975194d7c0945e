-- Who holds each approved authorization: an order, or a void. An approval is recorded as
-- 'authorized' before anything else; the order's transaction moves it to 'ordered' and a void
-- to 'voiding' (then 'voided', or 'void_failed' after the retries), each only from
-- 'authorized'. The row is the one place that decision is taken, so a payment an order holds
-- is never voided, whichever of browser return, webhook or double submit gets there first.
-- Kept in step with the other dialect's 0008_payment_claims.sql; only the dialect differs.
CREATE TABLE payment_claim (
    gateway TEXT NOT NULL,
    -- The provider's id for the authorization.
    reference TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('authorized', 'ordered', 'voiding', 'voided', 'void_failed')),
    order_id BIGINT REFERENCES shop_order(id) ON DELETE SET NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    -- Void attempts so far, the last failure and when to try again (RFC 3339).
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    next_attempt_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (gateway, reference)
);
CREATE INDEX payment_claim_state ON payment_claim(state, next_attempt_at);
