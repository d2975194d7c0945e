//! The dashboard's catalogue over HTTP against the real app, on SQLite and PostgreSQL: the
//! product list (search, filters, pages, partner scope), creating and editing products of
//! every structure with their class's attributes and their stock records, the category tree,
//! and bulk actions; each checked in the storefront too (an edit shows at once) and in the
//! audit log, with who may do what (read-only: 403; another partner's user: 404, nothing
//! changed).

mod support;

use emporium::catalogue::attributes::AttributeKind;
use emporium::fixtures::{
    AttributeSpec, CategoryBuilder, ClassBuilder, PartnerBuilder, ProductBuilder,
};
use emporium::partner::Partner;
use emporium::staff::Role;
use sqlx::Row;
use support::staff::add_staff;
use support::{Backend, Browser, Page, TestApp};

const LIST: &str = "/dashboard/catalogue/";
const NEW: &str = "/dashboard/catalogue/products/new/";
const BULK: &str = "/dashboard/catalogue/bulk/";
const CATEGORIES: &str = "/dashboard/catalogue/categories/";

/// `text` as the templates write it inside HTML (minijinja escapes `/` too).
fn html(text: &str) -> String {
    text.replace('/', "&#x2f;")
}

fn product_page(id: i64) -> String {
    format!("/dashboard/catalogue/products/{id}/")
}

/// A browser signed in to the dashboard as a new staff user with `role`.
async fn staff_browser(app: &TestApp, email: &str, role: Role, partners: &[&str]) -> Browser {
    add_staff(app, email, role, partners).await;
    support::staff::staff_browser(app, email).await
}

async fn admin(app: &TestApp) -> Browser {
    staff_browser(app, "admin@example.com", Role::Admin, &[]).await
}

async fn token(b: &Browser) -> String {
    b.get("/dashboard/").await.csrf_token().unwrap()
}

/// Posts `form` with the browser's CSRF token.
async fn post(b: &Browser, path: &str, form: &[(&str, &str)]) -> Page {
    let t = token(b).await;
    let mut all = vec![("csrf_token", t.as_str())];
    all.extend_from_slice(form);
    b.post(path, &all).await
}

async fn partner(app: &TestApp, code: &str) -> Partner {
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    PartnerBuilder::new()
        .code(code)
        .name(&format!("Partner {code}"))
        .create_in(&mut conn)
        .await
        .unwrap()
}

/// The id at the end of a `/dashboard/catalogue/products/{id}/` redirect.
fn created_id(page: &Page) -> i64 {
    assert_eq!(page.status, 303, "{}", page.body);
    let to = page.location.as_deref().unwrap();
    to.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("not a product page: {to}"))
}

async fn count(app: &TestApp, sql: &str, id: i64) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn text(app: &TestApp, sql: &str, id: i64) -> String {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

/// Audit entries about `object_type` `id` whose action starts with `action`.
async fn audits(app: &TestApp, action: &str, object_type: &str, id: i64) -> i64 {
    sqlx::query(
        "SELECT COUNT(*) FROM audit_log WHERE action LIKE $1 AND object_type = $2 AND object_id = $3",
    )
    .bind(format!("{action}%"))
    .bind(object_type)
    .bind(id.to_string())
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
    .try_get(0)
    .unwrap()
}

/// The storefront address of product `id` (its canonical slug).
async fn storefront_url(app: &TestApp, id: i64) -> String {
    let slug = text(app, "SELECT slug FROM product WHERE id = $1", id).await;
    format!("/catalogue/{slug}_{id}/")
}

/// A class with a required whole-number attribute, an optional colour and a rich-text note.
async fn book_class(app: &TestApp) -> emporium::fixtures::CreatedClass {
    ClassBuilder::new()
        .name("Catalogue test book")
        .attribute(AttributeSpec::new("pages", "Pages", AttributeKind::Integer).required())
        .attribute(
            AttributeSpec::new("colour", "Colour", AttributeKind::Option).choices(&["Red", "Blue"]),
        )
        .attribute(
            AttributeSpec::new("tags", "Tags", AttributeKind::MultiOption)
                .choices(&["New", "Signed", "Sale"]),
        )
        .create(&app.state.db)
        .await
        .unwrap()
}

both_backends!(
    the_product_list_searches_filters_and_pages,
    |app: TestApp| async move {
        let class = book_class(&app).await;
        let dune = ProductBuilder::new()
            .class(&class)
            .title("Dune Messiah")
            .upc("978-0441172696")
            .attribute("pages", "256")
            .create(&app.state.db)
            .await
            .unwrap();
        let parent = ProductBuilder::parent()
            .class(&class)
            .title("Dune box set")
            .attribute("pages", "900")
            .variant(ProductBuilder::new().title("Dune box set – hardback"))
            .create(&app.state.db)
            .await
            .unwrap();
        let b = admin(&app).await;
        let home = b.get("/dashboard/").await;
        assert!(
            home.body
                .contains(&format!("href=\"{}\"", html("/dashboard/catalogue/"))),
            "the menu has Catalogue"
        );

        let all = b.get(LIST).await;
        assert_eq!(all.status, 200, "{}", all.body);
        // The demo's top-level products and the two here, 50 a page, newest first.
        let total = app
            .scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM product WHERE parent_id IS NULL")
            .await;
        let num_pages = (total + 49) / 50;
        assert!(num_pages >= 2, "the demo fills more than a page");
        assert!(
            all.body.contains(&format!("{total} products")),
            "{}",
            all.body
        );
        assert!(all.body.find("Dune box set").unwrap() < all.body.find("Dune Messiah").unwrap());
        assert!(all.body.contains(&format!("Page 1 of {num_pages}")));
        let last = b
            .get(&format!("/dashboard/catalogue/?page={num_pages}"))
            .await;
        assert_eq!(last.status, 200);
        assert!(
            last.body
                .contains(&format!("Page {num_pages} of {num_pages}"))
                && !last.body.contains("Dune")
        );
        assert_eq!(b.get("/dashboard/catalogue/?page=x").await.status, 400);

        let found = b.get("/dashboard/catalogue/?q=dune").await;
        assert!(found.body.contains("2 products"), "{}", found.body);
        // One or two characters match the start of a title; three or more, any part of it.
        let dune_row = format!("data-product=\"{}\"", dune.id);
        assert!(
            b.get("/dashboard/catalogue/?q=Du")
                .await
                .body
                .contains(&dune_row)
        );
        assert!(
            !b.get("/dashboard/catalogue/?q=un")
                .await
                .body
                .contains(&dune_row)
        );
        assert!(
            b.get("/dashboard/catalogue/?q=une")
                .await
                .body
                .contains(&dune_row)
        );
        let by_upc = b.get("/dashboard/catalogue/?q=978-0441172696").await;
        assert!(by_upc.body.contains("1 product<"), "{}", by_upc.body);
        assert!(
            by_upc
                .body
                .contains(&format!("data-product=\"{}\"", dune.id))
        );
        let by_class = b
            .get(&format!("/dashboard/catalogue/?class={}", class.id))
            .await;
        assert!(by_class.body.contains("2 products"), "{}", by_class.body);
        let parents = b
            .get(&format!(
                "/dashboard/catalogue/?class={}&structure=parent",
                class.id
            ))
            .await;
        assert!(
            parents
                .body
                .contains(&format!("data-product=\"{}\"", parent.id))
        );
        assert!(
            !parents
                .body
                .contains(&format!("data-product=\"{}\"", dune.id))
        );
        let variants = b
            .get(&format!(
                "/dashboard/catalogue/?class={}&structure=child",
                class.id
            ))
            .await;
        assert!(
            variants
                .body
                .contains(&format!("data-product=\"{}\"", parent.variants[0].id)),
            "{}",
            variants.body
        );
        assert!(variants.body.contains("variant of Dune box set"));
        // Wildcards are literal.
        assert!(
            b.get("/dashboard/catalogue/?q=%25")
                .await
                .body
                .contains("0 products")
        );
        assert_eq!(b.get("/dashboard/catalogue/?structure=x").await.status, 400);
    }
);

both_backends!(
    a_product_created_in_the_dashboard_is_in_the_shop_and_edits_show_at_once,
    |app: TestApp| async move {
        let class = book_class(&app).await;
        let category = CategoryBuilder::new()
            .name("Science fiction")
            .create(&app.state.db)
            .await
            .unwrap();
        let supplier = partner(&app, "north").await;
        let b = admin(&app).await;
        let chooser = b.get(NEW).await;
        assert_eq!(chooser.status, 200);
        assert!(chooser.body.contains(&format!("value=\"{}\"", class.id)));
        let form = b
            .get(&format!("{NEW}?class={}&structure=standalone", class.id))
            .await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(
            form.body.contains("name=\"attr_pages\""),
            "the class's attributes"
        );
        assert!(form.body.contains("name=\"attr_colour\""));
        let class_id = class.id.to_string();
        let category_id = category.id.to_string();
        let partner_id = supplier.id.to_string();
        let created = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "standalone"),
                ("title", "The Left Hand of Darkness"),
                ("upc", "LHD-1"),
                (
                    "description",
                    "<p>A <strong>classic</strong>.<script>alert('x')</script></p>",
                ),
                ("is_public", "1"),
                ("categories", &category_id),
                ("attr_pages", "304"),
                ("attr_colour", "Blue"),
                ("attr_tags", "New"),
                ("attr_tags", "Signed"),
                ("stock_partner", &partner_id),
                ("stock_sku", "N-LHD"),
                ("stock_price", "9.99"),
                ("stock_num_in_stock", "7"),
            ],
        )
        .await;
        let id = created_id(&created);
        let edit = b.get(&product_page(id)).await;
        assert_eq!(edit.status, 200, "{}", edit.body);
        assert!(edit.body.contains("The product was added."));
        assert!(
            edit.body.contains(&format!(
                "href=\"{}\"",
                html(&format!("/dashboard/catalogue/products/{id}/images/"))
            )),
            "the Images link"
        );
        assert!(edit.body.contains("value=\"N-LHD\""), "the stock record");

        let url = storefront_url(&app, id).await;
        assert_eq!(url, format!("/catalogue/the-left-hand-of-darkness_{id}/"));
        let (status, shop) = app.get(&url).await;
        assert_eq!(status, 200, "{shop}");
        assert!(shop.contains("The Left Hand of Darkness"));
        assert!(
            shop.contains("<strong>classic</strong>"),
            "rich text is kept"
        );
        assert!(!shop.contains("alert("), "and scripts are not");
        assert!(shop.contains("304") && shop.contains("Blue"));
        assert!(
            shop.contains("New, Signed") || shop.contains("Signed, New"),
            "{shop}"
        );
        assert!(shop.contains("9.99"), "{shop}");
        let (_, listing) = app.get("/catalogue/category/science-fiction/").await;
        assert!(
            listing.contains("The Left Hand of Darkness"),
            "filed in its category"
        );
        assert_eq!(audits(&app, "product.create", "product", id).await, 1);

        // Edit: the storefront (whose page was just cached) shows it at once.
        let saved = post(
            &b,
            &product_page(id),
            &[
                ("title", "The Left Hand of Darkness (50th anniversary)"),
                ("upc", "LHD-1"),
                ("description", "Plain text & more"),
                ("is_public", "1"),
                ("categories", &category_id),
                ("attr_pages", "320"),
            ],
        )
        .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let (status, shop) = app.get(&url).await;
        assert_eq!(status, 308, "the old slug redirects to the new address");
        let url = storefront_url(&app, id).await;
        let (status, shop2) = app.get(&url).await;
        assert_eq!(status, 200, "{shop}");
        assert!(shop2.contains("50th anniversary"));
        assert!(
            shop2.contains("320") && !shop2.contains(">Blue<"),
            "{shop2}"
        );
        assert!(shop2.contains("Plain text &amp; more"));
        assert_eq!(audits(&app, "product.update", "product", id).await, 1);
        // Hiding it takes it out of the shop at once.
        let hidden = post(
            &b,
            &product_page(id),
            &[("title", "Hidden now"), ("attr_pages", "320")],
        )
        .await;
        assert_eq!(hidden.status, 303, "{}", hidden.body);
        assert_eq!(app.get(&storefront_url(&app, id).await).await.0, 404);
    }
);

both_backends!(
    a_form_with_problems_is_shown_again_with_what_was_typed,
    |app: TestApp| async move {
        let class = book_class(&app).await;
        ProductBuilder::new()
            .class(&class)
            .upc("TAKEN-1")
            .attribute("pages", "10")
            .create(&app.state.db)
            .await
            .unwrap();
        let b = admin(&app).await;
        let class_id = class.id.to_string();
        let before = app
            .scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM product")
            .await;
        let bad = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "standalone"),
                ("title", ""),
                ("upc", "NEW-UPC-7"),
                ("description", "Kept description"),
                ("attr_pages", "many"),
                ("attr_colour", "Green"),
                ("recommendations", "99999999"),
            ],
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("Give the product a title."));
        assert!(bad.body.contains("is not a whole number"), "{}", bad.body);
        assert!(bad.body.contains("is not one of: Red, Blue"));
        assert!(bad.body.contains("There is no product #99999999."));
        assert!(
            bad.body.contains("value=\"NEW-UPC-7\""),
            "typed values are kept"
        );
        assert!(bad.body.contains("Kept description"));
        assert!(bad.body.contains("value=\"many\""));
        let required = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "standalone"),
                ("title", "No pages"),
            ],
        )
        .await;
        assert_eq!(required.status, 422);
        assert!(
            required.body.contains("Pages is required."),
            "{}",
            required.body
        );

        // A UPC another product has: the field says so, on create and on edit.
        let clash = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "standalone"),
                ("title", "Clash"),
                ("upc", "TAKEN-1"),
                ("attr_pages", "5"),
            ],
        )
        .await;
        assert_eq!(clash.status, 422, "{}", clash.body);
        assert!(
            clash
                .body
                .contains("Another product already has the UPC TAKEN-1.")
        );
        assert!(clash.body.contains("value=\"Clash\""));
        assert_eq!(
            app.scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM product")
                .await,
            before,
            "nothing was created"
        );
        let mine = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "standalone"),
                ("title", "Mine"),
                ("upc", "MINE-1"),
                ("attr_pages", "5"),
            ],
        )
        .await;
        let id = created_id(&mine);
        let edit_clash = post(
            &b,
            &product_page(id),
            &[("title", "Mine"), ("upc", "TAKEN-1"), ("attr_pages", "5")],
        )
        .await;
        assert_eq!(edit_clash.status, 422);
        assert!(
            edit_clash
                .body
                .contains("Another product already has the UPC TAKEN-1.")
        );
        assert_eq!(
            text(&app, "SELECT upc FROM product WHERE id = $1", id).await,
            "MINE-1"
        );
        // Stock with problems: the fields say which.
        let stock = post(
            &b,
            &format!("{}stock/", product_page(id)),
            &[
                ("stock_partner", ""),
                ("stock_price", "abc"),
                ("stock_sku", "S-1"),
            ],
        )
        .await;
        assert_eq!(stock.status, 422, "{}", stock.body);
        assert!(
            stock
                .body
                .contains("Choose the partner who holds the stock.")
        );
        assert!(stock.body.contains("Enter a price in GBP"));
        assert!(stock.body.contains("value=\"S-1\""));
    }
);

both_backends!(
    parents_and_variants_with_their_own_stock,
    |app: TestApp| async move {
        let class = ClassBuilder::new()
            .name("Shirt")
            .attribute(
                AttributeSpec::new("size", "Size", AttributeKind::Option)
                    .required()
                    .choices(&["S", "M", "L"]),
            )
            .attribute(AttributeSpec::new("fabric", "Fabric", AttributeKind::Text).required())
            .create(&app.state.db)
            .await
            .unwrap();
        let supplier = partner(&app, "loom").await;
        let b = admin(&app).await;
        let class_id = class.id.to_string();
        let parent = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "parent"),
                ("title", "Oxford shirt"),
                ("is_public", "1"),
                ("attr_fabric", "Cotton"),
                ("attr_size", "M"),
            ],
        )
        .await;
        let parent_id = created_id(&parent);
        let form = b.get(&format!("{NEW}?parent={parent_id}")).await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains("New variant of Oxford shirt"));
        let parent_field = parent_id.to_string();
        let partner_id = supplier.id.to_string();
        // The fabric is the parent's; the variant's own title may stay blank.
        let child = post(
            &b,
            NEW,
            &[
                ("parent", &parent_field),
                ("title", ""),
                ("upc", "OX-L"),
                ("is_public", "1"),
                ("attr_size", "L"),
                ("stock_partner", &partner_id),
                ("stock_sku", "LOOM-OX-L"),
                ("stock_price", "35.00"),
                ("stock_num_in_stock", "4"),
            ],
        )
        .await;
        let child_id = created_id(&child);
        let parent_page = b.get(&product_page(parent_id)).await;
        assert!(
            parent_page.body.contains("OX-L"),
            "the parent lists its variants"
        );
        let (status, shop) = app.get(&storefront_url(&app, child_id).await).await;
        assert_eq!(status, 200, "{shop}");
        assert!(
            shop.contains("Oxford shirt"),
            "a blank title is the parent's"
        );
        assert!(shop.contains("35.00") && shop.contains("Size") && shop.contains('L'));
        assert_eq!(
            text(
                &app,
                "SELECT structure FROM product WHERE id = $1",
                child_id
            )
            .await,
            "child"
        );
        // A parent holds no stock.
        let refused = post(
            &b,
            &format!("{}stock/", product_page(parent_id)),
            &[
                ("stock_partner", &partner_id),
                ("stock_sku", "P-1"),
                ("stock_price", "1.00"),
            ],
        )
        .await;
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("A parent product has no stock"));

        // Stock on the variant's page: edit the price and level; the level change is in the
        // stock history; a second record for the same partner is refused.
        let record = app
            .scalar_i64("SELECT CAST(MAX(id) AS BIGINT) FROM stock_record")
            .await;
        let saved = post(
            &b,
            &format!("{}stock/{record}/", product_page(child_id)),
            &[
                ("stock_sku", "LOOM-OX-L"),
                ("stock_price", "32.50"),
                ("stock_num_in_stock", "9"),
                ("stock_low_stock_threshold", "2"),
            ],
        )
        .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        assert_eq!(
            count(
                &app,
                "SELECT price_minor FROM stock_record WHERE id = $1",
                record
            )
            .await,
            3250
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM stock_adjustment WHERE stock_record_id = $1 AND delta = 5",
                record
            )
            .await,
            1
        );
        let (_, shop) = app.get(&storefront_url(&app, child_id).await).await;
        assert!(shop.contains("32.50"), "the new price shows at once");
        let again = post(
            &b,
            &format!("{}stock/", product_page(child_id)),
            &[
                ("stock_partner", &partner_id),
                ("stock_sku", "OTHER"),
                ("stock_price", "1.00"),
            ],
        )
        .await;
        assert_eq!(again.status, 422);
        assert!(
            again
                .body
                .contains("already has a stock record for this product")
        );
        let list = b.get("/dashboard/catalogue/?structure=child&q=OX-L").await;
        assert!(list.body.contains(&format!("data-product=\"{child_id}\"")));
    }
);

both_backends!(
    partner_users_see_and_change_only_their_own_products,
    |app: TestApp| async move {
        let mine = partner(&app, "mine").await;
        let theirs = partner(&app, "theirs").await;
        let class = ClassBuilder::new().create(&app.state.db).await.unwrap();
        let own = ProductBuilder::new()
            .class(&class)
            .title("Own lamp")
            .partner(&mine)
            .create(&app.state.db)
            .await
            .unwrap();
        let other = ProductBuilder::new()
            .class(&class)
            .title("Their lamp")
            .partner(&theirs)
            .create(&app.state.db)
            .await
            .unwrap();
        let b = staff_browser(&app, "p@example.com", Role::Partner, &["mine"]).await;
        let list = b.get(LIST).await;
        assert_eq!(list.status, 200);
        assert!(list.body.contains("1 product"), "{}", list.body);
        assert!(list.body.contains("Own lamp") && !list.body.contains("Their lamp"));
        assert_eq!(b.get(&product_page(own.id)).await.status, 200);
        assert_eq!(b.get(&product_page(other.id)).await.status, 404);
        let audit_before = app
            .scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log")
            .await;
        let edit = post(&b, &product_page(other.id), &[("title", "Mine now")]).await;
        assert_eq!(edit.status, 404);
        let stock = post(
            &b,
            &format!("{}stock/", product_page(other.id)),
            &[
                ("stock_partner", &mine.id.to_string()),
                ("stock_sku", "X"),
                ("stock_price", "1.00"),
            ],
        )
        .await;
        assert_eq!(stock.status, 404);
        let record = other.stock_record_id.unwrap();
        let stock_edit = post(
            &b,
            &format!("{}stock/{record}/", product_page(other.id)),
            &[
                ("stock_sku", "X"),
                ("stock_price", "0.01"),
                ("stock_num_in_stock", "0"),
            ],
        )
        .await;
        assert_eq!(stock_edit.status, 404);
        let other_id = other.id.to_string();
        for action in ["unpublish", "delete"] {
            let bulk = post(
                &b,
                BULK,
                &[("action", action), ("ids", &other_id), ("confirm", "1")],
            )
            .await;
            assert_eq!(bulk.status, 404, "bulk {action}");
        }
        let own_id = own.id.to_string();
        let mixed = post(
            &b,
            BULK,
            &[
                ("action", "unpublish"),
                ("ids", &own_id),
                ("ids", &other_id),
            ],
        )
        .await;
        assert_eq!(mixed.status, 404, "one product not theirs: nothing changes");
        assert_eq!(
            text(&app, "SELECT title FROM product WHERE id = $1", other.id).await,
            "Their lamp"
        );
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM product WHERE id = $1 AND is_public = TRUE",
                own.id
            )
            .await,
            1
        );
        assert_eq!(
            app.scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log")
                .await,
            audit_before,
            "nothing changed"
        );
        // The category tree is the shop's.
        let category = post(&b, CATEGORIES, &[("name", "Partner corner")]).await;
        assert_eq!(category.status, 403);
        // A new product of theirs needs a stock record of their partner (else they could
        // not see it); with one, it is theirs.
        let class_id = class.id.to_string();
        let no_stock = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "standalone"),
                ("title", "Desk lamp"),
            ],
        )
        .await;
        assert_eq!(no_stock.status, 422);
        assert!(
            no_stock
                .body
                .contains("Choose the partner who holds the stock.")
        );
        assert!(no_stock.body.contains("Partner mine"));
        assert!(
            !no_stock.body.contains("Partner theirs"),
            "only their partners are offered"
        );
        let their_partner = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "standalone"),
                ("title", "Desk lamp"),
                ("stock_partner", &theirs.id.to_string()),
                ("stock_sku", "D-1"),
                ("stock_price", "20"),
            ],
        )
        .await;
        assert_eq!(their_partner.status, 422);
        let created = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "standalone"),
                ("title", "Desk lamp"),
                ("is_public", "1"),
                ("stock_partner", &mine.id.to_string()),
                ("stock_sku", "D-1"),
                ("stock_price", "20"),
                ("stock_num_in_stock", "3"),
            ],
        )
        .await;
        let id = created_id(&created);
        assert_eq!(b.get(&product_page(id)).await.status, 200);
        let parent = post(
            &b,
            NEW,
            &[
                ("class", &class_id),
                ("structure", "parent"),
                ("title", "Lamp family"),
            ],
        )
        .await;
        assert_eq!(parent.status, 403, "partner users add no parents");
        // Another partner's user sees none of it.
        let stranger = staff_browser(&app, "q@example.com", Role::Partner, &["theirs"]).await;
        assert_eq!(stranger.get(&product_page(id)).await.status, 404);
        assert_eq!(stranger.get(&product_page(own.id)).await.status, 404);
    }
);

both_backends!(
    read_only_staff_see_but_change_nothing,
    |app: TestApp| async move {
        let class = book_class(&app).await;
        let product = ProductBuilder::new()
            .class(&class)
            .title("Untouchable")
            .attribute("pages", "1")
            .create(&app.state.db)
            .await
            .unwrap();
        let category = CategoryBuilder::new().create(&app.state.db).await.unwrap();
        let b = staff_browser(&app, "ro@example.com", Role::ReadOnly, &[]).await;
        assert_eq!(b.get(LIST).await.status, 200);
        let page = b.get(&product_page(product.id)).await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains(">Save<"), "no save button");
        assert_eq!(b.get(CATEGORIES).await.status, 200);
        let new = b.get(NEW).await;
        assert_eq!(new.status, 200, "read-only staff see every page");
        assert!(
            new.body.contains("doesn't allow adding products")
                || new.body.contains("doesn&#x27;t allow adding products")
        );
        let audit_before = app
            .scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log")
            .await;
        let class_id = class.id.to_string();
        let id = product.id.to_string();
        let cat = category.id.to_string();
        for (path, form) in [
            (
                NEW.to_owned(),
                vec![
                    ("class", class_id.as_str()),
                    ("title", "x"),
                    ("attr_pages", "1"),
                ],
            ),
            (
                product_page(product.id),
                vec![("title", "Changed"), ("attr_pages", "1")],
            ),
            (
                format!("{}stock/", product_page(product.id)),
                vec![("stock_sku", "x")],
            ),
            (
                BULK.to_owned(),
                vec![("action", "delete"), ("ids", id.as_str()), ("confirm", "1")],
            ),
            (CATEGORIES.to_owned(), vec![("name", "New one")]),
            (format!("{CATEGORIES}{cat}/"), vec![("name", "Renamed")]),
            (format!("{CATEGORIES}{cat}/move/"), vec![("parent", "")]),
            (
                format!("{CATEGORIES}{cat}/order/"),
                vec![("direction", "up")],
            ),
        ] {
            let page = post(&b, &path, &form).await;
            assert_eq!(page.status, 403, "POST {path}");
        }
        assert_eq!(
            text(&app, "SELECT title FROM product WHERE id = $1", product.id).await,
            "Untouchable"
        );
        assert_eq!(
            app.scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log")
                .await,
            audit_before
        );
        // And nobody signed in is sent to the sign-in page, or refused.
        let anonymous = app.browser();
        assert_eq!(anonymous.get(LIST).await.status, 303);
    }
);

async fn category_id(app: &TestApp, full_slug: &str) -> i64 {
    sqlx::query("SELECT id FROM category WHERE full_slug = $1")
        .bind(full_slug)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

both_backends!(
    the_category_tree_is_edited_and_the_shop_follows,
    |app: TestApp| async move {
        let b = admin(&app).await;
        let made = post(
            &b,
            CATEGORIES,
            &[("name", "Garden"), ("description", "Outside")],
        )
        .await;
        assert_eq!(made.status, 303, "{}", made.body);
        let garden = category_id(&app, "garden").await;
        let garden_field = garden.to_string();
        let made = post(
            &b,
            CATEGORIES,
            &[("name", "Tools"), ("parent", &garden_field)],
        )
        .await;
        assert_eq!(made.status, 303, "{}", made.body);
        let tools = category_id(&app, "garden/tools").await;
        post(
            &b,
            CATEGORIES,
            &[("name", "Spades"), ("parent", &tools.to_string())],
        )
        .await;
        let spades = category_id(&app, "garden/tools/spades").await;
        let product = ProductBuilder::new()
            .title("Border spade")
            .create(&app.state.db)
            .await
            .unwrap();
        sqlx::query("INSERT INTO product_category (product_id, category_id) VALUES ($1, $2)")
            .bind(product.id)
            .bind(spades)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        let (status, page) = app.get("/catalogue/category/garden/tools/spades/").await;
        assert_eq!(status, 200);
        assert!(page.contains("Border spade"));
        let tree = b.get(CATEGORIES).await;
        assert_eq!(tree.status, 200);
        assert!(
            tree.body
                .contains(&html("/catalogue/category/garden/tools/spades/"))
        );

        // Not under itself or its own descendant; nothing moves.
        for parent in [garden, spades] {
            let refused = post(
                &b,
                &format!("{CATEGORIES}{garden}/move/"),
                &[("parent", &parent.to_string())],
            )
            .await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(
                refused.body.contains("can&#x27;t go under itself")
                    || refused.body.contains("can't go under itself")
                    || refused.body.contains("can’t go under itself"),
                "{}",
                refused.body
            );
        }
        assert_eq!(category_id(&app, "garden/tools/spades").await, spades);

        // Rename: the subtree's addresses follow; the old one is gone.
        let renamed = post(
            &b,
            &format!("{CATEGORIES}{tools}/"),
            &[
                ("name", "Hand tools"),
                ("description", ""),
                ("is_public", "1"),
            ],
        )
        .await;
        assert_eq!(renamed.status, 303, "{}", renamed.body);
        let (status, page) = app
            .get("/catalogue/category/garden/hand-tools/spades/")
            .await;
        assert_eq!(status, 200);
        assert!(page.contains("Border spade"));
        assert_eq!(
            app.get("/catalogue/category/garden/tools/spades/").await.0,
            404
        );

        // Move Hand tools to the top level: it and Spades take new paths and addresses, and
        // Garden no longer lists the spade.
        let moved = post(&b, &format!("{CATEGORIES}{tools}/move/"), &[("parent", "")]).await;
        assert_eq!(moved.status, 303, "{}", moved.body);
        let (status, page) = app.get("/catalogue/category/hand-tools/spades/").await;
        assert_eq!(status, 200);
        assert!(page.contains("Border spade"));
        let (_, garden_page) = app.get("/catalogue/category/garden/").await;
        assert!(!garden_page.contains("Border spade"));
        let path = |id: i64| {
            let app = &app;
            async move { text(app, "SELECT path FROM category WHERE id = $1", id).await }
        };
        let tools_path = path(tools).await;
        assert_eq!(tools_path.len(), 4, "a root now");
        assert!(path(spades).await.starts_with(&tools_path));
        // A sibling of the same name is refused.
        let twin = post(&b, CATEGORIES, &[("name", "Hand tools")]).await;
        assert_eq!(twin.status, 422);
        assert!(twin.body.contains("There is already a category called"));
        assert!(twin.body.contains("value=\"Hand tools\""));

        // Reorder: Hand tools (last root) moves up one place.
        let before = path(tools).await;
        let up = post(
            &b,
            &format!("{CATEGORIES}{tools}/order/"),
            &[("direction", "up")],
        )
        .await;
        assert_eq!(up.status, 303);
        let after = path(tools).await;
        assert!(after < before, "{after} before {before}");
        assert!(path(spades).await.starts_with(&after));
        let down = post(
            &b,
            &format!("{CATEGORIES}{tools}/order/"),
            &[("direction", "down")],
        )
        .await;
        assert_eq!(down.status, 303);
        assert_eq!(path(tools).await, before);
        assert_eq!(audits(&app, "category.", "category", tools).await, 5);
        let empty = post(&b, CATEGORIES, &[("name", "  ")]).await;
        assert_eq!(empty.status, 422);
        assert!(empty.body.contains("Give the category a name."));
    }
);

both_backends!(
    bulk_publish_unpublish_file_and_delete,
    |app: TestApp| async move {
        let a = ProductBuilder::new()
            .title("Bulk A")
            .create(&app.state.db)
            .await
            .unwrap();
        let c = ProductBuilder::new()
            .title("Bulk C")
            .create(&app.state.db)
            .await
            .unwrap();
        let category = CategoryBuilder::new()
            .name("Bulk bin")
            .create(&app.state.db)
            .await
            .unwrap();
        let b = admin(&app).await;
        let (ia, ic) = (a.id.to_string(), c.id.to_string());
        let url_a = storefront_url(&app, a.id).await;
        assert_eq!(app.get(&url_a).await.0, 200);
        let off = post(
            &b,
            BULK,
            &[("action", "unpublish"), ("ids", &ia), ("ids", &ic)],
        )
        .await;
        assert_eq!(off.status, 303, "{}", off.body);
        assert!(b.get(LIST).await.body.contains("2 products unpublished."));
        assert_eq!(app.get(&url_a).await.0, 404, "gone from the shop at once");
        let on = post(&b, BULK, &[("action", "publish"), ("ids", &ia)]).await;
        assert_eq!(on.status, 303);
        assert_eq!(app.get(&url_a).await.0, 200);
        assert_eq!(
            count(
                &app,
                "SELECT COUNT(*) FROM product WHERE id = $1 AND is_public = TRUE",
                c.id
            )
            .await,
            0
        );
        let filed = post(
            &b,
            BULK,
            &[
                ("action", "category"),
                ("category", &category.id.to_string()),
                ("ids", &ia),
            ],
        )
        .await;
        assert_eq!(filed.status, 303);
        let (_, bin) = app.get("/catalogue/category/bulk-bin/").await;
        assert!(bin.contains("Bulk A"));

        // Delete asks first, and deletes only when confirmed.
        let ask = post(
            &b,
            BULK,
            &[("action", "delete"), ("ids", &ia), ("ids", &ic)],
        )
        .await;
        assert_eq!(ask.status, 200, "{}", ask.body);
        assert!(ask.body.contains("Delete 2 products?"));
        assert!(ask.body.contains("Bulk A") && ask.body.contains("Bulk C"));
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM product WHERE id = $1", a.id).await,
            1
        );
        let gone = post(
            &b,
            BULK,
            &[
                ("action", "delete"),
                ("confirm", "1"),
                ("ids", &ia),
                ("ids", &ic),
            ],
        )
        .await;
        assert_eq!(gone.status, 303, "{}", gone.body);
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM product WHERE id = $1", a.id).await,
            0
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM product WHERE id = $1", c.id).await,
            0
        );
        assert_eq!(app.get(&url_a).await.0, 404);
        assert_eq!(audits(&app, "product.delete", "product", a.id).await, 1);
        let nothing = post(&b, BULK, &[("action", "publish")]).await;
        assert_eq!(nothing.status, 303);
        assert!(
            b.get(LIST)
                .await
                .body
                .contains("Choose at least one product first.")
        );
    }
);

both_backends!(
    product_classes_and_their_attributes_are_edited,
    |app: TestApp| async move {
        const CLASSES: &str = "/dashboard/catalogue/classes/";
        let b = admin(&app).await;
        assert_eq!(b.get(CLASSES).await.status, 200);
        let made = post(
            &b,
            CLASSES,
            &[
                ("name", "Loose tea"),
                ("requires_shipping", "1"),
                ("track_stock", "1"),
            ],
        )
        .await;
        assert_eq!(made.status, 303, "{}", made.body);
        let class_url = made.location.clone().unwrap();
        let class_id: i64 = class_url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let twin = post(&b, CLASSES, &[("name", "Loose  Tea")]).await;
        assert_eq!(twin.status, 422);
        assert!(twin.body.contains("There is already a class called"));
        assert!(twin.body.contains("value=\"Loose  Tea\""));

        let add = format!("{class_url}attributes/");
        let bad = post(
            &b,
            &add,
            &[
                ("code", "Bad Code"),
                ("name", "Origin"),
                ("kind", "option"),
                ("options", ""),
            ],
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("A code is lower-case letters"));
        assert!(bad.body.contains("List the values it may take"));
        assert!(bad.body.contains("value=\"Bad Code\""));
        let ok = post(
            &b,
            &add,
            &[
                ("code", "origin"),
                ("name", "Origin"),
                ("kind", "option"),
                ("options", "India\nChina"),
            ],
        )
        .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let again = post(
            &b,
            &add,
            &[("code", "origin"), ("name", "Origin 2"), ("kind", "text")],
        )
        .await;
        assert_eq!(again.status, 422);
        assert!(again.body.contains("already has an attribute"));
        let attribute = app
            .scalar_i64("SELECT CAST(MAX(id) AS BIGINT) FROM product_attribute")
            .await;
        let saved = post(
            &b,
            &format!("{add}{attribute}/"),
            &[("name", "Origin"), ("required", "1"), ("options", "Kenya")],
        )
        .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let form = b
            .get(&format!("{NEW}?class={class_id}&structure=standalone"))
            .await;
        assert!(form.body.contains("name=\"attr_origin\""));
        assert!(form.body.contains(">Kenya<") && form.body.contains("Origin (required)"));
        let class_field = class_id.to_string();
        let created = post(
            &b,
            NEW,
            &[
                ("class", &class_field),
                ("structure", "standalone"),
                ("title", "Kenyan breakfast"),
                ("is_public", "1"),
                ("attr_origin", "Kenya"),
            ],
        )
        .await;
        let id = created_id(&created);
        let url = storefront_url(&app, id).await;
        assert!(app.get(&url).await.1.contains("Kenya"));
        let deleted = post(&b, &format!("{add}{attribute}/delete/"), &[]).await;
        assert_eq!(deleted.status, 303, "{}", deleted.body);
        let (_, page) = app.get(&url).await;
        assert!(
            !page.contains(">Kenya<") && !page.contains("Origin"),
            "{page}"
        );
        assert_eq!(
            audits(&app, "product_attribute.", "product_attribute", attribute).await,
            3
        );

        // A purchase-time option, offered by the class: its products' pages ask for it; taken
        // off the class, they don't.
        let option = post(
            &b,
            &format!("{class_url}options/new/"),
            &[
                ("option_code", "gift-note"),
                ("option_name", "Gift note"),
                ("option_kind", "text"),
                ("option_help", "We write it on the card"),
            ],
        )
        .await;
        assert_eq!(option.status, 303, "{}", option.body);
        let twin = post(
            &b,
            &format!("{class_url}options/new/"),
            &[
                ("option_code", "gift-note"),
                ("option_name", "Again"),
                ("option_kind", "text"),
            ],
        )
        .await;
        assert_eq!(twin.status, 422);
        assert!(twin.body.contains("There is already an option"));
        let (_, page) = app.get(&url).await;
        assert!(page.contains("Gift note"), "{page}");
        let none = post(&b, &format!("{class_url}options/"), &[]).await;
        assert_eq!(none.status, 303, "{}", none.body);
        let (_, page) = app.get(&url).await;
        assert!(!page.contains("Gift note"));

        // Classes are the shop's.
        partner(&app, "pcp").await;
        let partner_user = staff_browser(&app, "pc@example.com", Role::Partner, &["pcp"]).await;
        let refused = post(&partner_user, CLASSES, &[("name", "Partner class")]).await;
        assert_eq!(refused.status, 403);
        let reader = staff_browser(&app, "rc@example.com", Role::ReadOnly, &[]).await;
        assert_eq!(
            post(&reader, CLASSES, &[("name", "Reader class")])
                .await
                .status,
            403
        );
        assert_eq!(reader.get(&class_url).await.status, 200);
    }
);

both_backends!(
    the_catalogue_imports_and_exports_csv,
    |app: TestApp| async move {
        use emporium::catalogue::manage::transfer;
        book_class(&app).await;
        CategoryBuilder::new()
            .name("CSV shelf")
            .create(&app.state.db)
            .await
            .unwrap();
        partner(&app, "csvp").await;
        let quiet = |_: u64, _: u64| {};
        let import = |text: &'static str, dry_run: bool| {
            let app = &app;
            async move {
                transfer::import(
                    &app.state.db,
                    &app.state.changes,
                    app.state.currency,
                    text.as_bytes(),
                    dry_run,
                    transfer_who(),
                    &quiet,
                )
                .await
                .unwrap()
            }
        };
        let file = "upc,title,class,categories,partner,partner_sku,price,num_in_stock,attr:pages,attr:tags,is_public\n\
                    CSV-1,First CSV book,Catalogue test book,csv-shelf,csvp,CSVP-1,4.50,3,120,New|Signed,yes\n\
                    CSV-2,Bad pages,Catalogue test book,,,,,,many,,yes\n\
                    CSV-3,No class,Nope,,,,,,1,,yes\n";
        let csv_products = || {
            app.scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM product WHERE upc LIKE 'CSV-%'")
        };
        let dry = import(file, true).await;
        assert!(dry.dry_run);
        assert_eq!((dry.rows, dry.created, dry.updated), (3, 1, 0));
        let lines: Vec<u64> = dry.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4], "{:?}", dry.errors);
        assert!(
            dry.errors[0].message.contains("is not a whole number"),
            "{:?}",
            dry.errors
        );
        assert!(
            dry.errors[1].message.contains("no product class"),
            "{:?}",
            dry.errors
        );
        assert_eq!(csv_products().await, 0, "a dry run changes nothing");

        let done = import(file, false).await;
        assert_eq!((done.created, done.errors.len()), (1, 2));
        assert_eq!(
            csv_products().await,
            1,
            "the rows with problems changed nothing"
        );
        let id = app
            .scalar_i64("SELECT id FROM product WHERE upc = 'CSV-1'")
            .await;
        let url = storefront_url(&app, id).await;
        let (status, page) = app.get(&url).await;
        assert_eq!(status, 200);
        assert!(page.contains("First CSV book") && page.contains("4.50") && page.contains("120"));
        let (_, shelf) = app.get("/catalogue/category/csv-shelf/").await;
        assert!(shelf.contains("First CSV book"));

        // An update by UPC: the columns given change, the others stay.
        let update = import(
            "upc,title,partner,partner_sku,price,num_in_stock\nCSV-1,Renamed CSV book,csvp,CSVP-1,5.00,9\n",
            false,
        )
        .await;
        assert_eq!(
            (update.updated, update.errors.len()),
            (1, 0),
            "{:?}",
            update.errors
        );
        let (_, page) = app.get(&storefront_url(&app, id).await).await;
        assert!(page.contains("Renamed CSV book") && page.contains("5.00") && page.contains("120"));
        assert_eq!(
            app.scalar_i64("SELECT num_in_stock FROM stock_record WHERE partner_sku = 'CSVP-1'")
                .await,
            9
        );

        // The export reads back: its row for the book imports with no problems, and changes
        // nothing (it is what the product already is).
        let mut out = Vec::new();
        let n = transfer::export(&app.state.db.pool, None, &mut out, &quiet)
            .await
            .unwrap();
        assert!(n > 100);
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap().to_owned();
        assert!(header.starts_with("upc,title,structure,") && header.contains("attr:pages"));
        let row = lines.find(|l| l.starts_with("CSV-1,")).unwrap().to_owned();
        assert!(
            row.contains("Renamed CSV book")
                && row.contains("csv-shelf")
                && row.contains("New|Signed"),
            "{row}"
        );
        let again: &'static str = Box::leak(format!("{header}\n{row}\n").into_boxed_str());
        let round = import(again, true).await;
        assert_eq!(
            (round.updated, round.unchanged, round.errors.len()),
            (0, 1, 0),
            "{:?}",
            round.errors
        );
        assert!(
            audits(&app, "product.", "product", id).await >= 2,
            "imports are audited"
        );
    }
);

/// Imports in these tests run as the command line does.
fn transfer_who() -> emporium::catalogue::manage::products::Who<'static> {
    emporium::catalogue::manage::products::Who::COMMAND_LINE
}

/// `cargo test -p emporium --test dashboard_catalogue -- --ignored import_of_10000_rows`:
/// how long a 10,000-row import takes (the issue asks for under 30 s); prints the figure.
async fn import_of_10000_rows(backend: Backend) {
    use emporium::catalogue::manage::transfer;
    let app = TestApp::start_with(
        backend,
        support::Options {
            products: 10,
            ..support::Options::default()
        },
    )
    .await;
    book_class(&app).await;
    partner(&app, "bulkp").await;
    let mut file =
        String::from("upc,title,class,partner,partner_sku,price,num_in_stock,attr:pages\n");
    for n in 0..10_000 {
        file.push_str(&format!(
            "BULK-{n},Bulk book {n},Catalogue test book,bulkp,BP-{n},{}.99,{},{}\n",
            n % 50,
            n % 20,
            100 + n % 400
        ));
    }
    let started = std::time::Instant::now();
    let report = transfer::import(
        &app.state.db,
        &app.state.changes,
        app.state.currency,
        file.as_bytes(),
        false,
        transfer_who(),
        &|_, _| {},
    )
    .await
    .unwrap();
    let took = started.elapsed();
    println!("{backend:?}: 10,000 rows imported in {took:?}");
    assert_eq!((report.created, report.errors.len()), (10_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a timing, run by hand"]
async fn import_of_10000_rows_sqlite() {
    import_of_10000_rows(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a timing, run by hand"]
async fn import_of_10000_rows_postgres() {
    import_of_10000_rows(Backend::Postgres).await;
}

/// Posts a multipart form with the browser's token; the answer as a page.
async fn post_multipart(
    b: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    file_field: &str,
    file: (&str, &str, &[u8]),
) -> Page {
    let t = token(b).await;
    b.post_multipart(path, &t, fields, file_field, file).await
}

/// Imports `csv` from the dashboard (a dry run or for real); the job page's address.
async fn dashboard_import(b: &Browser, csv: &str, dry_run: bool) -> String {
    let mode = if dry_run { "dry_run" } else { "import" };
    let page = post_multipart(
        b,
        "/dashboard/catalogue/import/",
        &[("mode", mode)],
        "file",
        ("books.csv", "text/csv", csv.as_bytes()),
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let to = page.location.unwrap();
    assert!(to.starts_with("/dashboard/catalogue/import/"), "{to}");
    to
}

/// The job page at `url` once its job is over (it refreshes itself while it runs).
async fn finished(b: &Browser, url: &str) -> Page {
    for _ in 0..300 {
        let page = b.get(url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        if !page.body.contains("data-job=\"running\"") {
            assert!(
                page.body.contains("data-job=\"done\""),
                "the job failed: {}",
                page.body
            );
            assert!(!page.body.contains("http-equiv=\"refresh\""));
            return page;
        }
        assert!(page.body.contains("http-equiv=\"refresh\""));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the job at {url} never finished");
}

/// The count an import's page shows under `name` (created, updated, unchanged, errors).
fn shown_count(page: &Page, name: &str) -> i64 {
    let marker = format!("data-count=\"{name}\">");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("{}", page.body))
        + marker.len();
    let rest = &page.body[at..];
    rest[..rest.find('<').unwrap()].parse().unwrap()
}

both_backends!(
    the_dashboard_imports_and_exports_the_catalogue_in_the_background,
    |app: TestApp| async move {
        book_class(&app).await;
        CategoryBuilder::new()
            .name("CSV shelf")
            .create(&app.state.db)
            .await
            .unwrap();
        partner(&app, "csvp").await;
        let b = admin(&app).await;
        let list = b.get(LIST).await;
        assert!(
            list.body.contains(&html("/dashboard/catalogue/import/"))
                && list.body.contains(&html("/dashboard/catalogue/export/")),
            "the product list links to both"
        );
        let form = b.get("/dashboard/catalogue/import/").await;
        assert!(form.body.contains("enctype=\"multipart/form-data\""));
        let csv_products = || {
            app.scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM product WHERE upc LIKE 'CSV-%'")
        };
        let file = "upc,title,class,categories,partner,partner_sku,price,num_in_stock,attr:pages,attr:tags,is_public\n\
                    CSV-1,First CSV book,Catalogue test book,csv-shelf,csvp,CSVP-1,4.50,3,120,New|Signed,yes\n\
                    CSV-2,Bad pages,Catalogue test book,,,,,,many,,yes\n\
                    CSV-3,No class,Nope,,,,,,1,,yes\n";

        // A dry run: counts and the rows with problems, nothing changed.
        let url = dashboard_import(&b, file, true).await;
        let dry = finished(&b, &url).await;
        assert!(
            dry.body.contains("Dry run, nothing changed"),
            "{}",
            dry.body
        );
        assert_eq!(shown_count(&dry, "created"), 1);
        assert_eq!(shown_count(&dry, "errors"), 2);
        assert!(
            dry.body.contains("is not a whole number") && dry.body.contains("no product class"),
            "{}",
            dry.body
        );
        assert_eq!(csv_products().await, 0, "a dry run changes nothing");
        let errors = b
            .client
            .get(format!("{}{url}errors/", b.base))
            .send()
            .await
            .unwrap();
        assert_eq!(errors.status(), 200);
        assert!(
            errors.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let errors = errors.text().await.unwrap();
        let lines: Vec<&str> = errors.lines().collect();
        assert_eq!(lines[0], "line,upc,message");
        assert!(
            lines[1].starts_with("3,CSV-2,") && lines[2].starts_with("4,CSV-3,"),
            "{errors}"
        );

        // For real: the good row goes in and the storefront shows it.
        let url = dashboard_import(&b, file, false).await;
        let done = finished(&b, &url).await;
        assert_eq!(
            (shown_count(&done, "created"), shown_count(&done, "errors")),
            (1, 2)
        );
        assert!(done.body.contains("value=\"100\""), "the bar is full");
        assert_eq!(csv_products().await, 1);
        let id = app
            .scalar_i64("SELECT id FROM product WHERE upc = 'CSV-1'")
            .await;
        let (status, page) = app.get(&storefront_url(&app, id).await).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("First CSV book") && page.contains("4.50"),
            "{page}"
        );
        assert!(
            audits(&app, "product.", "product", id).await >= 1,
            "the rows are audited"
        );

        // An update by UPC; the same file again changes nothing.
        let update = "upc,title,partner,partner_sku,price,num_in_stock\nCSV-1,Renamed CSV book,csvp,CSVP-1,5.00,9\n";
        let done = finished(&b, &dashboard_import(&b, update, false).await).await;
        assert_eq!(shown_count(&done, "updated"), 1, "{}", done.body);
        let (_, page) = app.get(&storefront_url(&app, id).await).await;
        assert!(page.contains("Renamed CSV book") && page.contains("5.00"));
        let audited = app.scalar_i64("SELECT COUNT(*) FROM audit_log").await;
        let again = finished(&b, &dashboard_import(&b, update, false).await).await;
        assert_eq!(
            (
                shown_count(&again, "updated"),
                shown_count(&again, "unchanged")
            ),
            (0, 1)
        );
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM audit_log").await,
            audited + 1,
            "only the start is audited when nothing changes"
        );
        assert_eq!(
            app.scalar_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'import.catalogue%' AND staff_id IS NOT NULL"
            )
            .await,
            4,
            "every start is audited"
        );

        // A file we cannot read starts nothing, and the form keeps the mode.
        let jobs = || app.scalar_i64("SELECT COUNT(*) FROM export_job");
        let before = jobs().await;
        let bad = post_multipart(
            &b,
            "/dashboard/catalogue/import/",
            &[("mode", "import")],
            "file",
            ("bad.csv", "text/csv", b"title,price\nNo UPC,1.00\n"),
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("no upc column"), "{}", bad.body);
        assert!(
            bad.body.contains("value=\"import\" checked"),
            "{}",
            bad.body
        );
        assert_eq!(jobs().await, before);

        // The export: progress, then the file with the imported row.
        let start = post(&b, "/dashboard/catalogue/export/", &[]).await;
        assert_eq!(start.status, 303, "{}", start.body);
        let url = start.location.unwrap();
        let done = finished(&b, &url).await;
        assert!(done.body.contains(&html(&format!("{url}download/"))));
        let csv = b
            .client
            .get(format!("{}{url}download/", b.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(csv.starts_with("upc,title,structure,"), "{csv}");
        assert!(
            csv.lines()
                .any(|l| l.starts_with("CSV-1,Renamed CSV book,"))
        );
        let all = csv.lines().count() - 1;
        assert!(all > 100, "every product: {all}");

        // Jobs are their starter's only.
        let other = staff_browser(&app, "cm@example.com", Role::CatalogueManager, &[]).await;
        assert_eq!(other.get(&url).await.status, 404);
        assert_eq!(other.get(&format!("{url}download/")).await.status, 404);

        // A partner user exports their own products only, and may not import.
        let pu = staff_browser(&app, "pu@example.com", Role::Partner, &["csvp"]).await;
        assert!(
            !pu.get(LIST)
                .await
                .body
                .contains(&html("/dashboard/catalogue/import/"))
        );
        let refused = pu.get("/dashboard/catalogue/import/").await;
        assert_eq!(refused.status, 200);
        assert!(!refused.body.contains("enctype=\"multipart/form-data\""));
        let before = jobs().await;
        let posted = post_multipart(
            &pu,
            "/dashboard/catalogue/import/",
            &[("mode", "import")],
            "file",
            ("books.csv", "text/csv", update.as_bytes()),
        )
        .await;
        assert_eq!(posted.status, 403);
        assert_eq!(jobs().await, before);
        let start = post(&pu, "/dashboard/catalogue/export/", &[]).await;
        let url = start.location.unwrap();
        finished(&pu, &url).await;
        let theirs = pu
            .client
            .get(format!("{}{url}download/", pu.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rows: Vec<&str> = theirs.lines().skip(1).collect();
        assert_eq!(rows.len(), 1, "{theirs}");
        assert!(
            rows[0].starts_with("CSV-1,") && rows[0].contains(",csvp,CSVP-1,5.00,9"),
            "{theirs}"
        );

        // Read-only staff export but don't import.
        let reader = staff_browser(&app, "ro@example.com", Role::ReadOnly, &[]).await;
        let posted = post_multipart(
            &reader,
            "/dashboard/catalogue/import/",
            &[("mode", "dry_run")],
            "file",
            ("books.csv", "text/csv", update.as_bytes()),
        )
        .await;
        assert_eq!(posted.status, 403);
        assert_eq!(
            post(&reader, "/dashboard/catalogue/export/", &[])
                .await
                .status,
            303
        );
    }
);

fn png(width: u32, height: u32, shade: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 3 % 256) as u8, shade])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

both_backends!(
    a_category_has_one_image_shown_on_its_storefront_page,
    |app: TestApp| async move {
        let category = CategoryBuilder::new()
            .name("Picture shelf")
            .create(&app.state.db)
            .await
            .unwrap();
        let id = category.id;
        let page_url = format!("/dashboard/catalogue/categories/{id}/image/");
        let b = admin(&app).await;
        assert!(
            b.get(CATEGORIES).await.body.contains(&page_url),
            "the tree links to each category's image"
        );
        assert!(b.get(&page_url).await.body.contains("No image yet."));
        let stored = || async {
            sqlx::query("SELECT original, caption FROM category_image WHERE category_id = $1")
                .bind(id)
                .fetch_optional(&app.state.db.pool)
                .await
                .unwrap()
                .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        };

        // Not an image: refused, the caption kept.
        let refused = post_multipart(
            &b,
            &format!("{page_url}upload/"),
            &[("caption", "Shelves of books")],
            "image",
            ("notes.png", "image/png", b"not a picture at all"),
        )
        .await;
        assert_eq!(refused.status, 422);
        assert!(
            refused.body.contains("value=\"Shelves of books\""),
            "{}",
            refused.body
        );
        assert!(stored().await.is_none());

        // Upload: on the storefront page, as a thumbnail in the theme's size.
        let first = png(1600, 800, 10);
        let added = post_multipart(
            &b,
            &format!("{page_url}upload/"),
            &[("caption", "Shelves of books")],
            "image",
            ("shelf.png", "image/png", &first),
        )
        .await;
        assert_eq!(added.status, 303, "{}", added.body);
        let (original, caption) = stored().await.unwrap();
        assert!(original.starts_with("images/") && original.ends_with(".png"));
        assert_eq!(caption, "Shelves of books");
        let thumb = format!("/media/thumbs/1200x400/{original}");
        let (status, shop) = app.get(&category.url()).await;
        assert_eq!(status, 200);
        assert!(
            shop.contains(&thumb) && shop.contains("alt=\"Shelves of books\""),
            "{shop}"
        );
        let response = app.get_response(&thumb).await;
        assert_eq!(response.status(), 200);
        let bytes = response.bytes().await.unwrap();
        let made = image::load_from_memory(&bytes).unwrap();
        assert_eq!((made.width(), made.height()), (800, 400));

        // Replace: the new one shows, the old file leaves the store.
        let second = png(300, 300, 200);
        let replaced = post_multipart(
            &b,
            &format!("{page_url}upload/"),
            &[("caption", "")],
            "image",
            ("shelf2.png", "image/png", &second),
        )
        .await;
        assert_eq!(replaced.status, 303, "{}", replaced.body);
        let (newer, _) = stored().await.unwrap();
        assert_ne!(newer, original);
        assert!(!app.state.media.exists(&original).await.unwrap());
        assert!(app.state.media.exists(&newer).await.unwrap());
        let (_, shop) = app.get(&category.url()).await;
        assert!(shop.contains(&newer) && !shop.contains(&original));

        // Caption (the alt text): too long is refused with what was typed; then saved.
        let long = "x".repeat(201);
        let too_long = post(&b, &format!("{page_url}caption/"), &[("caption", &long)]).await;
        assert_eq!(too_long.status, 422);
        assert!(too_long.body.contains(&long));
        let saved = post(
            &b,
            &format!("{page_url}caption/"),
            &[("caption", "Tall shelf")],
        )
        .await;
        assert_eq!(saved.status, 303);
        let (_, shop) = app.get(&category.url()).await;
        assert!(shop.contains("alt=\"Tall shelf\""));

        // Partner and read-only users may look, not change.
        partner(&app, "imgp").await;
        let pu = staff_browser(&app, "pi@example.com", Role::Partner, &["imgp"]).await;
        assert_eq!(pu.get(&page_url).await.status, 200);
        assert_eq!(
            post(&pu, &format!("{page_url}delete/"), &[]).await.status,
            403
        );
        let reader = staff_browser(&app, "ri@example.com", Role::ReadOnly, &[]).await;
        assert_eq!(
            post(&reader, &format!("{page_url}delete/"), &[])
                .await
                .status,
            403
        );
        assert!(stored().await.is_some());

        // Delete: gone from the page and the store; audited all along.
        let deleted = post(&b, &format!("{page_url}delete/"), &[]).await;
        assert_eq!(deleted.status, 303);
        assert!(stored().await.is_none());
        assert!(!app.state.media.exists(&newer).await.unwrap());
        let (_, shop) = app.get(&category.url()).await;
        assert!(!shop.contains("category-image"), "{shop}");
        assert_eq!(audits(&app, "category_image.", "category", id).await, 4);
        assert_eq!(
            post(&b, &format!("{page_url}delete/"), &[]).await.status,
            404
        );
    }
);

/// The JSON a lookup answers, as (id, text) pairs.
async fn lookup(b: &Browser, path: &str) -> (u16, Vec<(i64, String)>) {
    let response = b
        .client
        .get(format!("{}{path}", b.base))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let items: Vec<serde_json::Value> =
        serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let pairs = items
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                i["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (status, pairs)
}

both_backends!(
    the_pickers_search_within_the_users_scope_and_rich_text_is_cleaned,
    |app: TestApp| async move {
        let north = partner(&app, "north").await;
        let south = partner(&app, "south").await;
        let ours = ProductBuilder::new()
            .title("Lookup kettle north")
            .upc("LOOK-N")
            .partner(&north)
            .create(&app.state.db)
            .await
            .unwrap()
            .id;
        let theirs = ProductBuilder::new()
            .title("Lookup kettle south")
            .upc("LOOK-S")
            .partner(&south)
            .create(&app.state.db)
            .await
            .unwrap()
            .id;
        let shelf = CategoryBuilder::new()
            .name("Lookup shelf")
            .create(&app.state.db)
            .await
            .unwrap();
        let b = admin(&app).await;
        let (status, found) = lookup(
            &b,
            "/dashboard/catalogue/products/lookup/?q=lookup%20kettle",
        )
        .await;
        assert_eq!(status, 200);
        let ids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
        assert!(ids.contains(&ours) && ids.contains(&theirs), "{found:?}");
        assert!(
            found
                .iter()
                .any(|(_, t)| t == &format!("#{ours} Lookup kettle north (LOOK-N)"))
        );
        let (_, by_upc) = lookup(&b, "/dashboard/catalogue/products/lookup/?q=look-s").await;
        assert_eq!(
            by_upc.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [theirs]
        );
        let (_, shelves) = lookup(&b, "/dashboard/catalogue/categories/lookup/?q=lookup").await;
        assert_eq!(shelves, [(shelf.id, "Lookup shelf".to_owned())]);
        emporium::customer::register(
            &app.state.db,
            &app.state.templates,
            "Shop",
            "picker@example.com",
            &emporium::customer::hash_password("correct horse".into())
                .await
                .unwrap(),
        )
        .await
        .unwrap();
        let (_, customers) = lookup(&b, "/dashboard/customers/lookup/?q=picker").await;
        assert_eq!(customers.len(), 1);
        assert!(customers[0].1.ends_with("picker@example.com"));
        let too_long = format!(
            "/dashboard/catalogue/products/lookup/?q={}",
            "x".repeat(500)
        );
        assert_eq!(lookup(&b, &too_long).await.0, 400);

        // A partner user finds their own products only, and no customers.
        let pu = staff_browser(&app, "pn@example.com", Role::Partner, &["north"]).await;
        let (_, found) = lookup(
            &pu,
            "/dashboard/catalogue/products/lookup/?q=lookup%20kettle",
        )
        .await;
        assert_eq!(found.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [ours]);
        assert_eq!(
            lookup(&pu, "/dashboard/customers/lookup/?q=picker").await.0,
            403
        );
        // And nobody signed in gets anything.
        let visitor = app.browser();
        assert_eq!(
            lookup(&visitor, "/dashboard/catalogue/products/lookup/?q=a")
                .await
                .0,
            303
        );

        // The pages mark their pickers and rich-text fields, and load scripts from the shop
        // only (vendored from npm, never a CDN).
        let edit = b.get(&product_page(ours)).await;
        assert!(
            edit.body.contains("data-picker=\"product\"") && edit.body.contains("data-rich-text"),
            "{}",
            edit.body
        );
        assert!(!edit.body.contains("<script src=\"http") && !edit.body.contains("//cdn"));
        let vendored = support::repo_root().join("themes/default/static/vendor/trix.js");
        if vendored.exists() {
            assert!(
                edit.body.contains("/static/vendor/trix.js?v="),
                "{}",
                edit.body
            );
            let (status, _) = app.get("/static/vendor/tom-select.js").await;
            assert_eq!(status, 200);
        }
        // (The order list asks for a customer once it is filtered by one.)
        let orders = b
            .get(&format!("/dashboard/orders/?customer={}", customers[0].0))
            .await;
        assert!(
            orders.body.contains("data-picker=\"customer\""),
            "{}",
            orders.body
        );

        // What the editor posts (Trix's markup) is kept; a script or a javascript: link is not.
        let posted = post(
            &b,
            &product_page(ours),
            &[
                ("title", "Lookup kettle north"),
                ("upc", "LOOK-N"),
                ("is_public", "1"),
                (
                    "description",
                    "<div>Boils <strong>fast</strong><br>and quietly</div><script>alert(1)</script>\
                     <a href=\"javascript:alert(2)\" onclick=\"alert(3)\">more</a>",
                ),
            ],
        )
        .await;
        assert_eq!(posted.status, 303, "{}", posted.body);
        let stored = text(&app, "SELECT description FROM product WHERE id = $1", ours).await;
        assert!(stored.contains("<strong>fast</strong>"), "{stored}");
        assert!(
            !stored.contains("script")
                && !stored.contains("javascript")
                && !stored.contains("onclick"),
            "{stored}"
        );
        let (_, page) = app.get(&storefront_url(&app, ours).await).await;
        assert!(
            page.contains("<strong>fast</strong>") && !page.contains("alert("),
            "{page}"
        );
    }
);

/// An import larger than `max_upload_bytes` is refused with a message that says so, and
/// starts nothing; one far larger is cut off before it is read (413).
async fn an_import_too_large_is_refused(backend: Backend) {
    let app = TestApp::start_tweaked(backend, support::Options::default(), |c| {
        c.max_upload_bytes = 4096;
    })
    .await;
    let b = admin(&app).await;
    let form = b.get("/dashboard/catalogue/import/").await;
    assert!(form.body.contains("at most 4 KB"), "{}", form.body);
    let mut big = String::from("upc,title\n");
    while big.len() <= 4096 {
        big.push_str("BIG-1,A title long enough to fill the file quickly\n");
    }
    let page = post_multipart(
        &b,
        "/dashboard/catalogue/import/",
        &[("mode", "import")],
        "file",
        ("big.csv", "text/csv", big.as_bytes()),
    )
    .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("larger than"), "{}", page.body);
    assert!(page.body.contains("value=\"import\" checked"));
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM export_job").await, 0);
    let huge = "x".repeat(200 * 1024);
    let cut = post_multipart(
        &b,
        "/dashboard/catalogue/import/",
        &[("mode", "import")],
        "file",
        ("huge.csv", "text/csv", huge.as_bytes()),
    )
    .await;
    assert_eq!(cut.status, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_too_large_is_refused_sqlite() {
    an_import_too_large_is_refused(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_too_large_is_refused_postgres() {
    an_import_too_large_is_refused(Backend::Postgres).await;
}
