-- Storefront analytics (Oscar's analytics app): counters the recorder adds to in batches, off
-- the request path. Per product and UTC day (views, basket additions, units bought), so a
-- report sums a date range without reading raw events; per customer (Oscar's UserRecord);
-- per search query and day, with the result count of its latest search. No foreign keys: a
-- batch must not fail because a product went meanwhile; reports join to what still exists.
-- Kept in step with the other dialect's 0015_analytics.sql.
CREATE TABLE analytics_product_day (
    product_id BIGINT NOT NULL,
    -- `YYYY-MM-DD` (UTC).
    day TEXT NOT NULL,
    num_views BIGINT NOT NULL DEFAULT 0,
    num_basket_additions BIGINT NOT NULL DEFAULT 0,
    -- Units bought in placed orders.
    num_purchases BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (product_id, day)
);
CREATE INDEX analytics_product_day_day ON analytics_product_day(day);

CREATE TABLE analytics_customer (
    customer_id BIGINT NOT NULL PRIMARY KEY,
    num_product_views BIGINT NOT NULL DEFAULT 0,
    num_basket_additions BIGINT NOT NULL DEFAULT 0,
    num_orders BIGINT NOT NULL DEFAULT 0,
    num_searches BIGINT NOT NULL DEFAULT 0,
    last_seen_at TEXT NOT NULL
);

CREATE TABLE analytics_search_day (
    -- Trimmed, lower-cased, inner spaces collapsed.
    query TEXT NOT NULL,
    day TEXT NOT NULL,
    num_searches BIGINT NOT NULL DEFAULT 0,
    num_zero_results BIGINT NOT NULL DEFAULT 0,
    last_results BIGINT NOT NULL DEFAULT 0,
    last_searched_at TEXT NOT NULL,
    PRIMARY KEY (query, day)
);
CREATE INDEX analytics_search_day_day ON analytics_search_day(day);
