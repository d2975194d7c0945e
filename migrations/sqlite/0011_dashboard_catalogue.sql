-- The dashboard's product list: newest first among top-level products (or children), by class
-- or by structure, read from an index however deep the page. Kept in step with the other
-- dialect's 0011_dashboard_catalogue.sql.
CREATE INDEX product_dashboard ON product(parent_id, id);
CREATE INDEX product_dashboard_class ON product(product_class_id, id);
CREATE INDEX product_dashboard_structure ON product(structure, id);
-- A partner user's products are found from their stock records.
CREATE INDEX stock_record_partner ON stock_record(partner_id, product_id);
