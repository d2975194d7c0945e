-- The address book: a default address for delivery and one for billing, chosen separately.
-- Kept in step with migrations/postgres/0019_address_book.sql; only the dialect differs.
--
-- The old single default was the address orders were delivered to and billed to (billing was
-- a copy of shipping then), so it becomes both defaults. At most one default of each kind per
-- customer is the database's rule (the partial unique indexes), not only the code's; rows from
-- before, which only the code kept to one default, are brought in line first.
UPDATE customer_address SET is_default = FALSE
WHERE is_default = TRUE
  AND id NOT IN (
      SELECT MAX(id) FROM customer_address WHERE is_default = TRUE GROUP BY customer_id
  );
ALTER TABLE customer_address RENAME COLUMN is_default TO is_default_shipping;
ALTER TABLE customer_address ADD COLUMN is_default_billing INTEGER NOT NULL DEFAULT FALSE;
UPDATE customer_address SET is_default_billing = is_default_shipping;
CREATE UNIQUE INDEX customer_address_default_shipping ON customer_address(customer_id)
    WHERE is_default_shipping = TRUE;
CREATE UNIQUE INDEX customer_address_default_billing ON customer_address(customer_id)
    WHERE is_default_billing = TRUE;

-- A redirect payment remembers the billing address too, so a provider's webhook places the
-- order the customer chose. NULL: billed to the shipping address (and rows from before).
ALTER TABLE pending_payment ADD COLUMN billing_address TEXT;
