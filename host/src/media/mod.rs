//! Uploaded media: one storage interface ([`MediaStore`], over the `object_store` crate) with
//! the filesystem as the embedded default (`<data dir>/media/`) and S3-compatible storage when
//! `media_url = "s3://bucket/prefix"` is configured; what an upload must be to be kept
//! ([`check`]); thumbnails in the sizes the theme asks for, made once and kept in the same
//! store ([`thumbs`]). The product-image use cases the dashboard calls are the catalogue's
//! (`catalogue::images`); this module knows files, not products.
//!
//! Names inside the store:
//! - `images/<aa>/<sha-256 of the file>.<ext>`: an upload, named by its content (the same file
//!   uploaded twice is stored once, and a name never changes what it holds);
//! - `thumbs/<W>x<H>[-crop]/images/…`: that image's thumbnail in one size;
//! - anything else (the demo's pictures under `demo/`) is served as it is.
//!
//! The shop serves all of them at `/media/<name>` (`web::media`), whatever the backend.

pub mod check;
pub mod thumbs;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::prefix::PrefixStore;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

pub use check::{Kind, Refusal, UploadLimits};
pub use thumbs::ThumbnailSize;

use crate::infra::config::{Config, parse_s3_url};

/// Where originals live inside the store.
pub const IMAGES_PREFIX: &str = "images/";
/// Where thumbnails live inside the store.
pub const THUMBS_PREFIX: &str = "thumbs/";
/// The URL prefix media are served under.
pub const URL_PREFIX: &str = "/media/";

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media storage ({location}): {source}")]
    Store {
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("media storage: {0}")]
    Setup(String),
    #[error("media: {0}")]
    Image(String),
    #[error("media: a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Whether `name` is a name this store hands out or serves: slash-separated parts of ASCII
/// letters, digits, `-`, `_` and `.`, none empty or made of dots only.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name.split('/').all(|part| {
            !part.is_empty()
                && !part.bytes().all(|b| b == b'.')
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

/// The content type of a stored name, by its extension (our names always carry the right
/// one: uploads are named after their checked content).
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "avif" => "image/avif",
        "pdf" => "application/pdf",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether a name's content can never change (content-addressed originals and their
/// thumbnails), so it may be cached for good.
pub fn is_immutable(name: &str) -> bool {
    name.starts_with(IMAGES_PREFIX) || name.starts_with(THUMBS_PREFIX)
}

/// The URL of a stored name.
pub fn url_of(name: &str) -> String {
    format!("{URL_PREFIX}{name}")
}

/// A stored object, ready to be streamed out.
pub struct Object {
    pub size: u64,
    pub body: futures_util::stream::BoxStream<'static, Result<Bytes, object_store::Error>>,
}

/// An upload that passed the checks and is in the store.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its name in the store (`images/…`).
    pub name: String,
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
}

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file is not one we accept; the message says why, for the person uploading.
    #[error("{0}")]
    Refused(Refusal),
    #[error(transparent)]
    Media(#[from] MediaError),
}

/// Uploaded media, wherever they are kept. One per shop, shared by every request.
pub struct MediaStore {
    store: Arc<dyn ObjectStore>,
    /// Where, for logs and errors (`file:///…/media`, `s3://bucket/prefix`).
    location: String,
    pub limits: UploadLimits,
    /// Thumbnails made by this process (the tests check a second request makes none).
    generated: AtomicU64,
    /// One lock per thumbnail being made, so concurrent first requests make it once.
    making: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl MediaStore {
    /// The store the configuration names: S3 for `media_url`, else the media folder.
    pub fn open(config: &Config) -> Result<MediaStore, MediaError> {
        let limits = UploadLimits {
            max_bytes: config.max_upload_bytes,
            max_pixels: config.max_image_pixels,
        };
        match &config.media_url {
            Some(url) => MediaStore::s3(url, &config.media_s3, limits),
            None => MediaStore::local(&config.media_dir(), limits),
        }
    }

    /// Files under `dir` (created when missing).
    pub fn local(dir: &std::path::Path, limits: UploadLimits) -> Result<MediaStore, MediaError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            MediaError::Setup(format!(
                "cannot create the media folder {}: {e}",
                dir.display()
            ))
        })?;
        let location = format!("file://{}", dir.display());
        let store = LocalFileSystem::new_with_prefix(dir).map_err(|source| MediaError::Store {
            location: location.clone(),
            source,
        })?;
        Ok(MediaStore::with_store(Arc::new(store), location, limits))
    }

    /// S3-compatible storage at `s3://bucket[/prefix]`: credentials, region and endpoint from
    /// the usual `AWS_*` variables, then `options` (object_store's option names, with or
    /// without the `aws_` prefix).
    pub fn s3(
        url: &str,
        options: &BTreeMap<String, String>,
        limits: UploadLimits,
    ) -> Result<MediaStore, MediaError> {
        let (bucket, prefix) = parse_s3_url(url).map_err(MediaError::Setup)?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        for (key, value) in options {
            let name = key.to_ascii_lowercase();
            let parsed: AmazonS3ConfigKey = name
                .parse()
                .or_else(|_| format!("aws_{name}").parse())
                .map_err(|_| MediaError::Setup(format!("media_s3: {key:?} is not an S3 option")))?;
            builder = builder.with_config(parsed, value);
        }
        let location = url.to_owned();
        let s3 = builder.build().map_err(|source| MediaError::Store {
            location: location.clone(),
            source,
        })?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix.as_str()))
        };
        Ok(MediaStore::with_store(store, location, limits))
    }

    /// Over any object store (tests use an in-memory one).
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        location: String,
        limits: UploadLimits,
    ) -> MediaStore {
        MediaStore {
            store,
            location,
            limits,
            generated: AtomicU64::new(0),
            making: Mutex::new(HashMap::new()),
        }
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    fn path(name: &str) -> Result<StorePath, MediaError> {
        if !is_safe_name(name) {
            return Err(MediaError::Image(format!("{name:?} is not a media name")));
        }
        StorePath::parse(name).map_err(|e| MediaError::Image(format!("{name:?}: {e}")))
    }

    fn failed(&self, source: object_store::Error) -> MediaError {
        MediaError::Store {
            location: self.location.clone(),
            source,
        }
    }

    /// The object called `name`, streamed; `None` when there is none.
    pub async fn open_object(&self, name: &str) -> Result<Option<Object>, MediaError> {
        let Ok(path) = MediaStore::path(name) else {
            return Ok(None);
        };
        match self.store.get(&path).await {
            Ok(result) => Ok(Some(Object {
                size: result.meta.size,
                body: result.into_stream(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// The whole object called `name`; `None` when there is none.
    pub async fn read(&self, name: &str) -> Result<Option<Bytes>, MediaError> {
        let path = MediaStore::path(name)?;
        match self.store.get(&path).await {
            Ok(result) => Ok(Some(result.bytes().await.map_err(|e| self.failed(e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(e)),
        }
    }

    pub async fn exists(&self, name: &str) -> Result<bool, MediaError> {
        let path = MediaStore::path(name)?;
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Stores `bytes` as `name` (replacing what was there), with its content type.
    pub async fn write(&self, name: &str, bytes: Bytes) -> Result<(), MediaError> {
        let path = MediaStore::path(name)?;
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type(name).into());
        if is_immutable(name) {
            attributes.insert(
                Attribute::CacheControl,
                "public, max-age=31536000, immutable".into(),
            );
        }
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let result = self
            .store
            .put_opts(&path, PutPayload::from_bytes(bytes.clone()), options)
            .await;
        match result {
            Ok(_) => Ok(()),
            // The local filesystem keeps no attributes: store the bytes alone.
            Err(object_store::Error::NotImplemented { .. }) => self
                .store
                .put(&path, PutPayload::from_bytes(bytes))
                .await
                .map(|_| ())
                .map_err(|e| self.failed(e)),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Removes `name`; a name that is not there is no error.
    pub async fn remove(&self, name: &str) -> Result<(), MediaError> {
        let path = MediaStore::path(name)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Checks an upload ([`check::inspect`], on the blocking pool: decoding is CPU work) and
    /// stores it under its content hash. Nothing is stored when it is refused.
    pub async fn store_upload(&self, bytes: Bytes) -> Result<Stored, UploadError> {
        let limits = self.limits;
        let for_check = bytes.clone();
        let checked = tokio::task::spawn_blocking(move || check::inspect(&for_check, &limits))
            .await
            .map_err(MediaError::from)?
            .map_err(UploadError::Refused)?;
        let digest = hex::encode(Sha256::digest(&bytes));
        let name = format!(
            "{IMAGES_PREFIX}{}/{digest}.{}",
            &digest[..2],
            checked.kind.extension()
        );
        // Written even when the name is there (it holds these very bytes): an image deleted
        // meanwhile may have taken the file with it.
        self.write(&name, bytes).await?;
        Ok(Stored {
            name,
            kind: checked.kind,
            width: checked.width,
            height: checked.height,
        })
    }

    /// How many thumbnails this process has made.
    pub fn thumbnails_generated(&self) -> u64 {
        self.generated.load(Ordering::Relaxed)
    }

    /// The thumbnail of the original `name` (an `images/…` name) in `size`: the stored one,
    /// or made now (once, however many requests ask at the same moment), stored, and
    /// returned. `None` when there is no such original.
    pub async fn thumbnail(
        &self,
        name: &str,
        size: ThumbnailSize,
    ) -> Result<Option<Bytes>, MediaError> {
        let Some(kind) = Kind::of_name(name).filter(|_| name.starts_with(IMAGES_PREFIX)) else {
            return Ok(None);
        };
        if !is_safe_name(name) {
            return Ok(None);
        }
        let thumb = size.name_for(name);
        if let Some(bytes) = self.read(&thumb).await? {
            return Ok(Some(bytes));
        }
        let lock = self.lock_for(&thumb);
        let _making = lock.lock().await;
        // Whoever held the lock before us may have made it.
        if let Some(bytes) = self.read(&thumb).await? {
            return Ok(Some(bytes));
        }
        let Some(original) = self.read(name).await? else {
            return Ok(None);
        };
        let limits = self.limits;
        let made =
            tokio::task::spawn_blocking(move || thumbs::render(&original, kind, size, &limits))
                .await??;
        let made = Bytes::from(made);
        self.write(&thumb, made.clone()).await?;
        self.generated.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(thumbnail = %thumb, "made a thumbnail");
        Ok(Some(made))
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut making = self
            .making
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        making.retain(|_, lock| lock.strong_count() > 0);
        if let Some(lock) = making.get(key).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        making.insert(key.to_owned(), Arc::downgrade(&lock));
        lock
    }

    /// Removes an original and its thumbnails in `sizes` (best effort: what cannot be removed
    /// is logged and left).
    pub async fn remove_image(&self, name: &str, sizes: &[ThumbnailSize]) {
        let mut names = vec![name.to_owned()];
        names.extend(sizes.iter().map(|s| s.name_for(name)));
        for n in names {
            if let Err(e) = self.remove(&n).await {
                tracing::warn!(error = %e, name = %n, "could not remove a media file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_s3_url("s3://shop/media/live/").unwrap(),
            ("shop".to_owned(), "media/live".to_owned())
        );
        assert_eq!(
            parse_s3_url("s3://shop").unwrap(),
            ("shop".to_owned(), String::new())
        );
        assert!(parse_s3_url("http://shop").is_err());
        assert!(parse_s3_url("s3:///x").is_err());
        assert!(parse_s3_url("s3://shop/../x").is_err());
    }

    #[test]
    fn only_plain_names_are_served() {
        assert!(is_safe_name("images/ab/abcdef.png"));
        assert!(is_safe_name("demo/book-1.svg"));
        for bad in [
            "", "../x", "a//b", "a/./b", "a/../b", "a\\b", "a b", "a/", "%2e%2e/x",
        ] {
            assert!(!is_safe_name(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn uploads_are_stored_by_content_and_thumbnails_made_once() {
        let store = MediaStore::with_store(
            Arc::new(object_store::memory::InMemory::new()),
            "memory".into(),
            UploadLimits::default(),
        );
        let png = check::tests::png(40, 20);
        let stored = store.store_upload(Bytes::from(png.clone())).await.unwrap();
        assert!(stored.name.starts_with("images/") && stored.name.ends_with(".png"));
        assert_eq!((stored.width, stored.height), (40, 20));
        let again = store.store_upload(Bytes::from(png)).await.unwrap();
        assert_eq!(again.name, stored.name);
        let size: ThumbnailSize = "10x10".parse().unwrap();
        let first = store.thumbnail(&stored.name, size).await.unwrap().unwrap();
        let second = store.thumbnail(&stored.name, size).await.unwrap().unwrap();
        assert_eq!(first, second);
        assert_eq!(store.thumbnails_generated(), 1);
        let thumb = image::load_from_memory(&first).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (10, 5));
        assert!(
            store
                .thumbnail("images/zz/none.png", size)
                .await
                .unwrap()
                .is_none()
        );
    }
}
