-- Product reviews and their helpfulness votes. Kept in step with the other dialect's
-- 0022_product_reviews.sql.
--
-- A review belongs to a product a listing shows (a standalone or parent product: a variant's
-- page shows its parent's reviews). A customer writes at most one per product; a guest's
-- (only when anonymous reviews are allowed) keeps the address typed, for the moderators and
-- never shown. Only approved reviews are shown and counted in the product's rating, which
-- product.rating_count and product.rating_sum keep (whole numbers: the average is worked
-- out when shown), recounted from this table in every transaction that changes it.
CREATE TABLE product_review (
    id INTEGER PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    customer_id BIGINT REFERENCES customer(id) ON DELETE CASCADE,
    guest_email TEXT,
    name TEXT NOT NULL,
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    -- The author had bought the product (an order of theirs has it) when writing.
    verified_purchase INTEGER NOT NULL DEFAULT FALSE,
    helpful_count BIGINT NOT NULL DEFAULT 0,
    unhelpful_count BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    moderated_at TEXT,
    CHECK ((customer_id IS NULL) <> (guest_email IS NULL))
);
CREATE UNIQUE INDEX product_review_one_per_customer ON product_review(product_id, customer_id)
    WHERE customer_id IS NOT NULL;
CREATE INDEX product_review_shown ON product_review(product_id, status, helpful_count);
CREATE INDEX product_review_queue ON product_review(status, created_at);
CREATE INDEX product_review_customer ON product_review(customer_id);

-- One vote per signed-in customer and review; voting again changes it.
CREATE TABLE review_vote (
    review_id BIGINT NOT NULL REFERENCES product_review(id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    helpful INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (review_id, customer_id)
);
CREATE INDEX review_vote_customer ON review_vote(customer_id);

ALTER TABLE product ADD COLUMN rating_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE product ADD COLUMN rating_sum BIGINT NOT NULL DEFAULT 0;
