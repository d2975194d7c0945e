-- Catalogue, partners and stock. Kept in step with migrations/postgres/0001_catalogue.sql:
-- same tables, columns and indexes; only the dialect differs. Booleans are INTEGER 0/1 here
-- because sqlx's Any driver cannot map SQLite's BOOLEAN; code reads them with infra::db::flag.
-- Money is an integer count of the currency's minor units (never a float); timestamps are
-- RFC 3339 UTC text, which sorts correctly and reads the same in every backend.

CREATE TABLE product_class (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    requires_shipping INTEGER NOT NULL DEFAULT TRUE,
    track_stock INTEGER NOT NULL DEFAULT TRUE
);

CREATE TABLE attribute_option_group (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE attribute_option (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES attribute_option_group(id) ON DELETE CASCADE,
    option TEXT NOT NULL,
    UNIQUE (group_id, option)
);

CREATE TABLE product_attribute (
    id INTEGER PRIMARY KEY,
    product_class_id INTEGER NOT NULL REFERENCES product_class(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    code TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('text','integer','boolean','float','richtext','date',
                                       'datetime','option','multi_option','entity','file','image')),
    option_group_id INTEGER REFERENCES attribute_option_group(id),
    required INTEGER NOT NULL DEFAULT FALSE,
    UNIQUE (product_class_id, code)
);

CREATE TABLE category (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES category(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    -- "clothing/mens/shirts": the category's URL, unique across the tree.
    full_slug TEXT NOT NULL UNIQUE,
    -- Materialised path of 4-digit sibling positions ("00010003"): descendants share the prefix.
    path TEXT NOT NULL UNIQUE,
    depth INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_public INTEGER NOT NULL DEFAULT TRUE,
    UNIQUE (parent_id, slug)
);

CREATE TABLE product (
    id INTEGER PRIMARY KEY,
    structure TEXT NOT NULL CHECK (structure IN ('standalone','parent','child')),
    parent_id INTEGER REFERENCES product(id) ON DELETE CASCADE,
    product_class_id INTEGER REFERENCES product_class(id),
    upc TEXT UNIQUE,
    title TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_public INTEGER NOT NULL DEFAULT TRUE,
    is_discountable INTEGER NOT NULL DEFAULT TRUE,
    -- Higher first on the home page and in "featured" ordering.
    priority INTEGER NOT NULL DEFAULT 0,
    weight_grams INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((structure = 'child') = (parent_id IS NOT NULL)),
    CHECK (structure = 'child' OR product_class_id IS NOT NULL)
);
CREATE INDEX product_parent ON product(parent_id);
CREATE INDEX product_listing ON product(is_public, parent_id, created_at);

CREATE TABLE product_attribute_value (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    attribute_id INTEGER NOT NULL REFERENCES product_attribute(id) ON DELETE CASCADE,
    value_text TEXT,
    value_integer INTEGER,
    value_boolean INTEGER,
    value_float REAL,
    value_richtext TEXT,
    value_date TEXT,
    value_datetime TEXT,
    value_option_id INTEGER REFERENCES attribute_option(id),
    value_entity_type TEXT,
    value_entity_id INTEGER,
    value_file TEXT,
    UNIQUE (product_id, attribute_id)
);

CREATE TABLE product_attribute_value_option (
    value_id INTEGER NOT NULL REFERENCES product_attribute_value(id) ON DELETE CASCADE,
    option_id INTEGER NOT NULL REFERENCES attribute_option(id),
    PRIMARY KEY (value_id, option_id)
);

CREATE TABLE product_category (
    product_id INTEGER NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES category(id) ON DELETE CASCADE,
    PRIMARY KEY (product_id, category_id)
);
CREATE INDEX product_category_by_category ON product_category(category_id, product_id);

-- Purchase-time inputs such as engraving text.
CREATE TABLE product_option (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('text','integer','boolean','date','select')),
    required INTEGER NOT NULL DEFAULT FALSE,
    help_text TEXT NOT NULL DEFAULT '',
    sort_order INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE product_class_option (
    product_class_id INTEGER NOT NULL REFERENCES product_class(id) ON DELETE CASCADE,
    option_id INTEGER NOT NULL REFERENCES product_option(id) ON DELETE CASCADE,
    PRIMARY KEY (product_class_id, option_id)
);

CREATE TABLE product_product_option (
    product_id INTEGER NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    option_id INTEGER NOT NULL REFERENCES product_option(id) ON DELETE CASCADE,
    PRIMARY KEY (product_id, option_id)
);

CREATE TABLE product_image (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    -- Path relative to the media folder.
    original TEXT NOT NULL,
    caption TEXT NOT NULL DEFAULT '',
    display_order INTEGER NOT NULL DEFAULT 0,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);
CREATE INDEX product_image_order ON product_image(product_id, display_order);

CREATE TABLE product_recommendation (
    primary_id INTEGER NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    recommended_id INTEGER NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    ranking INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (primary_id, recommended_id),
    CHECK (primary_id <> recommended_id)
);

CREATE TABLE partner (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);

CREATE TABLE stock_record (
    id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    partner_id INTEGER NOT NULL REFERENCES partner(id) ON DELETE CASCADE,
    partner_sku TEXT NOT NULL,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    num_in_stock INTEGER NOT NULL DEFAULT 0 CHECK (num_in_stock >= 0),
    num_allocated INTEGER NOT NULL DEFAULT 0 CHECK (num_allocated >= 0),
    low_stock_threshold INTEGER,
    updated_at TEXT NOT NULL,
    UNIQUE (partner_id, partner_sku),
    UNIQUE (product_id, partner_id),
    -- Stock is never oversold: allocation can't exceed what is physically there.
    CHECK (num_allocated <= num_in_stock)
);
CREATE INDEX stock_record_product ON stock_record(product_id);
