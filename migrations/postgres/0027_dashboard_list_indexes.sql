-- Substring search in the dashboard (`LIKE '%…%'` on an order's email and shipping address,
-- on a product's title) reads every row without these; with them PostgreSQL answers from a
-- trigram index. They change no result. SQLite has no such index: the embedded default scans,
-- which is fast at the sizes it is for. tests/schema_parity.rs compares b-tree indexes only
-- for this reason.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX shop_order_email_trgm ON shop_order USING gin (email gin_trgm_ops);
CREATE INDEX shop_order_address_trgm ON shop_order USING gin (LOWER(shipping_address) gin_trgm_ops);
CREATE INDEX product_title_trgm ON product USING gin (LOWER(title) gin_trgm_ops);
-- A search for a whole email address is an equality (order::filter), newest first. In both
-- dialects.
CREATE INDEX shop_order_email ON shop_order(email, placed_at, id);
-- The order list's payment-state filter (order::filter::PaymentState) reads the payments in
-- that state from these, not every payment.
CREATE INDEX payment_source_authorised ON payment_source(order_id) WHERE debited_minor = 0 AND voided_minor = 0;
CREATE INDEX payment_source_captured ON payment_source(order_id) WHERE debited_minor > refunded_minor;
CREATE INDEX payment_source_refunded ON payment_source(order_id) WHERE refunded_minor > 0;
CREATE INDEX payment_source_voided ON payment_source(order_id) WHERE voided_minor > 0;
