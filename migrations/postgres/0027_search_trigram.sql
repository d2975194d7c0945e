-- Substring search in the dashboard (`LIKE '%…%'` on an order's email and shipping address,
-- on a product's title) reads every row without these; with them PostgreSQL answers from a
-- trigram index. They change no result. SQLite has no such index (its 0027 is empty): the
-- embedded default scans, which is fast at the sizes it is for. tests/schema_parity.rs compares
-- b-tree indexes only for this reason.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX shop_order_email_trgm ON shop_order USING gin (email gin_trgm_ops);
CREATE INDEX shop_order_address_trgm ON shop_order USING gin (LOWER(shipping_address) gin_trgm_ops);
CREATE INDEX product_title_trgm ON product USING gin (LOWER(title) gin_trgm_ops);
