//! CONFIG GET and CONFIG SET: the parameters capkv reports, and the ones
//! it changes while running.
//!
//! Live: `maxmemory` (the budget; the governor evicts down to a lower one
//! within a tick), `maxclients` (new connections past it are refused, open
//! ones stay, as Redis does), `timeout` (idle connections are woken to
//! start counting), `slowlog-log-slower-than` and `slowlog-max-len`. The
//! rest come from start-up flags: a pair naming one is accepted only when
//! its value is the current one (`appendonly no`, `save ""`: nothing to
//! change) and refused otherwise with Redis's immutable-config error, so
//! nothing answers OK without being true.
//!
//! As Redis 7, a CONFIG SET of several pairs applies all or none: every
//! name is checked (unknown, immutable, duplicate), then every value is
//! parsed and checked against its bounds, and only then is anything set.
//!
//! `maxmemory 0` means "no limit" to Redis; capkv always has a budget, so
//! 0 sets the one it picks by itself (the container limit minus headroom,
//! or a quarter of RAM: [`Bounds::auto`]), and CONFIG GET shows that
//! number. A budget above the container limit minus headroom (or this
//! machine's RAM) is refused: past it the kernel, not the governor, would
//! decide what goes.

use super::info::{MAXMEMORY_POLICY, Settings, human};
use crate::glob;
use crate::memory::{Bounds, Budget};
use crate::protocol::{Args, CommandError};

/// One checked change, applied once every pair has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    MaxMemory(u64),
    MaxClients(usize),
    Timeout(u64),
    SlowlogSlowerThan(i64),
    SlowlogMaxLen(usize),
}

/// Parameters CONFIG SET changes live; the others are fixed.
const LIVE: [&str; 5] =
    ["maxmemory", "maxclients", "timeout", "slowlog-log-slower-than", "slowlog-max-len"];

impl Settings {
    /// `CONFIG GET` pairs whose names match any of `patterns` (glob).
    pub fn config_get(&self, patterns: Args<'_>, budget: &Budget) -> Vec<(&'static str, String)> {
        self.parameters(budget)
            .into_iter()
            .filter(|(name, _)| patterns.iter().any(|p| glob::matches(p, name.as_bytes(), true)))
            .collect()
    }

    /// `CONFIG SET name value [name value ...]`: see the module docs.
    pub fn config_set(&self, pairs: Args<'_>, budget: &Budget) -> Result<(), CommandError> {
        let all = self.parameters(budget);
        let error = |text: String| CommandError::Config(text.into_bytes().into());
        let refuse = |name: &[u8], why: &str| {
            let shown = String::from_utf8_lossy(name);
            error(format!("CONFIG SET failed (possibly related to argument '{shown}') - {why}"))
        };
        // Names first, as Redis does.
        let mut named: Vec<(&'static str, &[u8], &[u8])> = Vec::new();
        let mut items = pairs.iter();
        while let (Some(name), Some(value)) = (items.next(), items.next()) {
            let Some((known, current)) =
                all.iter().find(|(known, _)| known.as_bytes().eq_ignore_ascii_case(name))
            else {
                let shown = String::from_utf8_lossy(name);
                return Err(error(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{shown}'"
                )));
            };
            if !LIVE.contains(known) && !current.as_bytes().eq_ignore_ascii_case(value) {
                return Err(refuse(
                    name,
                    "can't set immutable config (capkv takes it from its start-up flags)",
                ));
            }
            if named.iter().any(|(seen, _, _)| seen == known) {
                return Err(refuse(name, "duplicate parameter"));
            }
            named.push((known, name, value));
        }
        // Then values, all of them before anything is applied.
        let mut changes = Vec::new();
        for (known, name, value) in named {
            let change = self.check(known, value).map_err(|why| refuse(name, &why))?;
            changes.extend(change);
        }
        for change in changes {
            self.apply(change, budget);
        }
        Ok(())
    }

    /// The change `value` asks of the live parameter `name` (`None` for a
    /// fixed one, whose value was checked to be the current one), or why
    /// it cannot be made, in Redis's words where Redis has them.
    fn check(&self, name: &str, value: &[u8]) -> Result<Option<Change>, String> {
        let text = std::str::from_utf8(value).unwrap_or("");
        let integer = |min: i64, max: i64| match crate::decimal::parse_i64(value) {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            Some(_) => Err(format!("argument must be between {min} and {max} inclusive")),
            None => Err("argument couldn't be parsed into an integer".to_string()),
        };
        Ok(Some(match name {
            "maxmemory" => {
                let bytes = memory_value(text)
                    .ok_or_else(|| "argument must be a memory value".to_string())?;
                Change::MaxMemory(check_budget(bytes, &self.budget_bounds)?)
            }
            "maxclients" => {
                let n = integer(1, u32::MAX as i64)? as usize;
                if n > self.max_clients_ceiling {
                    return Err(format!(
                        "The operating system is not able to handle the specified number of \
                         clients, try with {}",
                        self.max_clients_ceiling
                    ));
                }
                Change::MaxClients(n)
            }
            "timeout" => Change::Timeout(integer(0, i32::MAX as i64)? as u64),
            "slowlog-log-slower-than" => Change::SlowlogSlowerThan(integer(-1, i64::MAX)?),
            "slowlog-max-len" => Change::SlowlogMaxLen(integer(0, i64::MAX)? as usize),
            _ => return Ok(None),
        }))
    }

    fn apply(&self, change: Change, budget: &Budget) {
        let live = &self.live;
        match change {
            Change::MaxMemory(bytes) => {
                budget.set_limit(bytes);
                tracing::info!(budget = bytes, "CONFIG SET maxmemory: budget moved");
            }
            Change::MaxClients(n) => live.set_max_clients(n),
            Change::Timeout(secs) => live.set_idle_timeout_secs(secs),
            Change::SlowlogSlowerThan(micros) => live.set_slowlog_slower_than(micros),
            Change::SlowlogMaxLen(n) => live.set_slowlog_max_len(n),
        }
    }

    /// What CONFIG GET and CONFIG SET know, with the current values.
    fn parameters(&self, budget: &Budget) -> [(&'static str, String); 13] {
        let live = &self.live;
        [
            ("maxmemory", budget.limit().to_string()),
            ("maxmemory-policy", MAXMEMORY_POLICY.into()),
            ("maxclients", live.max_clients().to_string()),
            ("port", self.port.to_string()),
            ("bind", self.bind.clone()),
            ("timeout", live.idle_timeout_secs().to_string()),
            ("proto-max-bulk-len", self.max_value_size.to_string()),
            ("databases", "1".into()),
            ("save", String::new()),
            ("appendonly", "no".into()),
            ("io-threads", self.workers.to_string()),
            ("slowlog-log-slower-than", live.slowlog_slower_than().to_string()),
            ("slowlog-max-len", live.slowlog_max_len().to_string()),
        ]
    }
}

/// Redis's `memtoull`: digits, then nothing, `b`, `k` (1000), `kb` (1024),
/// `m`, `mb`, `g`, `gb`, without case; no sign, no fraction.
fn memory_value(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// The budget `bytes` asks for, within `bounds` (0: the one capkv picks).
fn check_budget(bytes: u64, bounds: &Bounds) -> Result<u64, String> {
    if bytes == 0 {
        return Ok(bounds.auto);
    }
    if bytes < bounds.min {
        return Err(format!(
            "maxmemory must be at least {} here: the index, one segment per shard and the \
             largest request (an eighth of the budget must hold one; --max-value-size sets it) \
             need it",
            human(bounds.min)
        ));
    }
    if bytes > bounds.max {
        return Err(format!(
            "maxmemory can be at most {} ({}), so that the kernel never has to kill the process",
            human(bounds.max),
            bounds.max_reason
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values_as_redis_reads_them() {
        assert_eq!(memory_value("100"), Some(100));
        assert_eq!(memory_value("100b"), Some(100));
        assert_eq!(memory_value("2k"), Some(2000));
        assert_eq!(memory_value("2KB"), Some(2048));
        assert_eq!(memory_value("100mb"), Some(100 << 20));
        assert_eq!(memory_value("1M"), Some(1_000_000));
        assert_eq!(memory_value("3Gb"), Some(3 << 30));
        for bad in ["", "-1", "1.5mb", "mb", "10tb", "1 mb", "99999999999999999999gb"] {
            assert_eq!(memory_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn budgets_outside_the_bounds_are_refused_and_zero_means_auto() {
        let bounds = Bounds { min: 100, max: 1000, max_reason: "test".into(), auto: 700 };
        assert_eq!(check_budget(0, &bounds), Ok(700));
        assert_eq!(check_budget(100, &bounds), Ok(100));
        assert_eq!(check_budget(1000, &bounds), Ok(1000));
        assert!(check_budget(99, &bounds).unwrap_err().contains("at least 100B"));
        assert!(check_budget(1001, &bounds).unwrap_err().contains("at most 1000B (test)"));
    }
}
