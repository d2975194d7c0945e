-- Offers and vouchers (issue 12): ranges, offers with a condition and a benefit, vouchers,
-- customer groups for user offers, and what an order keeps of the discounts it got. Kept in
-- step with migrations/postgres/0030_offers.sql; only the dialect differs.

-- Customers an offer of type 'user' is for.
CREATE TABLE customer_group (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE customer_group_member (
    group_id INTEGER NOT NULL REFERENCES customer_group(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL REFERENCES customer(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, customer_id)
);
CREATE INDEX customer_group_member_customer ON customer_group_member(customer_id);

-- The products a condition or a benefit covers: every product, or those included by product,
-- class or category (with its descendants), less those excluded. Products that are not
-- discountable are never in a range.
CREATE TABLE offer_range (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    includes_all INTEGER NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE offer_range_product (
    range_id INTEGER NOT NULL REFERENCES offer_range(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES product(id) ON DELETE CASCADE,
    -- Excluded wins over every inclusion.
    excluded INTEGER NOT NULL DEFAULT FALSE,
    PRIMARY KEY (range_id, product_id)
);
CREATE INDEX offer_range_product_product ON offer_range_product(product_id);
CREATE TABLE offer_range_class (
    range_id INTEGER NOT NULL REFERENCES offer_range(id) ON DELETE CASCADE,
    product_class_id INTEGER NOT NULL REFERENCES product_class(id) ON DELETE CASCADE,
    PRIMARY KEY (range_id, product_class_id)
);
CREATE TABLE offer_range_category (
    range_id INTEGER NOT NULL REFERENCES offer_range(id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES category(id) ON DELETE CASCADE,
    PRIMARY KEY (range_id, category_id)
);

CREATE TABLE offer (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    -- 'site': every basket; 'voucher': baskets holding one of its vouchers; 'user': signed-in
    -- customers of its groups; 'session': baskets a link or the API activated it for.
    offer_type TEXT NOT NULL CHECK (offer_type IN ('site', 'voucher', 'user', 'session')),
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'suspended', 'consumed')),
    -- RFC 3339 UTC; either may be open.
    starts_at TEXT,
    ends_at TEXT,
    -- Higher applies first.
    priority BIGINT NOT NULL DEFAULT 0,
    exclusive INTEGER NOT NULL DEFAULT TRUE,
    condition_kind TEXT NOT NULL CHECK (condition_kind IN ('count', 'value', 'coverage', 'plugin')),
    -- Units (count), minor units (value) or distinct products (coverage).
    condition_value BIGINT NOT NULL DEFAULT 0,
    condition_range_id INTEGER REFERENCES offer_range(id),
    -- The offer-condition plugin deciding a 'plugin' condition.
    condition_plugin TEXT,
    benefit_kind TEXT NOT NULL CHECK (benefit_kind IN ('percentage', 'absolute', 'fixed_unit_price',
        'multibuy', 'fixed_price', 'shipping_absolute', 'shipping_percentage', 'shipping_fixed_price')),
    -- Minor units, for the amount benefits.
    benefit_amount_minor BIGINT NOT NULL DEFAULT 0,
    -- A decimal number as text ('12.5'), for the percentage benefits.
    benefit_percent TEXT NOT NULL DEFAULT '0',
    benefit_range_id INTEGER REFERENCES offer_range(id),
    max_affected_items BIGINT,
    max_global_applications BIGINT,
    max_user_applications BIGINT,
    max_basket_applications BIGINT,
    -- Most discount the offer gives over all orders (minor units).
    max_discount_minor BIGINT,
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    -- Kept exact by the order's transaction (one UPDATE that checks the limits).
    num_applications BIGINT NOT NULL DEFAULT 0,
    num_orders BIGINT NOT NULL DEFAULT 0,
    total_discount_minor BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (condition_kind <> 'plugin' OR condition_plugin IS NOT NULL),
    CHECK (condition_kind = 'plugin' OR condition_range_id IS NOT NULL)
);
CREATE INDEX offer_live ON offer(offer_type, status);
-- Offers a non-exclusive offer may stack with; none listed: any other non-exclusive offer.
CREATE TABLE offer_combination (
    offer_id INTEGER NOT NULL REFERENCES offer(id) ON DELETE CASCADE,
    combines_with_id INTEGER NOT NULL REFERENCES offer(id) ON DELETE CASCADE,
    PRIMARY KEY (offer_id, combines_with_id)
);
CREATE TABLE offer_customer_group (
    offer_id INTEGER NOT NULL REFERENCES offer(id) ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES customer_group(id) ON DELETE CASCADE,
    PRIMARY KEY (offer_id, group_id)
);

-- Codes generated together (N unique codes with one prefix and one window).
CREATE TABLE voucher_set (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE voucher (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    -- Upper case; what the customer types is upper-cased before it is looked up.
    code TEXT NOT NULL UNIQUE,
    usage TEXT NOT NULL CHECK (usage IN ('single', 'multi', 'once_per_customer')),
    starts_at TEXT,
    ends_at TEXT,
    voucher_set_id INTEGER REFERENCES voucher_set(id) ON DELETE CASCADE,
    num_basket_additions BIGINT NOT NULL DEFAULT 0,
    num_orders BIGINT NOT NULL DEFAULT 0,
    total_discount_minor BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX voucher_set_member ON voucher(voucher_set_id);
CREATE TABLE voucher_offer (
    voucher_id INTEGER NOT NULL REFERENCES voucher(id) ON DELETE CASCADE,
    offer_id INTEGER NOT NULL REFERENCES offer(id) ON DELETE CASCADE,
    PRIMARY KEY (voucher_id, offer_id)
);
CREATE INDEX voucher_offer_offer ON voucher_offer(offer_id);
CREATE TABLE basket_voucher (
    basket_id INTEGER NOT NULL REFERENCES basket(id) ON DELETE CASCADE,
    voucher_id INTEGER NOT NULL REFERENCES voucher(id) ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (basket_id, voucher_id)
);
-- Session offers a basket was given (by a link or the API).
CREATE TABLE basket_session_offer (
    basket_id INTEGER NOT NULL REFERENCES basket(id) ON DELETE CASCADE,
    offer_id INTEGER NOT NULL REFERENCES offer(id) ON DELETE CASCADE,
    PRIMARY KEY (basket_id, offer_id)
);
-- A voucher used by an order.
CREATE TABLE voucher_application (
    id INTEGER PRIMARY KEY,
    voucher_id INTEGER NOT NULL REFERENCES voucher(id) ON DELETE CASCADE,
    order_id INTEGER NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE,
    customer_id INTEGER REFERENCES customer(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    UNIQUE (voucher_id, order_id)
);
CREATE INDEX voucher_application_customer ON voucher_application(voucher_id, customer_id);

-- What an order got from each offer, with what the offer and voucher were then.
CREATE TABLE order_discount (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES shop_order(id) ON DELETE CASCADE,
    offer_id INTEGER REFERENCES offer(id) ON DELETE SET NULL,
    offer_name TEXT NOT NULL,
    -- JSON: the offer's condition, benefit and limits as they were.
    offer_snapshot TEXT NOT NULL,
    voucher_id INTEGER REFERENCES voucher(id) ON DELETE SET NULL,
    voucher_code TEXT,
    category TEXT NOT NULL CHECK (category IN ('basket', 'shipping')),
    amount_incl_minor BIGINT NOT NULL CHECK (amount_incl_minor >= 0),
    amount_excl_minor BIGINT NOT NULL CHECK (amount_excl_minor >= 0),
    applications BIGINT NOT NULL,
    -- Customer-facing description ("3 for 2 on books").
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX order_discount_order ON order_discount(order_id);
CREATE INDEX order_discount_offer ON order_discount(offer_id);
CREATE TABLE order_line_discount (
    order_line_id INTEGER NOT NULL REFERENCES order_line(id) ON DELETE CASCADE,
    order_discount_id INTEGER NOT NULL REFERENCES order_discount(id) ON DELETE CASCADE,
    amount_incl_minor BIGINT NOT NULL CHECK (amount_incl_minor >= 0),
    amount_excl_minor BIGINT NOT NULL CHECK (amount_excl_minor >= 0),
    quantity BIGINT NOT NULL,
    PRIMARY KEY (order_line_id, order_discount_id)
);
-- discount_minor (0004) is the whole discount incl. tax, shipping discounts included; its
-- excl.-tax twin keeps total_excl = lines_excl + shipping_excl - discount_excl.
ALTER TABLE shop_order ADD COLUMN discount_excl_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_line ADD COLUMN discount_incl_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_line ADD COLUMN discount_excl_minor BIGINT NOT NULL DEFAULT 0;

-- Bumped by every write to the offers' rules (offers, ranges, vouchers, groups), in the
-- write's transaction: each process keeps the rules it read under this number and reads them
-- again when it moves, so a change reaches every process at the next priced basket. Usage
-- counters are not rules: they are always read fresh.
CREATE TABLE offer_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO offer_generation (id, generation) VALUES (1, 0);
