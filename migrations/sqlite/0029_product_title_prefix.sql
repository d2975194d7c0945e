-- The dashboard's product search of one or two characters matches the start of the title
-- (catalogue::manage::list::SHORT_QUERY). Kept in step with
-- migrations/postgres/0029_product_title_prefix.sql, which makes it a range of this index.
CREATE INDEX product_title_prefix ON product (LOWER(title));
