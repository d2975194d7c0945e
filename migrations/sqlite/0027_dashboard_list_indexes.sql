-- PostgreSQL's 0027 also adds trigram indexes for the dashboard's substring searches. SQLite
-- has no such index; its searches scan, which is fast at the sizes the embedded default is
-- for. A search for a whole email address is an equality (order::filter), newest first:
CREATE INDEX shop_order_email ON shop_order(email, placed_at, id);
-- The order list's payment-state filter (order::filter::PaymentState) reads the payments in
-- that state from these, not every payment.
CREATE INDEX payment_source_authorised ON payment_source(order_id) WHERE debited_minor = 0 AND voided_minor = 0;
CREATE INDEX payment_source_captured ON payment_source(order_id) WHERE debited_minor > refunded_minor;
CREATE INDEX payment_source_refunded ON payment_source(order_id) WHERE refunded_minor > 0;
CREATE INDEX payment_source_voided ON payment_source(order_id) WHERE voided_minor > 0;
