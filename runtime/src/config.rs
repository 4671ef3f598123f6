//! Runtime configuration: the builder and its environment variables.

use std::fmt;
use std::str::FromStr;

/// Compaction mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Stop-the-world sliding compaction (baseline and fallback).
    Stw,
    /// Moving space compacted concurrently through MISSING faults and
    /// `UFFDIO_COPY`; the non-moving space updated in the pause.
    UffdCopy,
    /// Both spaces concurrently (`UFFDIO_COPY`, and MINOR faults with
    /// `UFFDIO_CONTINUE`), faults served by worker threads.
    UffdWorkers,
    /// `UffdWorkers` with the collector installing pages by `UFFDIO_MOVE`
    /// from drained from-space (no page allocation, no second copy).
    UffdMove,
    /// `UffdWorkers` with faults served on the faulting thread by a SIGBUS
    /// handler (`UFFD_FEATURE_SIGBUS`).
    Sigbus,
    /// The best combination this kernel supports, chosen by measurement:
    /// SIGBUS self-service with `UFFDIO_COPY` and one collector thread per
    /// CPU (falling back to fault workers, with a logged reason, without
    /// SIGBUS). `UFFDIO_MOVE` is left off: measured on this project's
    /// machine, its TLB shootdowns interrupt every other CPU running the
    /// process, which doubled the fault p99 with a mutator running, though
    /// it compacts faster with the mutators idle (`GC_UFFD_MOVE=1` turns it
    /// on). The default.
    Uffd,
}

impl Mode {
    /// Every mode, for tests and benchmarks.
    pub const ALL: [Mode; 6] = [
        Mode::Stw,
        Mode::UffdCopy,
        Mode::UffdWorkers,
        Mode::UffdMove,
        Mode::Sigbus,
        Mode::Uffd,
    ];

    /// The name used on command lines and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Stw => "stw",
            Mode::UffdCopy => "uffd-copy",
            Mode::UffdWorkers => "uffd-workers",
            Mode::UffdMove => "uffd-move",
            Mode::Sigbus => "sigbus",
            Mode::Uffd => "uffd",
        }
    }

    /// The mode named `name` (as [`Mode::name`] spells it).
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Mode, ConfigError> {
        Mode::from_name(s).ok_or_else(|| ConfigError::BadValue {
            what: "mode",
            value: s.to_string(),
            expected: "one of stw, uffd-copy, uffd-workers, uffd-move, sigbus, uffd",
        })
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value did not parse or is out of range.
    #[error("invalid {what} {value:?}: expected {expected}")]
    BadValue {
        /// Which setting.
        what: &'static str,
        /// The offending text.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// An environment variable held a bad value.
    #[error("environment variable {var}: {source}")]
    Env {
        /// Variable name.
        var: &'static str,
        /// The parse error.
        #[source]
        source: Box<ConfigError>,
    },
    /// The heap could not be created.
    #[error("cannot create the heap: {0}")]
    Heap(String),
}

/// Parses a byte size such as `64M`, `1G`, `512k`, `4096` (binary units).
pub fn parse_size(s: &str) -> Result<usize, ConfigError> {
    let bad = || ConfigError::BadValue {
        what: "size",
        value: s.to_string(),
        expected: "a byte count with an optional K/M/G/T suffix, e.g. 64M",
    };
    let t = s.trim();
    let t = t.strip_suffix(['b', 'B']).unwrap_or(t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (digits, shift) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: usize = digits.trim().parse().map_err(|_| bad())?;
    n.checked_mul(1usize << shift).ok_or_else(bad)
}

/// Parses a thread count from 1 to 64.
pub fn parse_count(s: &str, what: &'static str) -> Result<usize, ConfigError> {
    s.trim()
        .parse::<usize>()
        .ok()
        .filter(|&n| (1..=64).contains(&n))
        .ok_or(ConfigError::BadValue {
            what,
            value: s.to_string(),
            expected: "an integer from 1 to 64",
        })
}

/// Parses a boolean setting (`1/0`, `true/false`, `on/off`, `yes/no`).
pub fn parse_bool(s: &str) -> Result<bool, ConfigError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" | "" => Ok(false),
        _ => Err(ConfigError::BadValue {
            what: "flag",
            value: s.to_string(),
            expected: "1/0, true/false, on/off",
        }),
    }
}

/// Parses `GC_UFFD_DISABLE`: `1` acts as if the kernel had no
/// userfaultfd, `0` (or empty) does not. Only these: the collector reads
/// the variable itself and honours exactly `1`, so a value such as `true`
/// is refused here rather than silently ignored there.
pub fn parse_uffd_disable(s: &str) -> Result<bool, ConfigError> {
    match s.trim() {
        "1" => Ok(true),
        "0" | "" => Ok(false),
        _ => Err(ConfigError::BadValue {
            what: "userfaultfd switch",
            value: s.to_string(),
            expected: "1 (act as if the kernel had no userfaultfd) or 0",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
    }

    #[test]
    fn bad_sizes_name_the_setting() {
        let e = parse_size("lots").unwrap_err();
        assert!(e.to_string().contains("invalid size \"lots\""), "{e}");
        assert!(parse_size("99999999999999T").is_err());
    }

    #[test]
    fn the_userfaultfd_switch_takes_1_or_0_only() {
        assert_eq!(parse_uffd_disable("1"), Ok(true));
        assert_eq!(parse_uffd_disable("0"), Ok(false));
        assert_eq!(parse_uffd_disable(""), Ok(false));
        for bad in ["banana", "true", "yes", "2"] {
            let e = parse_uffd_disable(bad).unwrap_err();
            assert!(
                e.to_string().contains(&format!("{bad:?}")) && e.to_string().contains("1 (act"),
                "{e}"
            );
        }
    }

    #[test]
    fn modes_parse_and_reject_unknown_names() {
        assert_eq!("uffd-copy".parse::<Mode>(), Ok(Mode::UffdCopy));
        let e = "fast".parse::<Mode>().unwrap_err();
        assert!(
            e.to_string()
                .contains("stw, uffd-copy, uffd-workers, uffd-move, sigbus, uffd"),
            "{e}"
        );
    }
}
