//! Byte sizes and durations as people write them: the one place capkv
//! reads them (flags such as `--max-memory 1536mb`, `--idle-timeout 5m`)
//! and writes them (`2.0 GiB` in messages, the scaling behind INFO's
//! `*_human` fields).
//!
//! Sizes read both the way capkv and Docker write them (`512mb`, `2g`)
//! and the way Kubernetes writes quantities, so a pod's `limits.memory` can
//! be copied into `--max-memory` as it stands:
//!
//! | suffix | meaning | example |
//! |---|---|---|
//! | none, `b` | bytes | `4096` |
//! | `kb` `mb` `gb` `tb` (any case) | binary: 1024, 1024², ... | `512mb` = 512 MiB |
//! | `Ki` `Mi` `Gi` `Ti`, `KiB` ... (any case) | binary, as Kubernetes | `2Gi`, `1.5Gi` |
//! | `k` `K` `M` `G` `T` | decimal, as Kubernetes: 10³, 10⁶, 10⁹, 10¹² | `1G` = 1,000,000,000 |
//! | `m` `g` `t` (lower case) | binary, as Docker's `--memory=2g` and capkv before | `2g` = 2 GiB |
//!
//! Single letters are case-sensitive because the two conventions disagree:
//! Kubernetes' `2G` is 2·10⁹ bytes, Docker's `2g` is 2 GiB (7% more), and
//! Kubernetes' lower-case `m` (milli) means nothing for bytes. Everything
//! spelt with a `b` or an `i` is binary. (A lone `k` was 1024 before
//! Kubernetes quantities were accepted.) The start-up line prints the
//! budget in binary units, so a misreading shows at once.

use std::time::Duration;

/// Parses `123`, `64kb`, `512mb`, `2Gi`, `1.5GiB` (binary), `500M`, `1G`
/// (decimal, as Kubernetes means them): the table in the module doc.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    // Single letters first, case kept: the table in the module doc.
    let multiplier: u64 = match unit {
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" | "ki" | "kib" => 1 << 10,
            "mb" | "mi" | "mib" => 1 << 20,
            "gb" | "gi" | "gib" => 1 << 30,
            "tb" | "ti" | "tib" => 1 << 40,
            _ => {
                return Err(format!(
                    "unknown size unit '{unit}' (use mb, gb or Mi, Gi for binary units, \
                     M, G for decimal ones)"
                ));
            }
        },
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
    fn kubernetes_quantities() {
        // Binary, as in a pod's resources.limits.memory.
        assert_eq!(parse_size("2Gi"), Ok(2 << 30));
        assert_eq!(parse_size("512Mi"), Ok(512 << 20));
        assert_eq!(parse_size("1.5Gi"), Ok(3 << 29));
        assert_eq!(parse_size("64Ki"), Ok(64 << 10));
        assert_eq!(parse_size("1Ti"), Ok(1 << 40));
        // Decimal: a letter alone.
        assert_eq!(parse_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_size("500M"), Ok(500_000_000));
        assert_eq!(parse_size("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_size("100k"), Ok(100_000));
        assert_eq!(parse_size("100K"), Ok(100_000));
        assert_eq!(parse_size("2T"), Ok(2_000_000_000_000));
        // Lower-case m, g, t and everything with a b keep their binary
        // meaning (Docker's --memory=2g, capkv's own until now).
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("128m"), Ok(128 << 20));
        assert_eq!(parse_size("1mb"), Ok(1 << 20));
        assert_eq!(parse_size("1MB"), Ok(1 << 20));
        assert_eq!(parse_size("64kb"), Ok(64 << 10));
        let err = parse_size("2Pi").unwrap_err();
        assert!(err.contains("unknown size unit 'Pi'") && err.contains("Gi"), "{err}");
        assert!(parse_size("1mi").is_ok() && parse_size("1MI").is_ok());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512mb"), Ok(512 << 20));
        assert_eq!(parse_size("2gb"), Ok(2 << 30));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12xb").is_err());
        assert!(parse_size("1e9").is_err());
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
