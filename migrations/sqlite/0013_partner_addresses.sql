-- A partner's address (where its stock ships from; shown to staff), as a JSON object like an
-- order's addresses: name, line1, line2, city, state, postcode, country, phone. NULL until
-- staff enter one. Kept in step with the other dialect's 0013_partner_addresses.sql.
ALTER TABLE partner ADD COLUMN address TEXT;
