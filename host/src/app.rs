//! The composition root: the [`Shop`] every front door (storefront, dashboard, API) and every
//! background task works on, assembled from the configuration: database → theme → pricing →
//! sessions → plugins → mail → caches.
//!
//! Nothing below `web/` imports this module's users; the domain modules take the parts they
//! need (a `Db`, a `Pricer`, checkout `Deps`) as arguments, never the whole shop.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::FromRef;

use crate::infra::changes::{Change, Changes};
use crate::infra::config::Config;
use crate::infra::db::Db;
use crate::money::{Currency, Money};
use crate::order::Pipeline;
use crate::pricing::{DefaultStrategy, Pricing, Strategy};
use crate::session::{SessionSettings, SessionStore};
use crate::themes::Templates;

/// One shop: its data, rules, plugins and caches. Shared by every request as [`AppState`].
pub struct Shop {
    pub db: Db,
    pub config: Config,
    pub templates: Templates,
    /// Prices and availability: the enabled pricing plugin, or the built-in strategy.
    pub pricing: Arc<Pricing>,
    /// Offers and vouchers: the discounts every priced basket gets.
    pub offers: Arc<crate::offer::Offers>,
    /// Order and line statuses, built from the configuration at start-up.
    pub pipeline: Pipeline,
    /// Where session data lives (database or Redis).
    pub sessions: Arc<dyn SessionStore>,
    /// Installed plugins (shipping, payment, pricing, offers, theme extensions).
    /// Installed plugins: the registry the domain calls, and the lifecycle that keeps it in
    /// step with the database.
    pub plugins: Arc<crate::plugins::PluginHost>,
    /// Outgoing mail: `mail::enqueue` inside a transaction, then `mailer.wake()` after commit.
    pub mailer: crate::mail::Mailer,
    pub currency: Currency,
    /// Where use cases announce what they changed; the caches below listen (see
    /// [`Shop::new`]).
    pub changes: Changes,
    /// Catalogue query results by page key.
    pub cache: moka::future::Cache<String, minijinja::Value>,
    /// Whole rendered pages for visitors without cookies, by path and query, with the
    /// analytics event that showing the page again records (a product view, a search).
    pub pages: moka::future::Cache<String, (axum::body::Bytes, Option<crate::analytics::Event>)>,
    pub categories: moka::sync::Cache<(), Arc<crate::catalogue::category::CategoryTree>>,
    /// The header menu, derived from `categories`.
    pub nav: moka::sync::Cache<(), minijinja::Value>,
    /// The header's mini-basket (units, total) by basket id, so browsing with a basket does
    /// not re-price it on every page. Forgotten when this process changes the basket or
    /// prices may have changed, and after the TTL (a write by another process shows within
    /// it).
    pub mini_baskets: moka::sync::Cache<i64, (i64, Money)>,
    /// Failed sign-ins per account (in the database) and per client address (here).
    pub sign_in: crate::customer::throttle::SignInThrottle,
    /// Uploaded images and their thumbnails: the media folder, or S3 when `media_url` is set.
    pub media: Arc<crate::media::MediaStore>,
    /// Storefront events (views, basket additions, purchases, searches), written in batches
    /// by a background task.
    pub analytics: crate::analytics::Analytics,
}

pub type AppState = Arc<Shop>;

impl Shop {
    /// The shop's themes, for the theme use cases (`themes::manage`).
    pub fn themes(&self) -> crate::themes::manage::Themes<'_> {
        crate::themes::manage::Themes {
            db: &self.db,
            templates: &self.templates,
            installed: crate::themes::manage::installed_dir(&self.config.data_dir),
            configured: &self.config.theme,
        }
    }
}

impl FromRef<AppState> for SessionSettings {
    fn from_ref(shop: &AppState) -> SessionSettings {
        SessionSettings {
            store: shop.sessions.clone(),
            ttl_secs: shop.config.session_ttl_secs,
            remember_ttl_secs: shop.config.remember_ttl_secs,
            cookie_secure: shop.config.cookie_secure,
        }
    }
}

/// Connects to the database (applying migrations), loads the theme and the plugins.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let db = Db::connect(&config.database_url(), config.db_max_connections)
        .await
        .with_context(|| {
            format!(
                "opening the database {}",
                crate::infra::redact(&config.database_url())
            )
        })?;
    let roots = crate::themes::manage::roots(&config.data_dir, &config.themes_dir);
    let templates =
        Templates::load_from(roots, &config.theme, vec![], config.dev).with_context(|| {
            format!(
                "loading theme {:?} from {}",
                config.theme,
                config.themes_dir.display()
            )
        })?;
    let strategy = Arc::new(DefaultStrategy {
        tax_rate: config.tax_rate,
        rounding: config.rounding,
    });
    let sessions = crate::session::connect_store(&config, &db.pool)
        .await
        .context("connecting the session store")?;
    let plugins = crate::plugins::PluginHost::open(&config, &db)
        .await
        .context("starting the plugin runtime")?;
    let mailer = crate::mail::Mailer::new(
        db.pool.clone(),
        crate::mail::MailSettings::from_config(&config),
    )
    .context("setting up outgoing mail")?;
    let shop = Arc::new(Shop::new(
        db, config, templates, strategy, sessions, plugins, mailer,
    )?);
    // The theme the database names (a switch made while this process was down), then every
    // later switch, whichever process makes it.
    let installed = crate::themes::manage::installed_dir(&shop.config.data_dir);
    let seen = shop
        .themes()
        .sync()
        .await
        .context("reading the active theme")?;
    crate::themes::manage::follow(
        shop.db.clone(),
        installed,
        shop.config.theme.clone(),
        Arc::downgrade(&shop),
        |shop: &Shop| &shop.templates,
        seen,
    );
    Ok(shop)
}

/// The enabled theme-extension plugins as the templates' helpers. Weak: the registry's change
/// hook holds the templates' helpers, so a strong reference here would be a cycle that keeps the
/// registry (and its engine's reserved memory) alive after the shop is dropped.
struct ThemeExtensions(std::sync::Weak<crate::plugins::PluginRegistry>);

impl crate::themes::HelperSource for ThemeExtensions {
    fn offered(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(registry) = self.0.upgrade() else {
            return out;
        };
        for id in registry.enabled_ids(crate::plugins::ExtensionPoint::Theme) {
            match registry.theme_functions(&id) {
                Ok(functions) => out.extend(functions.into_iter().map(|f| (id.clone(), f.name))),
                Err(e) => {
                    tracing::warn!(plugin = %id, error = %e, "listing a theme extension's helpers failed")
                }
            }
        }
        out
    }

    fn call(
        &self,
        plugin: &str,
        name: &str,
        args: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let registry = self.0.upgrade().ok_or("the shop is shutting down")?;
        registry
            .theme_call(plugin, name, args)
            .map_err(|e| e.to_string())
    }
}

impl Shop {
    pub fn new(
        db: Db,
        config: Config,
        templates: Templates,
        strategy: Arc<dyn Strategy>,
        sessions: Arc<dyn SessionStore>,
        plugins: Arc<crate::plugins::PluginHost>,
        mailer: crate::mail::Mailer,
    ) -> anyhow::Result<Shop> {
        let currency = config.default_currency().context("config: currency")?;
        let pipeline = Pipeline::from_settings(&config.order_pipeline)
            .map_err(|message| anyhow::anyhow!("config: order_pipeline: {message}"))?;
        let ttl = Duration::from_secs(config.cache_ttl_secs);
        let categories = moka::sync::Cache::builder().time_to_live(ttl).build();
        let pricing = Arc::new(Pricing::new(
            strategy,
            plugins.registry().clone(),
            categories.clone(),
        ));
        let offers = Arc::new(crate::offer::Offers::new(
            plugins.registry().clone(),
            categories.clone(),
            config.offers_incl_tax,
            currency,
        ));
        let cache = moka::future::Cache::builder()
            .max_capacity(20_000)
            .time_to_live(ttl)
            .build();
        let pages = moka::future::Cache::builder()
            .max_capacity(64 * 1024 * 1024)
            .weigher(
                |key: &String, (page, _): &(axum::body::Bytes, Option<crate::analytics::Event>)| {
                    u32::try_from(key.len() + page.len()).unwrap_or(u32::MAX)
                },
            )
            .time_to_live(ttl)
            .build();
        let mini_baskets = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ttl)
            .build();
        let nav = moka::sync::Cache::builder().time_to_live(ttl).build();
        let changes = Changes::new();
        {
            let (data, pages, categories, nav, mini_baskets) = (
                cache.clone(),
                pages.clone(),
                categories.clone(),
                nav.clone(),
                mini_baskets.clone(),
            );
            changes.subscribe(move |change| match change {
                Change::Catalogue => {
                    data.invalidate_all();
                    pages.invalidate_all();
                    categories.invalidate_all();
                    nav.invalidate_all();
                    mini_baskets.invalidate_all();
                }
                // Availability is on product pages and on every listing that shows them.
                Change::Stock(_) | Change::Reviews(_) => {
                    data.invalidate_all();
                    pages.invalidate_all();
                }
                Change::Basket(id) => mini_baskets.invalidate(id),
            });
        }
        // Cached pages carry prices (pricing plugins) and plugin-rendered text (theme
        // extensions): any plugin change, here or in another process, starts them afresh.
        let plugin_changes = changes.clone();
        let helpers = templates.helpers();
        plugins.registry().on_change(move |_| {
            // Which helpers exist and what they answer may have changed.
            helpers.changed();
            plugin_changes.announce(Change::Catalogue);
        });
        templates.attach_helpers(Arc::new(ThemeExtensions(Arc::downgrade(
            plugins.registry(),
        ))));
        let sign_in = crate::customer::throttle::SignInThrottle::new(config.sign_in_lock_secs);
        let media =
            Arc::new(crate::media::MediaStore::open(&config).context("opening the media storage")?);
        let analytics = crate::analytics::Analytics::start(db.clone(), config.analytics);
        Ok(Shop {
            analytics,
            media,
            sign_in,
            db,
            config,
            templates,
            pricing,
            offers,
            pipeline,
            sessions,
            plugins,
            mailer,
            currency,
            changes,
            cache,
            pages,
            categories,
            nav,
            mini_baskets,
        })
    }
}
