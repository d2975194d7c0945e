-- Wishlists (Oscar's wishlists app): a customer's named lists of products. `visibility` says
-- who else may read one: nobody ('private'), anyone holding its link ('shared'), anyone
-- ('public'). The link carries `share_key`, 128 random bits, never the id, so a shared list
-- can't be found by counting. One list per customer is the default that a product page adds
-- to when no list is chosen (the partial unique index makes creating it on first use
-- race-free). Lists and lines go with their customer.
CREATE TABLE wishlist (
    id INTEGER PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    visibility TEXT NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'shared', 'public')),
    share_key TEXT NOT NULL UNIQUE,
    is_default INTEGER NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX wishlist_customer ON wishlist(customer_id, id);
CREATE UNIQUE INDEX wishlist_default_per_customer ON wishlist(customer_id) WHERE is_default = TRUE;

-- A product on a list. The title is copied when added, so a line whose product was deleted
-- (product_id set to NULL) still says what it was.
CREATE TABLE wishlist_line (
    id INTEGER PRIMARY KEY,
    wishlist_id BIGINT NOT NULL REFERENCES wishlist(id) ON DELETE CASCADE,
    product_id BIGINT REFERENCES product(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    added_at TEXT NOT NULL,
    UNIQUE (wishlist_id, product_id)
);
CREATE INDEX wishlist_line_list ON wishlist_line(wishlist_id, id);
