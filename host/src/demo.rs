//! The demo catalogue: generated in code, deterministic (the same `--products N` always gives
//! the same shop), realistic enough to judge the storefront and to benchmark it.

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::AnyPool;

use crate::catalogue::attributes::AttributeKind;
use crate::catalogue::category::Category;
use crate::catalogue::{self, CatalogueError};
use crate::fixtures::{
    AttributeSpec, CategoryBuilder, ClassBuilder, CreatedClass, FixtureError, OptionBuilder,
    PartnerBuilder, ProductBuilder,
};
use crate::media::MediaStore;
use crate::money::{Currency, Money};
use crate::partner::{self, Partner, PartnerError};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error(transparent)]
    Partner(#[from] PartnerError),
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("writing the demo images to the media store: {0}")]
    Media(#[from] crate::media::MediaError),
}

/// SplitMix64: a tiny generator whose output is fixed forever, unlike library RNGs whose
/// streams may change between versions; the demo shop must not change under our feet.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The kinds of product the demo sells.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Clothing,
    Book,
    Coffee,
    Kitchen,
}

/// A root category with its children, each with its own children (leaves when empty).
type CategorySpec = (
    &'static str,
    &'static [(&'static str, &'static [&'static str])],
);

const CATEGORY_TREE: &[CategorySpec] = &[
    (
        "Clothing",
        &[
            ("Men", &["T-shirts", "Shirts", "Knitwear"]),
            ("Women", &["Tops", "Dresses", "Knitwear"]),
            ("Accessories", &[]),
        ],
    ),
    (
        "Books",
        &[
            ("Fiction", &["Crime", "Science fiction", "Literary fiction"]),
            ("Non-fiction", &["History", "Science", "Food & drink"]),
            ("Children's", &[]),
        ],
    ),
    (
        "Coffee",
        &[("Single origin", &[]), ("Blends", &[]), ("Decaf", &[])],
    ),
    (
        "Home & Kitchen",
        &[("Cookware", &[]), ("Tableware", &[]), ("Storage", &[])],
    ),
];

const ADJECTIVES: &[&str] = &[
    "Classic", "Everyday", "Heritage", "Coastal", "Alpine", "Urban", "Harbour", "Meadow",
    "Northern", "Midnight", "Sunrise", "Woodland", "Vintage", "Studio", "Field", "Highland",
];
const COLOURS: &[&str] = &[
    "Navy", "Black", "White", "Olive", "Rust", "Grey", "Sky blue",
];
const SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];
const GARMENTS: &[(&str, &str)] = &[
    ("T-shirts", "Tee"),
    ("Shirts", "Oxford Shirt"),
    ("Knitwear", "Crew Jumper"),
    ("Tops", "Relaxed Top"),
    ("Dresses", "Wrap Dress"),
    ("Accessories", "Wool Scarf"),
];
const BOOK_WORDS: &[&str] = &[
    "Shadow", "River", "Garden", "Silence", "Machine", "Empire", "Winter", "Island", "Letters",
    "Harvest", "Signal", "Orchard", "Tide", "Lantern", "Compass", "Archive",
];
const AUTHORS: &[&str] = &[
    "Ada Marsh",
    "Tom Okafor",
    "Lena Varga",
    "Sam Whitlock",
    "Priya Raman",
    "Jonas Berg",
    "Maya Castell",
    "Ewan Doyle",
    "Hana Sato",
    "Omar Haddad",
];
/// English twice: most of the demo books are in English.
const LANGUAGES: [&str; 5] = ["English", "English", "French", "German", "Spanish"];
const ORIGINS: &[&str] = &[
    "Ethiopia Yirgacheffe",
    "Colombia Huila",
    "Kenya Nyeri",
    "Guatemala Antigua",
    "Brazil Cerrado",
    "Rwanda Nyungwe",
    "Costa Rica Tarrazú",
    "Sumatra Mandheling",
];
const NOTES: &[&str] = &[
    "Chocolate",
    "Citrus",
    "Berry",
    "Caramel",
    "Floral",
    "Nutty",
    "Stone fruit",
];
const KITCHEN: &[(&str, &str)] = &[
    ("Cookware", "Cast Iron Skillet"),
    ("Cookware", "Saucepan"),
    ("Tableware", "Stoneware Mug"),
    ("Tableware", "Dinner Plate Set"),
    ("Storage", "Glass Storage Jar"),
    ("Storage", "Bread Bin"),
];

/// Loads the demo catalogue unless it is already there. Returns how many products were added.
pub async fn load(
    pool: &AnyPool,
    products: u32,
    currency: Currency,
    media: &MediaStore,
    show_progress: bool,
) -> Result<u32, DemoError> {
    if partner::partner_by_code(pool, "demo").await?.is_some() {
        return Ok(0);
    }
    write_images(media).await?;
    let mut rng = Rng(0x5EED_0FE3_0051_u64);
    let mut tx = pool.begin().await?;

    let partner = PartnerBuilder::new()
        .code("demo")
        .name("Emporium Warehouse")
        .create_in(&mut tx)
        .await?;
    let engraving = OptionBuilder::new()
        .code("engraving")
        .name("Engraving")
        .help("Up to 30 characters, engraved by hand.")
        .create_in(&mut tx)
        .await?;
    let gift_wrap = OptionBuilder::new()
        .code("gift-wrap")
        .name("Gift wrap")
        .kind("boolean")
        .create_in(&mut tx)
        .await?;

    let clothing = ClassBuilder::new()
        .name("Clothing")
        .attribute(
            AttributeSpec::new("material", "Material", AttributeKind::Option)
                .required()
                .choices(&[
                    "Organic cotton",
                    "Linen",
                    "Merino wool",
                    "Recycled polyester",
                ]),
        )
        .attribute(AttributeSpec::new("size", "Size", AttributeKind::Option).choices(SIZES))
        .attribute(AttributeSpec::new("colour", "Colour", AttributeKind::Option).choices(COLOURS))
        .attribute(AttributeSpec::new(
            "machine_washable",
            "Machine washable",
            AttributeKind::Boolean,
        ))
        .create_in(&mut tx)
        .await?;
    let book = ClassBuilder::new()
        .name("Book")
        .option(&gift_wrap)
        .attribute(AttributeSpec::new("author", "Author", AttributeKind::Text).required())
        .attribute(AttributeSpec::new("pages", "Pages", AttributeKind::Integer))
        .attribute(AttributeSpec::new(
            "published",
            "Published",
            AttributeKind::Date,
        ))
        .attribute(AttributeSpec::new(
            "hardback",
            "Hardback",
            AttributeKind::Boolean,
        ))
        .attribute(
            AttributeSpec::new("language", "Language", AttributeKind::Option)
                .choices(&["English", "French", "German", "Spanish"]),
        )
        .create_in(&mut tx)
        .await?;
    let coffee = ClassBuilder::new()
        .name("Coffee")
        .attribute(AttributeSpec::new("origin", "Origin", AttributeKind::Text).required())
        .attribute(
            AttributeSpec::new("roast", "Roast", AttributeKind::Option)
                .required()
                .choices(&["Light", "Medium", "Dark"]),
        )
        .attribute(
            AttributeSpec::new("notes", "Tasting notes", AttributeKind::MultiOption).choices(NOTES),
        )
        .attribute(AttributeSpec::new(
            "altitude",
            "Altitude (m)",
            AttributeKind::Integer,
        ))
        .attribute(AttributeSpec::new(
            "score",
            "Cupping score",
            AttributeKind::Float,
        ))
        .create_in(&mut tx)
        .await?;
    let kitchen = ClassBuilder::new()
        .name("Home & Kitchen")
        .option(&engraving)
        .attribute(
            AttributeSpec::new("material", "Material", AttributeKind::Option)
                .required()
                .choices(&["Cast iron", "Stainless steel", "Stoneware", "Glass", "Oak"]),
        )
        .attribute(AttributeSpec::new(
            "dishwasher_safe",
            "Dishwasher safe",
            AttributeKind::Boolean,
        ))
        .attribute(AttributeSpec::new(
            "capacity",
            "Capacity (ml)",
            AttributeKind::Integer,
        ))
        .create_in(&mut tx)
        .await?;

    // Categories: (leaf category, kind of product it holds).
    let mut leaves: Vec<(Category, Kind)> = Vec::new();
    for (root_name, children) in CATEGORY_TREE {
        let root = CategoryBuilder::new()
            .name(root_name)
            .description(&format!("Our {} range.", root_name.to_lowercase()))
            .create_in(&mut tx)
            .await?;
        let kind = match *root_name {
            "Clothing" => Kind::Clothing,
            "Books" => Kind::Book,
            "Coffee" => Kind::Coffee,
            _ => Kind::Kitchen,
        };
        for (child_name, grandchildren) in *children {
            let child = CategoryBuilder::new()
                .name(child_name)
                .parent(&root)
                .create_in(&mut tx)
                .await?;
            for gc in *grandchildren {
                let leaf = CategoryBuilder::new()
                    .name(gc)
                    .parent(&child)
                    .create_in(&mut tx)
                    .await?;
                leaves.push((leaf, kind));
            }
            if grandchildren.is_empty() {
                leaves.push((child, kind));
            }
        }
    }

    let progress = if show_progress {
        let bar = ProgressBar::new(u64::from(products));
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message("demo products");
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut created: Vec<i64> = Vec::with_capacity(products as usize);
    for n in 0..products {
        let (category, kind) = &leaves[n as usize % leaves.len()];
        // Spread creation dates over the last year so "newest" means something.
        let created_at = format!(
            "2026-{:02}-{:02}T{:02}:{:02}:00Z",
            1 + rng.below(10),
            1 + rng.below(28),
            rng.below(24),
            rng.below(60)
        );
        let ctx = ProductCtx {
            n,
            partner: &partner,
            currency,
            created_at: &created_at,
        };
        let mut product = match kind {
            Kind::Clothing => garment(&mut rng, &clothing, category, &ctx),
            Kind::Book => book_product(&mut rng, &book, &ctx),
            Kind::Coffee => coffee_product(&mut rng, &coffee, category, &ctx),
            Kind::Kitchen => kitchen_product(&mut rng, &kitchen, category, &ctx),
        }
        .category(category);
        let image_count = 1 + rng.below(3);
        for i in 0..image_count {
            let file = format!(
                "demo/{}-{}.svg",
                kind_slug(*kind),
                rng.below(IMAGES_PER_KIND)
            );
            let caption = if i == 0 {
                String::new()
            } else {
                format!("View {}", i + 1)
            };
            product = product.image(&file, &caption);
        }
        created.push(product.create_in(&mut tx).await?.id);
        progress.inc(1);
    }
    // Recommendations: a few neighbours of each product, ranked. In a small shop the
    // neighbours wrap round onto the same product or each other; each is recommended once.
    for (i, id) in created.iter().enumerate() {
        let mut recommended = Vec::with_capacity(3);
        for (rank, step) in [7usize, 13, 29].iter().enumerate() {
            let other = created[(i + step) % created.len()];
            if other != *id && !recommended.contains(&other) {
                recommended.push(other);
                catalogue::add_recommendation(&mut *tx, *id, other, 3 - rank as i64).await?;
            }
        }
    }
    tx.commit().await?;
    progress.finish_and_clear();
    Ok(products)
}

struct ProductCtx<'a> {
    n: u32,
    partner: &'a Partner,
    currency: Currency,
    created_at: &'a str,
}

/// Gives the product (standalone or variant) its stock record at the demo partner.
fn stocked(
    product: ProductBuilder,
    rng: &mut Rng,
    ctx: &ProductCtx<'_>,
    sku: &str,
    price_minor: i64,
) -> ProductBuilder {
    // About one in twelve is sold out, a few are low.
    let num_in_stock = if rng.chance(8) {
        0
    } else {
        1 + rng.below(60) as i64
    };
    product
        .partner(ctx.partner)
        .sku(sku)
        .price_money(Money::from_minor(price_minor, ctx.currency))
        .stock(num_in_stock)
        .low_stock_threshold(5)
}

fn upc(n: u32, variant: u32) -> String {
    format!("5{:07}{:04}", n, variant)
}

/// Prices end in .00, .50, .95 or .99, as shops price.
fn shop_price(rng: &mut Rng, low_pounds: u64, high_pounds: u64) -> i64 {
    let pounds = low_pounds + rng.below(high_pounds - low_pounds + 1);
    let pence = *rng.pick(&[0u64, 50, 95, 99]);
    (pounds * 100 + pence) as i64
}

// The generators below draw from `rng` in a fixed order; reordering the draws changes the
// whole demo shop.

fn garment(
    rng: &mut Rng,
    class: &CreatedClass,
    category: &Category,
    ctx: &ProductCtx<'_>,
) -> ProductBuilder {
    let garment = GARMENTS
        .iter()
        .find(|(cat, _)| *cat == category.name)
        .map(|(_, g)| *g)
        .unwrap_or("Tee");
    let title = format!("{} {} {}", rng.pick(ADJECTIVES), garment, ctx.n);
    let material = *rng.pick(&[
        "Organic cotton",
        "Linen",
        "Merino wool",
        "Recycled polyester",
    ]);
    let description = format!(
        "A {} {} cut for everyday wear.\n\nMade from {} in a small mill; pre-washed so it keeps its shape.",
        garment.to_lowercase(),
        if category.full_slug.contains("women") {
            "for women"
        } else {
            "for men"
        },
        material.to_lowercase()
    );
    // Most garments come in sizes and colours: a parent with children.
    let has_variants = rng.chance(75);
    let base_price = shop_price(rng, 18, 95);
    let priority = rng.below(10) as i64;
    let weight = 250 + rng.below(400) as i64;
    let mut product = if has_variants {
        ProductBuilder::parent()
    } else {
        ProductBuilder::new()
    }
    .class(class)
    .upc(&upc(ctx.n, 0))
    .title(&title)
    .description(&description)
    .priority(priority)
    .weight_grams(weight)
    .created_at(ctx.created_at)
    .attribute("material", material)
    .attribute(
        "machine_washable",
        if material == "Linen" { "no" } else { "yes" },
    );
    if !has_variants {
        return stocked(product, rng, ctx, &format!("CL-{}", ctx.n), base_price);
    }
    let colour_count = 1 + rng.below(2) as usize;
    let first_colour = rng.below(COLOURS.len() as u64) as usize;
    let mut variant = 1;
    for c in 0..colour_count {
        let colour = COLOURS[(first_colour + c) % COLOURS.len()];
        for size in &SIZES[1..4] {
            // Larger sizes cost a little more on some lines.
            let price = if *size == "L" && rng.chance(30) {
                base_price + 200
            } else {
                base_price
            };
            let child = ProductBuilder::new()
                .upc(&upc(ctx.n, variant))
                .title(&format!("{title} – {colour}, {size}"))
                .created_at(ctx.created_at)
                .attribute("size", size)
                .attribute("colour", colour);
            let sku = format!("CL-{}-{}", ctx.n, variant);
            product = product.variant(stocked(child, rng, ctx, &sku, price));
            variant += 1;
        }
    }
    product
}

fn book_product(rng: &mut Rng, class: &CreatedClass, ctx: &ProductCtx<'_>) -> ProductBuilder {
    let title = format!(
        "The {} of the {} ({})",
        rng.pick(BOOK_WORDS),
        rng.pick(BOOK_WORDS),
        ctx.n
    );
    let author = *rng.pick(AUTHORS);
    let description = format!(
        "{title} by {author}.\n\nA {} read that critics called \"impossible to put down\".",
        rng.pick(&["gripping", "thoughtful", "funny", "haunting", "generous"])
    );
    let priority = rng.below(10) as i64;
    let weight = 200 + rng.below(800) as i64;
    let pages = (120 + rng.below(600)).to_string();
    let published = format!(
        "{}-{:02}-{:02}",
        1990 + rng.below(36),
        1 + rng.below(12),
        1 + rng.below(28)
    );
    let hardback = if rng.chance(30) { "yes" } else { "no" };
    let language = LANGUAGES[rng.below(LANGUAGES.len() as u64) as usize];
    let price = shop_price(rng, 7, 30);
    let product = ProductBuilder::new()
        .class(class)
        .upc(&upc(ctx.n, 0))
        .title(&title)
        .description(&description)
        .priority(priority)
        .weight_grams(weight)
        .created_at(ctx.created_at)
        .attribute("author", author)
        .attribute("pages", &pages)
        .attribute("published", &published)
        .attribute("hardback", hardback)
        .attribute("language", language);
    stocked(product, rng, ctx, &format!("BK-{}", ctx.n), price)
}

fn coffee_product(
    rng: &mut Rng,
    class: &CreatedClass,
    category: &Category,
    ctx: &ProductCtx<'_>,
) -> ProductBuilder {
    let origin = *rng.pick(ORIGINS);
    let title = match category.name.as_str() {
        "Blends" => format!("{} Blend No. {}", rng.pick(ADJECTIVES), ctx.n),
        "Decaf" => format!("Decaf {origin} {}", ctx.n),
        _ => format!("{origin} Lot {}", ctx.n),
    };
    let roast = *rng.pick(&["Light", "Medium", "Dark"]);
    let description = format!(
        "{roast} roast, roasted to order in small batches.\n\nGrown in {origin}; brews beautifully as filter or espresso."
    );
    let priority = rng.below(10) as i64;
    let notes = [*rng.pick(NOTES), *rng.pick(NOTES)];
    let altitude = (1000 + rng.below(1200)).to_string();
    let score = format!("{}.{}", 82 + rng.below(8), rng.below(4) * 25);
    // Coffee comes in two bag sizes: a parent with two children.
    let mut product = ProductBuilder::parent()
        .class(class)
        .upc(&upc(ctx.n, 0))
        .title(&title)
        .description(&description)
        .priority(priority)
        .created_at(ctx.created_at)
        .attribute("origin", origin)
        .attribute("roast", roast)
        .attribute_values("notes", &notes)
        .attribute("altitude", &altitude)
        .attribute("score", &score);
    let base = shop_price(rng, 8, 16);
    for (v, (bag, grams, factor)) in [("250 g", 250i64, 1i64), ("1 kg", 1000, 3)]
        .iter()
        .enumerate()
    {
        let bag = ProductBuilder::new()
            .upc(&upc(ctx.n, v as u32 + 1))
            .title(&format!("{title} – {bag}"))
            .weight_grams(*grams + 20)
            .created_at(ctx.created_at);
        let sku = format!("CF-{}-{}", ctx.n, v + 1);
        product = product.variant(stocked(
            bag,
            rng,
            ctx,
            &sku,
            base * factor + 50 * (factor - 1),
        ));
    }
    product
}

fn kitchen_product(
    rng: &mut Rng,
    class: &CreatedClass,
    category: &Category,
    ctx: &ProductCtx<'_>,
) -> ProductBuilder {
    let candidates: Vec<&str> = KITCHEN
        .iter()
        .filter(|(cat, _)| *cat == category.name)
        .map(|(_, item)| *item)
        .collect();
    let item = if candidates.is_empty() {
        "Utensil Set"
    } else {
        *rng.pick(&candidates)
    };
    let title = format!("{} {} {}", rng.pick(ADJECTIVES), item, ctx.n);
    let material = *rng.pick(&["Cast iron", "Stainless steel", "Stoneware", "Glass", "Oak"]);
    let description = format!(
        "A {} {} built to last a lifetime.\n\nEvery piece is checked by hand before it leaves the workshop.",
        material.to_lowercase(),
        item.to_lowercase()
    );
    let priority = rng.below(10) as i64;
    let weight = 300 + rng.below(3000) as i64;
    let mut product = ProductBuilder::new()
        .class(class)
        .upc(&upc(ctx.n, 0))
        .title(&title)
        .description(&description)
        .priority(priority)
        .weight_grams(weight)
        .created_at(ctx.created_at)
        .attribute("material", material)
        .attribute(
            "dishwasher_safe",
            if material == "Cast iron" || material == "Oak" {
                "no"
            } else {
                "yes"
            },
        );
    if rng.chance(60) {
        product = product.attribute("capacity", &(250 * (1 + rng.below(12))).to_string());
    }
    let price = shop_price(rng, 12, 140);
    stocked(product, rng, ctx, &format!("HK-{}", ctx.n), price)
}

const IMAGES_PER_KIND: u64 = 6;

fn kind_slug(kind: Kind) -> &'static str {
    match kind {
        Kind::Clothing => "clothing",
        Kind::Book => "book",
        Kind::Coffee => "coffee",
        Kind::Kitchen => "kitchen",
    }
}

/// Demo product pictures: simple SVG illustrations in a few palettes per kind of product.
/// The demo's pictures, written through the media store: on S3 when the shop's media live
/// there, so the demo shop shows them wherever it keeps its files.
async fn write_images(media: &MediaStore) -> Result<(), DemoError> {
    let palettes = [
        ("#1f3a5f", "#f4d35e"),
        ("#2e5e4e", "#f7f0e1"),
        ("#8c2f39", "#fcd5ce"),
        ("#3d405b", "#81b29a"),
        ("#264653", "#e9c46a"),
        ("#5f0f40", "#fb8b24"),
    ];
    for kind in [Kind::Clothing, Kind::Book, Kind::Coffee, Kind::Kitchen] {
        for (i, (bg, fg)) in palettes.iter().enumerate() {
            let shape = match kind {
                Kind::Clothing => format!(
                    r#"<path d="M280 200 L360 160 Q400 200 440 160 L520 200 L580 300 L520 330 L500 300 L500 640 L300 640 L300 300 L280 330 L220 300 Z" fill="{fg}"/>"#
                ),
                Kind::Book => format!(
                    r#"<rect x="250" y="170" width="300" height="460" rx="12" fill="{fg}"/><rect x="250" y="170" width="36" height="460" fill="{bg}" opacity="0.35"/><rect x="320" y="260" width="180" height="16" fill="{bg}"/><rect x="320" y="300" width="140" height="12" fill="{bg}" opacity="0.6"/>"#
                ),
                Kind::Coffee => format!(
                    r#"<path d="M300 230 L500 230 L530 620 L270 620 Z" fill="{fg}"/><ellipse cx="400" cy="420" rx="48" ry="70" fill="{bg}"/><path d="M400 360 Q385 420 400 480" stroke="{fg}" stroke-width="8" fill="none"/>"#
                ),
                Kind::Kitchen => format!(
                    r#"<circle cx="380" cy="430" r="170" fill="{fg}"/><circle cx="380" cy="430" r="120" fill="{bg}" opacity="0.25"/><rect x="540" y="410" width="170" height="40" rx="20" fill="{fg}"/>"#
                ),
            };
            let svg = format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800" viewBox="0 0 800 800"><rect width="800" height="800" fill="{bg}"/>{shape}</svg>"#
            );
            let name = format!("demo/{}-{i}.svg", kind_slug(kind));
            media.write(&name, svg.into_bytes().into()).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_fixed() {
        let mut rng = Rng(42);
        let first: Vec<u64> = (0..3).map(|_| rng.below(1000)).collect();
        let mut again = Rng(42);
        assert_eq!(first, (0..3).map(|_| again.below(1000)).collect::<Vec<_>>());
    }
}
