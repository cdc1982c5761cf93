//! Byte sizes and durations as people write them: the one place capkv
//! reads them (flags such as `--max-memory 1536mb`, `--idle-timeout 5m`)
//! and writes them (`2.0 GiB` in messages, the scaling behind INFO's
//! `*_human` fields). Binary units throughout: `1kb` is 1024 bytes.

use std::time::Duration;

/// Parses `123`, `64kb`, `512mb`, `2g`, `1.5GiB` (binary units, any case).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let multiplier: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit '{other}' (use b, kb, mb, gb)")),
    };
    let value: f64 = number.parse().map_err(|_| format!("'{text}' is not a size like 512mb"))?;
    let bytes = value * multiplier as f64;
    if !(0.0..1.8e19).contains(&bytes) {
        return Err(format!("'{text}' is out of range"));
    }
    Ok(bytes as u64)
}

/// Parses `0`, `250ms`, `30s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("'{text}' is not a duration like 30s"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => return Err(format!("unknown duration unit '{other}' (use ms, s, m, h)")),
    })
}

/// `bytes` divided by 1024 as often as it stays at least 1024, at most
/// `steps` times: the value and how many times (0: plain bytes). Shared by
/// [`show`] and INFO's Redis-style `*_human` fields.
pub fn scale_bytes(bytes: u64, steps: usize) -> (f64, usize) {
    let (mut value, mut step) = (bytes as f64, 0);
    while value >= 1024.0 && step < steps {
        value /= 1024.0;
        step += 1;
    }
    (value, step)
}

/// Formats bytes for messages: `2.0 GiB`, `512.0 MiB`, `100 B`.
pub fn show(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    match scale_bytes(bytes, UNITS.len()) {
        (_, 0) => format!("{bytes} B"),
        (value, step) => format!("{value:.1} {}", UNITS[step - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512mb"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12xb").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(show(1023), "1023 B");
        assert_eq!(show(1024), "1.0 KiB");
        assert_eq!(show(1536 << 20), "1.5 GiB");
        assert_eq!(show(2048 << 30), "2.0 TiB");
        assert_eq!(show(1 << 50), "1024.0 TiB");
    }
}
