-- The dashboard's product search of one or two characters matches the start of the title
-- (catalogue::manage::list::SHORT_QUERY): a range of this index instead of a read of every
-- title (the trigram index of 0027 needs three characters). text_pattern_ops, so `LIKE 'ab%'`
-- can use it whatever the database's collation. Kept in step with
-- migrations/sqlite/0029_product_title_prefix.sql.
CREATE INDEX product_title_prefix ON product (LOWER(title) text_pattern_ops);
