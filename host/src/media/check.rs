//! What an uploaded image must be to be kept: judged by its content alone (never its file name
//! or the browser's Content-Type), one of JPEG, PNG, WebP or GIF, no larger than the byte
//! limit, with no more pixels than the pixel limit (read from its header before anything is
//! decoded, so a decompression bomb is refused cheaply), and whole (it decodes, within a
//! memory limit). SVG is refused outright: it is a document that can carry scripts.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// The image formats an upload may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    WebP,
    Gif,
}

impl Kind {
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::WebP => "webp",
            Kind::Gif => "gif",
        }
    }

    pub fn format(self) -> ImageFormat {
        match self {
            Kind::Jpeg => ImageFormat::Jpeg,
            Kind::Png => ImageFormat::Png,
            Kind::WebP => ImageFormat::WebP,
            Kind::Gif => ImageFormat::Gif,
        }
    }

    /// The kind a stored name's extension says (our names are given after the content).
    pub fn of_name(name: &str) -> Option<Kind> {
        match name.rsplit_once('.')?.1 {
            "jpg" => Some(Kind::Jpeg),
            "png" => Some(Kind::Png),
            "webp" => Some(Kind::WebP),
            "gif" => Some(Kind::Gif),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// Most pixels (width × height).
    pub max_pixels: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            max_bytes: 10 * 1024 * 1024,
            max_pixels: 40_000_000,
        }
    }
}

impl UploadLimits {
    /// The decoder's limits: no side longer than the pixel budget allows, and no more memory
    /// than the largest allowed image takes at 16 bits a channel with alpha, plus a margin.
    pub fn decoder_limits(&self) -> Limits {
        let mut limits = Limits::default();
        let side = u32::try_from(self.max_pixels).unwrap_or(u32::MAX);
        limits.max_image_width = Some(side);
        limits.max_image_height = Some(side);
        limits.max_alloc = Some(self.max_pixels.saturating_mul(8) + 16 * 1024 * 1024);
        limits
    }
}

/// Why an upload is refused, in words for the person uploading it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("The file is empty.")]
    Empty,
    #[error("The file is larger than {}: make it smaller and try again.", human_bytes(*max))]
    TooLarge { max: u64 },
    #[error(
        "SVG images aren't accepted (they can carry scripts): upload a JPEG, PNG, WebP or GIF."
    )]
    Svg,
    #[error("That isn't an image we can use: upload a JPEG, PNG, WebP or GIF.")]
    NotAnImage,
    #[error("{0} images aren't accepted: upload a JPEG, PNG, WebP or GIF.")]
    Unsupported(String),
    #[error(
        "The image is {width} × {height} pixels, more than the {} megapixels we accept: make it smaller and try again.",
        *max as f64 / 1e6
    )]
    TooManyPixels { width: u32, height: u32, max: u64 },
    #[error(
        "The image needs more memory to open than we allow (it may declare more than {} megapixels): make it smaller and try again.",
        *max as f64 / 1e6
    )]
    TooDemanding { max: u64 },
    #[error("The image is damaged or incomplete and can't be read.")]
    Broken,
}

/// `10485760` → `10 MB` (binary megabytes, as file managers count them), `2048` → `2 KB`.
pub fn human_bytes(n: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if n >= MB && n.is_multiple_of(MB) {
        format!("{} MB", n / MB)
    } else if n >= MB {
        format!("{:.1} MB", n as f64 / MB as f64)
    } else {
        format!("{} KB", n.div_ceil(1024))
    }
}

/// What an accepted upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
}

/// Whether the bytes look like an SVG (or any XML/HTML document, which may be one).
fn looks_like_markup(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let trimmed = text.trim_start();
    text.contains("<svg") || (trimmed.starts_with("<?xml") || trimmed.starts_with("<!doctype svg"))
}

/// Judges an upload. CPU work (it decodes the image): call it on the blocking pool.
pub fn inspect(bytes: &[u8], limits: &UploadLimits) -> Result<Checked, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limits.max_bytes {
        return Err(Refusal::TooLarge {
            max: limits.max_bytes,
        });
    }
    let format = match image::guess_format(bytes) {
        Ok(format) => format,
        Err(_) if looks_like_markup(bytes) => return Err(Refusal::Svg),
        Err(_) => return Err(Refusal::NotAnImage),
    };
    let kind = match format {
        ImageFormat::Jpeg => Kind::Jpeg,
        ImageFormat::Png => Kind::Png,
        ImageFormat::WebP => Kind::WebP,
        ImageFormat::Gif => Kind::Gif,
        other => {
            return Err(Refusal::Unsupported(
                other
                    .extensions_str()
                    .first()
                    .map_or_else(|| format!("{other:?}"), |e| e.to_ascii_uppercase()),
            ));
        }
    };
    let reader = || {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(limits.decoder_limits());
        reader
    };
    // The header alone first: a bomb declares its size before it is inflated.
    let (width, height) = reader()
        .into_dimensions()
        .map_err(|e| refusal_for(&e, limits))?;
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Refusal::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(Refusal::Broken);
    }
    reader().decode().map_err(|e| refusal_for(&e, limits))?;
    Ok(Checked {
        kind,
        width,
        height,
    })
}

fn refusal_for(error: &image::ImageError, limits: &UploadLimits) -> Refusal {
    match error {
        image::ImageError::Limits(_) => Refusal::TooDemanding {
            max: limits.max_pixels,
        },
        image::ImageError::Unsupported(_) => Refusal::NotAnImage,
        _ => Refusal::Broken,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A `width` × `height` PNG with a gradient.
    pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn images_are_judged_by_content() {
        let limits = UploadLimits::default();
        let ok = inspect(&png(30, 10), &limits).unwrap();
        assert_eq!((ok.kind, ok.width, ok.height), (Kind::Png, 30, 10));
        assert_eq!(inspect(b"hello, world", &limits), Err(Refusal::NotAnImage));
        assert_eq!(inspect(b"", &limits), Err(Refusal::Empty));
        let svg = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
        assert_eq!(inspect(svg, &limits), Err(Refusal::Svg));
        assert_eq!(inspect(b"  <svg onload='x'/>", &limits), Err(Refusal::Svg));
        let mut cut = png(30, 10);
        cut.truncate(cut.len() - 20);
        assert_eq!(inspect(&cut, &limits), Err(Refusal::Broken));
        let mut bmp = b"BM".to_vec();
        bmp.resize(64, 0);
        assert_eq!(
            inspect(&bmp, &limits),
            Err(Refusal::Unsupported("BMP".into()))
        );
    }

    #[test]
    fn limits_are_kept() {
        let small = UploadLimits {
            max_bytes: 100,
            max_pixels: 200,
        };
        assert_eq!(
            inspect(&png(300, 300), &small),
            Err(Refusal::TooLarge { max: 100 })
        );
        let few_pixels = UploadLimits {
            max_bytes: 1 << 20,
            max_pixels: 200,
        };
        assert!(matches!(
            inspect(&png(30, 10), &few_pixels),
            Err(Refusal::TooManyPixels {
                width: 30,
                height: 10,
                ..
            })
        ));
        assert!(
            Refusal::TooLarge { max: 10 << 20 }
                .to_string()
                .contains("10 MB")
        );
    }

    /// A PNG whose header declares 50 000 × 50 000 pixels: refused from its header, before
    /// anything is inflated.
    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let mut bomb = png(1, 1);
        // IHDR's width and height follow the 8-byte signature, 4-byte length and "IHDR".
        bomb[16..20].copy_from_slice(&50_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&50_000u32.to_be_bytes());
        // Its CRC no longer matches: fix it so only the size is wrong.
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let refused = inspect(&bomb, &UploadLimits::default()).unwrap_err();
        assert!(
            matches!(refused, Refusal::TooManyPixels { .. }),
            "{refused:?}"
        );
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
