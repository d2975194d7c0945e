//! Thumbnails: the sizes a theme asks for in its `theme.toml`
//!
//! ```toml
//! [thumbnails]
//! small = "200x200"        # fits inside 200 × 200, keeping the proportions
//! square = "300x300 crop"  # fills 300 × 300 exactly, cropping what sticks out
//! ```
//!
//! A template asks for one by name (`thumbnail_url(image, "small")`); the URL names the size
//! itself (`/media/thumbs/200x200/images/…`), so changing a size in the theme makes new
//! thumbnails instead of serving stale ones. The shop makes a thumbnail on its first request,
//! in the original's format, stores it beside the original and serves the stored one after
//! that; it makes only the sizes the active theme declares.

use std::io::Cursor;
use std::str::FromStr;

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader};

use super::check::{Kind, UploadLimits};
use super::{IMAGES_PREFIX, MediaError, THUMBS_PREFIX, URL_PREFIX};

/// The longest side a thumbnail may have.
pub const MAX_SIDE: u32 = 4000;

/// One thumbnail size: a box, filled (cropping) or fitted into (keeping proportions, never
/// enlarging).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThumbnailSize {
    pub width: u32,
    pub height: u32,
    pub crop: bool,
}

impl FromStr for ThumbnailSize {
    type Err = String;

    /// `200x200`, `200x200 crop` (theme.toml) or `200x200-crop` (a URL).
    fn from_str(text: &str) -> Result<ThumbnailSize, String> {
        let text = text.trim();
        let (dims, crop) = match text
            .strip_suffix("crop")
            .map(|d| d.trim_end_matches([' ', '-']))
        {
            Some(dims) => (dims, true),
            None => (text, false),
        };
        let bad = || format!("{text:?} is not a size like \"200x200\" or \"200x200 crop\"");
        let (w, h) = dims.split_once('x').ok_or_else(bad)?;
        let side = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_SIDE).contains(n) && !s.starts_with('0'))
                .ok_or_else(bad)
        };
        Ok(ThumbnailSize {
            width: side(w)?,
            height: side(h)?,
            crop,
        })
    }
}

impl std::fmt::Display for ThumbnailSize {
    /// The URL form: `200x200` or `200x200-crop`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)?;
        if self.crop {
            f.write_str("-crop")?;
        }
        Ok(())
    }
}

impl ThumbnailSize {
    /// The store name of `original`'s thumbnail in this size.
    pub fn name_for(&self, original: &str) -> String {
        format!("{THUMBS_PREFIX}{self}/{original}")
    }

    /// The size of a `width` × `height` image's thumbnail.
    pub fn dimensions_for(&self, width: u32, height: u32) -> (u32, u32) {
        if self.crop {
            return (self.width, self.height);
        }
        if width <= self.width && height <= self.height || width == 0 || height == 0 {
            return (width, height);
        }
        let scale = f64::min(
            f64::from(self.width) / f64::from(width),
            f64::from(self.height) / f64::from(height),
        );
        let side = |n: u32| ((f64::from(n) * scale).round() as u32).max(1);
        (side(width), side(height))
    }
}

/// `(original name, size)` from the part of a media URL after `/media/`, when it names a
/// thumbnail (`thumbs/200x200/images/…`).
pub fn parse_thumbnail_name(name: &str) -> Option<(&str, ThumbnailSize)> {
    let rest = name.strip_prefix(THUMBS_PREFIX)?;
    let (size, original) = rest.split_once('/')?;
    let size: ThumbnailSize = size.parse().ok()?;
    // One spelling per size, so one thumbnail per size.
    if size.to_string() != rest[..rest.find('/')?] {
        return None;
    }
    original
        .starts_with(IMAGES_PREFIX)
        .then_some((original, size))
}

/// The URL of the thumbnail of the image at `url` in `size`: for an uploaded image
/// (`/media/images/…`) its thumbnail; any other image (the demo's SVG pictures) is its own
/// thumbnail, at its own URL.
pub fn thumbnail_url(url: &str, size: ThumbnailSize) -> String {
    match url.strip_prefix(URL_PREFIX) {
        Some(name) if name.starts_with(IMAGES_PREFIX) && Kind::of_name(name).is_some() => {
            format!("{URL_PREFIX}{}", size.name_for(name))
        }
        _ => url.to_owned(),
    }
}

/// Makes the thumbnail of `original` (a `kind` image) in `size`, in the same format. CPU work:
/// call it on the blocking pool.
pub fn render(
    original: &[u8],
    kind: Kind,
    size: ThumbnailSize,
    limits: &UploadLimits,
) -> Result<Vec<u8>, MediaError> {
    let mut reader = ImageReader::with_format(Cursor::new(original), kind.format());
    reader.limits(limits.decoder_limits());
    let image = reader
        .decode()
        .map_err(|e| MediaError::Image(format!("decoding an original for a thumbnail: {e}")))?;
    let (width, height) = size.dimensions_for(image.width(), image.height());
    let resized = if size.crop {
        image.resize_to_fill(width, height, FilterType::CatmullRom)
    } else if (width, height) == (image.width(), image.height()) {
        image
    } else {
        image.resize_exact(width, height, FilterType::CatmullRom)
    };
    encode(resized, kind)
}

fn encode(image: DynamicImage, kind: Kind) -> Result<Vec<u8>, MediaError> {
    let mut out = Cursor::new(Vec::new());
    let result = match kind {
        Kind::Jpeg => {
            let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
            rgb.write_with_encoder(encoder)
        }
        Kind::Png => image.write_to(&mut out, image::ImageFormat::Png),
        Kind::WebP | Kind::Gif => {
            DynamicImage::ImageRgba8(image.to_rgba8()).write_to(&mut out, kind.format())
        }
    };
    result.map_err(|e| MediaError::Image(format!("encoding a thumbnail: {e}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_both_spellings() {
        let fit: ThumbnailSize = "200x150".parse().unwrap();
        assert_eq!((fit.width, fit.height, fit.crop), (200, 150, false));
        assert_eq!(fit.to_string(), "200x150");
        let crop: ThumbnailSize = "300x300 crop".parse().unwrap();
        assert_eq!(crop.to_string(), "300x300-crop");
        assert_eq!("300x300-crop".parse::<ThumbnailSize>().unwrap(), crop);
        for bad in [
            "", "200", "0x10", "10x0", "x10", "5000x10", "010x10", "ax b",
        ] {
            assert!(bad.parse::<ThumbnailSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn fitting_keeps_proportions_and_never_enlarges() {
        let fit: ThumbnailSize = "200x200".parse().unwrap();
        assert_eq!(fit.dimensions_for(400, 300), (200, 150));
        assert_eq!(fit.dimensions_for(300, 600), (100, 200));
        assert_eq!(fit.dimensions_for(50, 40), (50, 40));
        let crop: ThumbnailSize = "200x200 crop".parse().unwrap();
        assert_eq!(crop.dimensions_for(400, 300), (200, 200));
    }

    #[test]
    fn thumbnail_urls_and_names_round_trip() {
        let size: ThumbnailSize = "200x200".parse().unwrap();
        let url = thumbnail_url("/media/images/ab/abcd.png", size);
        assert_eq!(url, "/media/thumbs/200x200/images/ab/abcd.png");
        assert_eq!(
            parse_thumbnail_name(url.strip_prefix("/media/").unwrap()),
            Some(("images/ab/abcd.png", size))
        );
        assert_eq!(
            thumbnail_url("/media/demo/book-1.svg", size),
            "/media/demo/book-1.svg"
        );
        assert_eq!(parse_thumbnail_name("thumbs/0200x200/images/a.png"), None);
        assert_eq!(parse_thumbnail_name("thumbs/200x200/demo/a.png"), None);
    }
}
