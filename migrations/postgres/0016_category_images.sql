-- One image per category, uploaded, replaced and deleted from the dashboard's category page
-- and shown on the storefront's category page. The file lives in the media store under its
-- content hash, like a product image's (the same file may serve both: a file leaves the store
-- only when neither table names it).
CREATE TABLE category_image (
    category_id BIGINT PRIMARY KEY REFERENCES category(id) ON DELETE CASCADE,
    -- Its name in the media store (`images/…`).
    original TEXT NOT NULL,
    -- The alt text and caption.
    caption TEXT NOT NULL DEFAULT '',
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX category_image_original ON category_image(original);
CREATE INDEX product_image_original ON product_image(original);
