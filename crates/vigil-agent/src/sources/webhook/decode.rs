//! `Content-Encoding: gzip` bodies (Falco's `compress_uploads: true`),
//! decoded with a bound on the *decoded* size: a small compressed body
//! cannot expand past the endpoint's `maxBodyBytes` (a "zip bomb" stops
//! being read at the bound).

use flate2::read::MultiGzDecoder;
use std::io::Read;

/// A body's content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    /// `Content-Encoding`'s value: `identity`, `gzip` or `x-gzip` (case
    /// insensitive, surrounding blanks ignored); anything else (another
    /// coding, or a list of several) is `None`.
    pub fn parse(value: &[u8]) -> Option<Encoding> {
        let v = value.trim_ascii();
        if v.is_empty() || v.eq_ignore_ascii_case(b"identity") {
            Some(Encoding::Identity)
        } else if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Some(Encoding::Gzip)
        } else {
            None
        }
    }
}

/// Why a gzip body was not decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Decoded, it is larger than the bound.
    TooLarge,
    /// Not valid gzip (the message says what is wrong).
    Corrupt(String),
}

/// The decoded bytes of a gzip body (one or more members), at most `max`.
pub fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
    let mut reader = MultiGzDecoder::new(body).take(max as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
    if out.len() > max {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).expect("compress");
        e.finish().expect("compress")
    }

    #[test]
    fn encodings() {
        assert_eq!(Encoding::parse(b"gzip"), Some(Encoding::Gzip));
        assert_eq!(Encoding::parse(b" X-GZIP "), Some(Encoding::Gzip));
        assert_eq!(Encoding::parse(b"Identity"), Some(Encoding::Identity));
        assert_eq!(Encoding::parse(b"br"), None);
        assert_eq!(Encoding::parse(b"deflate"), None);
        assert_eq!(Encoding::parse(b"gzip, gzip"), None);
    }

    #[test]
    fn decodes_within_the_bound_only() {
        let data = b"{\"a\":1}\n".repeat(1000);
        assert_eq!(gunzip(&gzip(&data), data.len()), Ok(data.clone()));
        // Two members (concatenated gzip files) are one body.
        let mut two = gzip(b"one\n");
        two.extend(gzip(b"two\n"));
        assert_eq!(gunzip(&two, 100), Ok(b"one\ntwo\n".to_vec()));
        // One byte over the bound: refused, and not read further.
        assert_eq!(
            gunzip(&gzip(&data), data.len() - 1),
            Err(DecodeError::TooLarge)
        );
        // 8 MiB of zeros compress to ~8 KiB; only the bound is decoded.
        let bomb = gzip(&vec![0u8; 8 << 20]);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        assert_eq!(gunzip(&bomb, 1 << 20), Err(DecodeError::TooLarge));
    }

    #[test]
    fn corrupt_bodies_say_what_is_wrong() {
        let Err(DecodeError::Corrupt(m)) = gunzip(b"not gzip at all", 100) else {
            panic!("not gzip")
        };
        assert!(!m.is_empty());
        let mut truncated = gzip(&b"x".repeat(1000));
        truncated.truncate(truncated.len() / 2);
        assert!(matches!(
            gunzip(&truncated, 10_000),
            Err(DecodeError::Corrupt(_))
        ));
    }
}
