//! Product images through the dashboard against the real app, on SQLite and PostgreSQL, with
//! the media in files; and once more with the media in S3, against a real S3-compatible server
//! on loopback (moto, from the project venv: `cargo xtask test` installs it; in CI a missing
//! moto fails, elsewhere that test says why and skips).
//!
//! Uploads are judged by content (a PNG called `.jpg` is a PNG; text and SVG are refused, and
//! so are files over the size or pixel limit, with nothing stored); originals are served at
//! their URL with their content type and for-good cache headers; thumbnails come in the
//! theme's sizes, made once; captions, order and deletion; who may do what.

mod support;

use std::io::Cursor;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use emporium::fixtures::{PartnerBuilder, ProductBuilder};
use emporium::staff::Role;
use object_store::ObjectStoreExt;
use sqlx::Row;
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, Page, TestApp, repo_root};

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 3 % 256) as u8, 90])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A PNG of one colour: tiny, whatever its pixel count.
fn flat_png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A PNG of noise: it does not compress, so its size follows its pixel count.
fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let img = image::RgbImage::from_fn(width, height, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let [a, b, c, ..] = seed.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(width, height, |x, _| image::Rgb([(x % 256) as u8, 40, 200]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A `multipart/form-data` body as a browser sends it: the token first, then `fields`, then
/// the file.
fn multipart(token: &str, fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "----emporiumTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    let mut text = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    text("csrf_token", token);
    for (name, value) in fields {
        text(name, value);
    }
    let (filename, content_type, bytes) = file;
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn images_url(product: i64) -> String {
    format!("/dashboard/catalogue/products/{product}/images/")
}

async fn upload(b: &Browser, product: i64, file: (&str, &str, &[u8]), caption: &str) -> Page {
    let token = b.get("/dashboard/").await.csrf_token().unwrap();
    let (content_type, body) = multipart(&token, &[("caption", caption)], file);
    let response = b
        .client
        .post(format!("{}{}upload/", b.base, images_url(product)))
        .header("origin", &b.base)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    page_of(response).await
}

async fn page_of(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    Page {
        status,
        location,
        set_cookie: Vec::new(),
        body: response.text().await.unwrap_or_default(),
    }
}

async fn admin(app: &TestApp) -> Browser {
    add_staff(app, "boss@example.com", Role::Admin, &[]).await;
    staff_browser(app, "boss@example.com").await
}

/// A product of a partner of its own: (product id, partner code, product page).
async fn make_product(app: &TestApp) -> (i64, String, String) {
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let partner = PartnerBuilder::new().create_in(&mut conn).await.unwrap();
    drop(conn);
    let product = ProductBuilder::new()
        .title("Linen Apron")
        .price("20.00")
        .stock(5)
        .partner(&partner)
        .create(&app.state.db)
        .await
        .unwrap();
    let url = product.url();
    (product.id, partner.code, url)
}

/// The product's images as (id, original, caption), in display order.
async fn images_of(app: &TestApp, product: i64) -> Vec<(i64, String, String)> {
    sqlx::query(
        "SELECT id, original, caption FROM product_image WHERE product_id = $1 \
         ORDER BY display_order, id",
    )
    .bind(product)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query("SELECT action FROM audit_log WHERE action LIKE 'product_image.%' ORDER BY id")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Every file under the media store's `images/` and `thumbs/` (the local backend).
fn stored_files(app: &TestApp) -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    let mut files = Vec::new();
    for sub in ["images", "thumbs"] {
        walk(&app.state.config.media_dir().join(sub), &mut files);
    }
    files.sort();
    files
}

async fn get_bytes(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = app.get_response(path).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// Upload, serve the original, make a thumbnail once; shows on the storefront at once.
async fn upload_serve_and_thumbnail(app: TestApp) {
    let (product, _, page_url) = make_product(&app).await;
    // The product page is cached for cookie-less visitors; the upload must show anyway.
    let before = app.get(&page_url).await;
    assert_eq!(before.0, 200);
    assert!(!before.1.contains("/media/images/"));
    let b = admin(&app).await;
    let list = b.get(&images_url(product)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("No images yet."), "{}", list.body);
    assert!(list.body.contains("enctype=\"multipart/form-data\""));

    // A PNG called .jpg and sent as image/jpeg is stored as what it is.
    let original = png(600, 400);
    let done = upload(
        &b,
        product,
        ("photo.jpg", "image/jpeg", &original),
        "On the hook",
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some(images_url(product).as_str()));
    let images = images_of(&app, product).await;
    assert_eq!(images.len(), 1);
    let (_, name, caption) = &images[0];
    assert!(
        name.starts_with("images/") && name.ends_with(".png"),
        "{name}"
    );
    assert_eq!(caption, "On the hook");
    assert_eq!(audit_actions(&app).await, ["product_image.add"]);
    let listed = b.get(&images_url(product)).await;
    assert!(
        listed.body.contains("Image added (600 × 400 pixels)."),
        "{}",
        listed.body
    );
    assert!(listed.body.contains("On the hook"));

    // The original at its URL, with its type and cached for good.
    let (status, headers, bytes) = get_bytes(&app, &format!("/media/{name}")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(bytes, original);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let revalidated = app
        .client
        .get(format!("{}/media/{name}", app.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status().as_u16(), 304);

    // The storefront shows it at once, through the theme's thumbnails.
    let (status, page) = app.get(&page_url).await;
    assert_eq!(status, 200);
    let large = format!("/media/thumbs/800x800/{name}");
    assert!(page.contains(&large), "{page}");
    assert!(
        page.contains("width=\"600\" height=\"400\""),
        "not enlarged: {page}"
    );

    // A thumbnail in a size the theme declares: made on the first request, then reused.
    let small = format!("/media/thumbs/200x200/{name}");
    assert!(
        listed.body.contains(&small),
        "the dashboard list shows the small thumbnail"
    );
    let made_before = app.state.media.thumbnails_generated();
    let (status, headers, first) = get_bytes(&app, &small).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let thumb = image::load_from_memory(&first).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (200, 133));
    assert_eq!(app.state.media.thumbnails_generated(), made_before + 1);
    let (_, _, second) = get_bytes(&app, &small).await;
    assert_eq!(second, first);
    assert_eq!(
        app.state.media.thumbnails_generated(),
        made_before + 1,
        "a second request does not make it again"
    );
    // Several first requests at once still make it once.
    let card = format!("/media/thumbs/400x400/{name}");
    let made_before = app.state.media.thumbnails_generated();
    let all = futures::future::join_all((0..4).map(|_| get_bytes(&app, &card))).await;
    assert!(
        all.iter()
            .all(|(status, _, bytes)| *status == 200 && *bytes == all[0].2)
    );
    assert_eq!(app.state.media.thumbnails_generated(), made_before + 1);
    let made_before = made_before + 1;
    // Sizes the theme does not declare, and names that are not ours, are not found.
    for path in [
        format!("/media/thumbs/123x45/{name}"),
        format!("/media/thumbs/0200x200/{name}"),
        "/media/thumbs/200x200/images/zz/nothing.png".to_owned(),
        "/media/images/../shop.db".to_owned(),
        "/media/images/zz/nothing.png".to_owned(),
    ] {
        assert_eq!(app.get(&path).await.0, 404, "{path}");
    }
    assert_eq!(app.state.media.thumbnails_generated(), made_before);

    // A JPEG keeps being a JPEG, its thumbnails too.
    let photo = jpeg(300, 900);
    let done = upload(&b, product, ("IMG_0001.JPG", "image/jpeg", &photo), "").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, name, _) = images_of(&app, product).await.pop().unwrap();
    assert!(name.ends_with(".jpg"), "{name}");
    let (status, headers, bytes) = get_bytes(&app, &format!("/media/thumbs/200x200/{name}")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    let thumb = image::load_from_memory(&bytes).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (67, 200));
    // The listing card uses the card size.
    let (_, home) = app.get("/search?q=Linen+Apron").await;
    let first = &images_of(&app, product).await[0].1;
    assert!(
        home.contains(&format!("/media/thumbs/400x400/{first}")),
        "{home}"
    );
}

both_backends!(upload_serve_and_thumbnail_db, |app: TestApp| async move {
    upload_serve_and_thumbnail(app).await;
});

/// What is refused, with its message, leaving nothing stored.
async fn refusals(backend: Backend) {
    let app = TestApp::start_tweaked(backend, Options::default(), |c| {
        c.max_upload_bytes = 200 * 1024;
        c.max_image_pixels = 1_000_000;
    })
    .await;
    let (product, _, _) = make_product(&app).await;
    let b = admin(&app).await;
    let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(document.cookie)</script></svg>"#;
    let big = noisy_png(280, 280);
    assert!(
        big.len() > 200 * 1024 && big.len() < 200 * 1024 + 60 * 1024,
        "{}",
        big.len()
    );
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "notes.png",
            "image/png",
            b"just some text, not a picture".to_vec(),
            "isn&#x27;t an image we can use",
        ),
        (
            "logo.svg",
            "image/svg+xml",
            svg.to_vec(),
            "SVG images aren&#x27;t accepted",
        ),
        (
            "logo.png",
            "image/png",
            svg.to_vec(),
            "SVG images aren&#x27;t accepted",
        ),
        ("big.png", "image/png", big, "larger than 200 KB"),
        (
            "wide.png",
            "image/png",
            flat_png(1200, 1000),
            "more than the 1 megapixels we accept",
        ),
        (
            "empty.png",
            "image/png",
            Vec::new(),
            "Choose an image file to upload.",
        ),
    ];
    for (filename, content_type, bytes, message) in &cases {
        let page = upload(&b, product, (filename, content_type, bytes), "kept caption").await;
        assert_eq!(page.status, 422, "{filename}: {}", page.body);
        assert!(
            page.body.contains(message),
            "{filename}: {message} in {}",
            page.body
        );
        assert!(
            page.body.contains("value=\"kept caption\""),
            "the caption is kept"
        );
        assert!(page.body.contains("aria-invalid=\"true\""));
    }
    // A body far over the limit is refused before it is read.
    let huge = vec![0u8; 600 * 1024];
    let page = upload(&b, product, ("huge.png", "image/png", &huge), "").await;
    assert_eq!(page.status, 413, "{}", page.body);
    assert!(page.body.contains("Request too large"), "{}", page.body);
    // A caption that is too long.
    let long = "x".repeat(201);
    let page = upload(&b, product, ("ok.png", "image/png", &png(10, 10)), &long).await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("Keep the caption to 200 characters."),
        "{}",
        page.body
    );

    // The multipart form's token is checked like any form's: wrong, or not the first field
    // (the host reads only the first before the file streams on).
    let ok = png(10, 10);
    let url = format!("{}{}upload/", b.base, images_url(product));
    let token = b.get("/dashboard/").await.csrf_token().unwrap();
    let boundary = "----emporiumTestBoundary7MA4YWxkTrZu0gW";
    let mut token_last = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"ok.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    token_last.extend_from_slice(&ok);
    token_last.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    let wrong = multipart(&"0".repeat(64), &[], ("ok.png", "image/png", &ok));
    let later = (
        format!("multipart/form-data; boundary={boundary}"),
        token_last,
    );
    for (content_type, body) in [wrong, later] {
        let response = b
            .client
            .post(&url)
            .header("origin", &b.base)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let page = page_of(response).await;
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("This form has expired"), "{}", page.body);
    }

    assert!(
        images_of(&app, product).await.is_empty(),
        "nothing was added"
    );
    assert!(audit_actions(&app).await.is_empty());
    assert_eq!(
        stored_files(&app),
        Vec::<String>::new(),
        "nothing was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_sqlite() {
    refusals(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_postgres() {
    refusals(Backend::Postgres).await;
}

/// The form posts to `path` with the page's token.
async fn post(b: &Browser, path: &str, fields: &[(&str, &str)]) -> Page {
    let token = b.get("/dashboard/").await.csrf_token().unwrap();
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    b.post(path, &form).await
}

async fn caption_reorder_delete(app: TestApp) {
    let (product, _, page_url) = make_product(&app).await;
    let b = admin(&app).await;
    for (n, side) in [(1, 10), (2, 20), (3, 30)] {
        let page = upload(
            &b,
            product,
            ("p.png", "image/png", &png(side, side)),
            &format!("Picture {n}"),
        )
        .await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
    let ids: Vec<i64> = images_of(&app, product).await.iter().map(|i| i.0).collect();
    let base = images_url(product);

    // Caption.
    let page = post(
        &b,
        &format!("{base}{}/caption/", ids[1]),
        &[("caption", "  Folded  ")],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(images_of(&app, product).await[1].2, "Folded");
    let long = "y".repeat(201);
    let page = post(
        &b,
        &format!("{base}{}/caption/", ids[1]),
        &[("caption", &long)],
    )
    .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("Keep the caption to 200 characters."));
    assert!(page.body.contains(&long), "what was typed is kept");
    assert_eq!(images_of(&app, product).await[1].2, "Folded");
    let (_, shown) = app.get(&page_url).await;
    assert!(
        shown.contains("Folded"),
        "the storefront shows the new caption"
    );

    // Reorder with buttons: the last one up, then the first one up (stays first).
    let page = post(
        &b,
        &format!("{base}{}/move/", ids[2]),
        &[("direction", "up")],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let order = |images: Vec<(i64, String, String)>| images.iter().map(|i| i.0).collect::<Vec<_>>();
    assert_eq!(
        order(images_of(&app, product).await),
        [ids[0], ids[2], ids[1]]
    );
    post(
        &b,
        &format!("{base}{}/move/", ids[0]),
        &[("direction", "up")],
    )
    .await;
    assert_eq!(
        order(images_of(&app, product).await),
        [ids[0], ids[2], ids[1]]
    );
    post(
        &b,
        &format!("{base}{}/move/", ids[0]),
        &[("direction", "down")],
    )
    .await;
    assert_eq!(
        order(images_of(&app, product).await),
        [ids[2], ids[0], ids[1]]
    );
    let page = post(
        &b,
        &format!("{base}{}/move/", ids[0]),
        &[("direction", "sideways")],
    )
    .await;
    assert_eq!(page.status, 400);
    // The storefront's main image is the first.
    let first = images_of(&app, product).await[0].1.clone();
    let (_, shown) = app.get(&page_url).await;
    let main = shown.find("gallery-main-image").unwrap();
    assert!(
        shown[main..].starts_with(&format!(
            "gallery-main-image\" src=\"/media/thumbs/800x800/{first}"
        )),
        "{}",
        &shown[main..main + 200]
    );

    // Delete: the row, and the file and its thumbnails once nothing uses it.
    let gone = images_of(&app, product).await[1].clone();
    let thumb = format!("/media/thumbs/200x200/{}", gone.1);
    assert_eq!(app.get(&thumb).await.0, 200);
    assert!(app.state.media.exists(&gone.1).await.unwrap());
    let page = post(&b, &format!("{base}{}/delete/", gone.0), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(order(images_of(&app, product).await), [ids[2], ids[1]]);
    assert!(!app.state.media.exists(&gone.1).await.unwrap());
    assert!(
        !app.state
            .media
            .exists(&thumb["/media/".len()..])
            .await
            .unwrap()
    );
    assert_eq!(app.get(&format!("/media/{}", gone.1)).await.0, 404);
    // Again: not found.
    assert_eq!(
        post(&b, &format!("{base}{}/delete/", gone.0), &[])
            .await
            .status,
        404
    );
    // An image of another product is not this product's.
    let (other, _, _) = product_with_title(&app, "Other").await;
    assert_eq!(
        post(&b, &format!("{}{}/delete/", images_url(other), ids[2]), &[])
            .await
            .status,
        404
    );
    assert_eq!(images_of(&app, product).await.len(), 2);

    assert_eq!(
        audit_actions(&app).await,
        [
            "product_image.add",
            "product_image.add",
            "product_image.add",
            "product_image.caption",
            "product_image.move",
            "product_image.move",
            "product_image.move",
            "product_image.delete",
        ]
    );
}

async fn product_with_title(app: &TestApp, title: &str) -> (i64, String, String) {
    let p = ProductBuilder::new()
        .title(title)
        .create(&app.state.db)
        .await
        .unwrap();
    let url = p.url();
    (p.id, String::new(), url)
}

both_backends!(caption_reorder_delete_db, |app: TestApp| async move {
    caption_reorder_delete(app).await;
});

/// Read-only staff see but change nothing (403); a partner user of another partner finds
/// nothing (404); a partner user of the product's partner manages its images.
async fn permissions(app: TestApp) {
    let (product, partner, _) = make_product(&app).await;
    let b = admin(&app).await;
    let page = upload(&b, product, ("a.png", "image/png", &png(20, 20)), "First").await;
    assert_eq!(page.status, 303);
    let image = images_of(&app, product).await[0].0;
    let base = images_url(product);
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let stranger = PartnerBuilder::new().create_in(&mut conn).await.unwrap();
    drop(conn);
    add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
    add_staff(&app, "other@example.com", Role::Partner, &[&stranger.code]).await;
    add_staff(&app, "own@example.com", Role::Partner, &[&partner]).await;
    add_staff(&app, "orders@example.com", Role::OrderManager, &[]).await;

    let anonymous = app.browser();
    let page = anonymous.get(&base).await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().starts_with("/dashboard/login/"));

    let before = (images_of(&app, product).await, audit_actions(&app).await);
    for (email, view, write) in [
        ("viewer@example.com", 200, 403),
        ("orders@example.com", 200, 403),
        ("other@example.com", 404, 404),
    ] {
        let s = staff_browser(&app, email).await;
        let page = s.get(&base).await;
        assert_eq!(page.status, view, "{email} GET: {}", page.body);
        if view == 200 {
            assert!(
                !page.body.contains("Upload an image"),
                "{email} sees no upload form"
            );
            assert!(
                !page.body.contains("/delete/"),
                "{email} sees no delete button"
            );
        }
        let page = upload(&s, product, ("b.png", "image/png", &png(20, 20)), "").await;
        assert_eq!(page.status, write, "{email} upload: {}", page.body);
        for (path, fields) in [
            (
                format!("{base}{image}/caption/"),
                vec![("caption", "Hacked")],
            ),
            (format!("{base}{image}/move/"), vec![("direction", "down")]),
            (format!("{base}{image}/delete/"), vec![]),
        ] {
            let page = post(&s, &path, &fields).await;
            assert_eq!(page.status, write, "{email} POST {path}: {}", page.body);
        }
    }
    assert_eq!(
        (images_of(&app, product).await, audit_actions(&app).await),
        before,
        "nothing changed"
    );

    let own = staff_browser(&app, "own@example.com").await;
    assert_eq!(own.get(&base).await.status, 200);
    let page = upload(
        &own,
        product,
        ("c.png", "image/png", &png(30, 20)),
        "Theirs",
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let page = post(
        &own,
        &format!("{base}{image}/caption/"),
        &[("caption", "Renamed")],
    )
    .await;
    assert_eq!(page.status, 303);
    assert_eq!(images_of(&app, product).await.len(), 2);
    // But not another partner's product.
    let (theirs, _, _) = make_product(&app).await;
    assert_eq!(own.get(&images_url(theirs)).await.status, 404);
}

both_backends!(permissions_db, |app: TestApp| async move {
    permissions(app).await;
});

/// The test bucket, read directly (not through the shop).
fn bucket(endpoint: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("shop-media")
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap()
}

/// moto's S3 server on a free loopback port, stopped when dropped.
struct Moto {
    port: u16,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv_python() -> std::path::PathBuf {
    repo_root().join("target/toolchains/venv/bin/python")
}

impl Moto {
    /// Started, or why not (moto missing).
    fn start() -> Result<Moto, String> {
        let python = venv_python();
        let usable = Command::new(&python)
            .args(["-c", "import moto.server, flask"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !usable {
            return Err(format!(
                "moto[server] is not installed in {} (cargo xtask test installs it)",
                python.display()
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting moto: {e}"))?;
        let mut moto = Moto { port, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!("moto exited at start: {status}"));
            }
            assert!(Instant::now() < deadline, "moto did not start within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_against_moto() {
    let moto = match Moto::start() {
        Ok(moto) => moto,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the S3 test needs moto in CI: {why}")
        }
        Err(why) => {
            eprintln!("skipping the S3 test: {why}");
            return;
        }
    };
    let endpoint = moto.endpoint();
    let http = reqwest::Client::new();
    // moto takes unsigned requests: make the bucket.
    let made = http
        .put(format!("{endpoint}/shop-media"))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{:?}", made.text().await);
    let app = TestApp::start_tweaked(Backend::Sqlite, Options::default(), |c| {
        c.media_url = Some("s3://shop-media/live".into());
        for (k, v) in [
            ("endpoint", endpoint.as_str()),
            ("allow_http", "true"),
            ("region", "us-east-1"),
            ("access_key_id", "testing"),
            ("secret_access_key", "testing"),
        ] {
            c.media_s3.insert(k.into(), v.into());
        }
    })
    .await;
    assert_eq!(app.state.media.location(), "s3://shop-media/live");
    // The demo catalogue's pictures went to the bucket too, and the shop serves them.
    let demo_picture = app
        .scalar_text("SELECT original FROM product_image WHERE original LIKE 'demo/%' LIMIT 1")
        .await;
    let bucket = bucket(&endpoint);
    bucket
        .head(&format!("live/{demo_picture}").into())
        .await
        .unwrap_or_else(|e| panic!("{demo_picture} is not in the bucket: {e}"));
    let (status, headers, _) = get_bytes(&app, &format!("/media/{demo_picture}")).await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "image/svg+xml")
    );
    let (product, _, page_url) = make_product(&app).await;
    let b = admin(&app).await;
    let original = png(500, 250);
    let page = upload(
        &b,
        product,
        ("photo.webp", "image/webp", &original),
        "In S3",
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let (_, name, _) = images_of(&app, product).await.remove(0);
    // In the bucket under the prefix, with its content type; nothing in the media folder.
    let object = bucket.get(&format!("live/{name}").into()).await.unwrap();
    assert_eq!(
        object
            .attributes
            .get(&object_store::Attribute::ContentType)
            .map(|v| v.as_ref()),
        Some("image/png")
    );
    assert_eq!(object.bytes().await.unwrap().to_vec(), original);
    assert_eq!(stored_files(&app), Vec::<String>::new());

    // Served by the shop, thumbnail made once and kept in the bucket.
    let (status, headers, bytes) = get_bytes(&app, &format!("/media/{name}")).await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "image/png")
    );
    assert_eq!(bytes, original);
    let small = format!("/media/thumbs/200x200/{name}");
    let made_before = app.state.media.thumbnails_generated();
    let (status, _, first) = get_bytes(&app, &small).await;
    assert_eq!(status, 200);
    let thumb = image::load_from_memory(&first).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (200, 100));
    let (_, _, second) = get_bytes(&app, &small).await;
    assert_eq!(first, second);
    assert_eq!(app.state.media.thumbnails_generated(), made_before + 1);
    let kept = bucket
        .get(&format!("live/thumbs/200x200/{name}").into())
        .await
        .unwrap();
    assert_eq!(kept.bytes().await.unwrap().to_vec(), first);
    let (_, shown) = app.get(&page_url).await;
    assert!(shown.contains(&format!("/media/thumbs/800x800/{name}")));

    // Deleting the image deletes the object and its thumbnail.
    let id = images_of(&app, product).await[0].0;
    let page = post(&b, &format!("{}{id}/delete/", images_url(product)), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    for key in [name.clone(), format!("thumbs/200x200/{name}")] {
        let gone = bucket.head(&format!("live/{key}").into()).await;
        assert!(
            matches!(gone, Err(object_store::Error::NotFound { .. })),
            "{key}: {gone:?}"
        );
    }
    assert_eq!(app.get(&format!("/media/{name}")).await.0, 404);
    drop(moto);
}
