//! Event times as tools write them: RFC 3339 text, or a Unix time as an
//! integer (or decimal) whose digit count says its unit. Owns that reading
//! and nothing else.

use k8s_openapi::jiff::Timestamp;

/// Parses RFC 3339 (`2023-03-23T16:23:01Z`, offsets and fractions allowed) or
/// a Unix time: up to 11 integer digits are seconds (a fraction allowed,
/// `1701868762.5`), 12–14 milliseconds, 15–17 microseconds, 18–19
/// nanoseconds (`1700000000123456789`, which a JSON float would round).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty time".to_string());
    }
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = int.strip_prefix('-').unwrap_or(int);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return unix(int, digits.len(), frac)
            .ok_or_else(|| format!("{text:?} is not a Unix time in seconds, ms, µs or ns"));
    }
    text.parse::<Timestamp>()
        .map_err(|e| format!("{text:?} is neither RFC 3339 nor a Unix time: {e}"))
}

fn unix(int: &str, digits: usize, frac: Option<&str>) -> Option<Timestamp> {
    let value: i128 = int.parse().ok()?;
    let nanos_per_unit: i128 = match digits {
        0..=11 => 1_000_000_000,
        12..=14 => 1_000_000,
        15..=17 => 1_000,
        18..=19 => 1,
        _ => return None,
    };
    let mut nanos = value.checked_mul(nanos_per_unit)?;
    if let Some(frac) = frac {
        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if nanos_per_unit != 1_000_000_000 {
            return None; // a fraction only makes sense on seconds
        }
        let scaled: i128 = format!("{frac:0<9}").parse().ok()?;
        nanos += if value < 0 { -scaled } else { scaled };
    }
    Timestamp::from_nanosecond(nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(t: &str) -> String {
        parse_time(t).expect(t).to_string()
    }

    #[test]
    fn every_unit_lands_on_the_same_instant() {
        let want = "2023-11-14T22:13:20.123Z";
        assert_eq!(rfc("1700000000.123"), want);
        assert_eq!(rfc("1700000000123"), want);
        assert_eq!(rfc("1700000000123000"), want);
        assert_eq!(rfc("1700000000123000000"), want);
        assert_eq!(rfc("2023-11-14T22:13:20.123Z"), want);
        assert_eq!(rfc("2023-11-14T23:13:20.123+01:00"), want);
        assert_eq!(rfc("1701868762"), "2023-12-06T13:19:22Z");
    }

    #[test]
    fn nineteen_digit_nanoseconds_keep_every_digit() {
        let t = parse_time("1700000000123456789").expect("ns");
        assert_eq!(t.as_nanosecond(), 1_700_000_000_123_456_789);
    }

    #[test]
    fn garbage_is_refused_with_the_text() {
        for bad in [
            "",
            "yesterday",
            "12345678901234567890",
            "1700000000123.5",
            "1.x",
        ] {
            let e = parse_time(bad).expect_err(bad);
            assert!(bad.is_empty() || e.contains(bad), "{bad}: {e}");
        }
    }
}
