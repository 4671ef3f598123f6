//! Runtime configuration: the compaction modes and what each runs
//! ([`MODES`]), and the parsers of the values the builder
//! ([`crate::RuntimeBuilder`], in the crate root) reads from `GC_*`
//! environment variables and command lines.

use std::fmt;
use std::str::FromStr;

/// Compaction mode: a name for a row of [`MODES`], which says what the
/// mode does (see [`ModeSpec`]).
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
    /// SIGBUS). `UFFDIO_MOVE` is left off: its TLB shootdowns interrupt every
    /// other CPU running the process, which raises the fault p99 with a
    /// mutator running, though it compacts faster with the mutators idle
    /// (figures: `docs/benchmarks.md`, "The fault path"; `GC_UFFD_MOVE=1`
    /// turns it on). The default.
    Uffd,
}

/// How a mode brings the non-moving space's references up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NonMovingUpdate {
    /// With the mutators stopped (the stop-the-world collector, and
    /// `uffd-copy`'s flip pause).
    InPause,
    /// Concurrently: the space is flipped to a second view and its pages
    /// come back through MINOR faults and `UFFDIO_CONTINUE`.
    Concurrent,
}

/// Who serves a mutator's fault on a heap page not compacted yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultService {
    /// Nobody: the heap is compacted before the mutators resume.
    NoFaults,
    /// Fault-worker threads reading the userfaultfd.
    WorkerThreads,
    /// The faulting thread itself, in a SIGBUS handler
    /// (`UFFD_FEATURE_SIGBUS`).
    FaultingThread,
}

/// How compacted moving-space pages are put in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageInstall {
    /// Objects slide within the mapped heap, in the pause.
    Slide,
    /// Computed into a buffer and copied in with `UFFDIO_COPY`.
    Copy,
    /// Computed into a drained from-space page and moved in with
    /// `UFFDIO_MOVE` (`UFFDIO_COPY` until from-space drains).
    Move,
}

/// A kernel facility a mode needs. Each is probed at run time; a mode whose
/// facility is missing degrades with a logged reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelFeature {
    /// `userfaultfd` with MISSING faults on anonymous memory (Linux 4.3),
    /// and `mremap(MREMAP_DONTUNMAP)` (5.7).
    Userfaultfd,
    /// MINOR faults on memfd memory and `UFFDIO_CONTINUE` (Linux 5.14).
    MinorShmem,
    /// `UFFD_FEATURE_SIGBUS` (Linux 4.14).
    Sigbus,
    /// `UFFDIO_MOVE` (Linux 6.8).
    Move,
}

impl KernelFeature {
    /// A short name for help texts and logs.
    pub fn name(self) -> &'static str {
        match self {
            KernelFeature::Userfaultfd => "userfaultfd",
            KernelFeature::MinorShmem => "MINOR faults on memfd",
            KernelFeature::Sigbus => "UFFD_FEATURE_SIGBUS",
            KernelFeature::Move => "UFFDIO_MOVE",
        }
    }
}

/// What a compaction does, whatever it is called: the typed description a
/// [`Mode`] stands for, and what a runtime reports it actually runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mechanism {
    /// Whether compaction runs concurrently with the mutators.
    pub concurrent: bool,
    /// How the non-moving space is updated.
    pub non_moving: NonMovingUpdate,
    /// Who serves faults.
    pub faults: FaultService,
    /// How pages are installed.
    pub install: PageInstall,
}

/// One row of [`MODES`]: a mode's name, its one-line description (what
/// `--help` shows), what it does and what the kernel must offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModeSpec {
    /// The mode.
    pub mode: Mode,
    /// The name used on command lines, in `GC_MODE` and in logs.
    pub name: &'static str,
    /// One line for help texts.
    pub help: &'static str,
    /// What it does.
    pub mechanism: Mechanism,
    /// What the kernel must offer for it to run as described.
    pub needs: &'static [KernelFeature],
}

const fn concurrent(
    non_moving: NonMovingUpdate,
    faults: FaultService,
    install: PageInstall,
) -> Mechanism {
    Mechanism {
        concurrent: true,
        non_moving,
        faults,
        install,
    }
}

/// The one table of modes, in [`Mode::ALL`] order: every name, help text
/// and description of a mode in the workspace comes from here.
pub const MODES: [ModeSpec; 6] = [
    ModeSpec {
        mode: Mode::Stw,
        name: "stw",
        help: "stop-the-world sliding compaction (the baseline and the fallback)",
        mechanism: Mechanism {
            concurrent: false,
            non_moving: NonMovingUpdate::InPause,
            faults: FaultService::NoFaults,
            install: PageInstall::Slide,
        },
        needs: &[],
    },
    ModeSpec {
        mode: Mode::UffdCopy,
        name: "uffd-copy",
        help: "moving space compacted concurrently (UFFDIO_COPY), non-moving space updated in the pause, faults served by worker threads",
        mechanism: concurrent(
            NonMovingUpdate::InPause,
            FaultService::WorkerThreads,
            PageInstall::Copy,
        ),
        needs: &[KernelFeature::Userfaultfd],
    },
    ModeSpec {
        mode: Mode::UffdWorkers,
        name: "uffd-workers",
        help: "both spaces compacted concurrently (UFFDIO_COPY, MINOR faults and UFFDIO_CONTINUE), faults served by worker threads",
        mechanism: concurrent(
            NonMovingUpdate::Concurrent,
            FaultService::WorkerThreads,
            PageInstall::Copy,
        ),
        needs: &[KernelFeature::Userfaultfd, KernelFeature::MinorShmem],
    },
    ModeSpec {
        mode: Mode::UffdMove,
        name: "uffd-move",
        help: "uffd-workers installing pages with UFFDIO_MOVE from drained from-space",
        mechanism: concurrent(
            NonMovingUpdate::Concurrent,
            FaultService::WorkerThreads,
            PageInstall::Move,
        ),
        needs: &[
            KernelFeature::Userfaultfd,
            KernelFeature::MinorShmem,
            KernelFeature::Move,
        ],
    },
    ModeSpec {
        mode: Mode::Sigbus,
        name: "sigbus",
        help: "both spaces compacted concurrently (UFFDIO_COPY), faults served on the faulting thread by a SIGBUS handler",
        mechanism: concurrent(
            NonMovingUpdate::Concurrent,
            FaultService::FaultingThread,
            PageInstall::Copy,
        ),
        needs: &[
            KernelFeature::Userfaultfd,
            KernelFeature::MinorShmem,
            KernelFeature::Sigbus,
        ],
    },
    ModeSpec {
        mode: Mode::Uffd,
        name: "uffd",
        help: "the default: the best this kernel offers, measured (sigbus; without SIGBUS, uffd-workers; without userfaultfd, stw)",
        mechanism: concurrent(
            NonMovingUpdate::Concurrent,
            FaultService::FaultingThread,
            PageInstall::Copy,
        ),
        needs: &[
            KernelFeature::Userfaultfd,
            KernelFeature::MinorShmem,
            KernelFeature::Sigbus,
        ],
    },
];

/// Every mode name, comma-separated, as [`MODES`] lists them (for error
/// messages; a test keeps it equal to the table).
pub const MODE_NAMES: &str = "stw, uffd-copy, uffd-workers, uffd-move, sigbus, uffd";
const MODE_EXPECTED: &str = "one of stw, uffd-copy, uffd-workers, uffd-move, sigbus, uffd";

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

    /// This mode's row of [`MODES`].
    pub fn spec(self) -> &'static ModeSpec {
        &MODES[self as usize]
    }

    /// The name used on command lines and in logs.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The mode named `name` (as [`Mode::name`] spells it).
    pub fn from_name(name: &str) -> Option<Mode> {
        MODES.iter().find(|s| s.name == name).map(|s| s.mode)
    }

    /// What this mode does.
    pub fn mechanism(self) -> Mechanism {
        self.spec().mechanism
    }

    /// The mode whose name best describes a runtime that asked for
    /// `requested` and runs `running`: `requested` itself when it runs as
    /// asked (`wanted` is what was asked, with options such as
    /// `GC_UFFD_MOVE` applied), otherwise the first mode of the table that
    /// does exactly what runs, otherwise the first that updates the
    /// non-moving space the same way and installs pages alike (e.g. `uffd`
    /// without MINOR faults, which keeps SIGBUS: `uffd-copy`).
    pub fn describing(requested: Mode, wanted: Mechanism, running: Mechanism) -> Mode {
        if wanted == running {
            return requested;
        }
        let same =
            |f: &dyn Fn(&Mechanism) -> bool| MODES.iter().find(|s| f(&s.mechanism)).map(|s| s.mode);
        same(&|m| *m == running)
            .or_else(|| {
                same(&|m| {
                    m.concurrent == running.concurrent
                        && m.non_moving == running.non_moving
                        && m.install == running.install
                })
            })
            .or_else(|| same(&|m| m.concurrent == running.concurrent))
            .unwrap_or(Mode::Stw)
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
            expected: MODE_EXPECTED,
        })
    }
}

/// The compactor options that run `m` (concurrent mechanisms only),
/// starting from `base` (thread counts and test delays).
pub(crate) fn uffd_options(
    m: Mechanism,
    base: &gc::collector::UffdOptions,
) -> gc::collector::UffdOptions {
    gc::collector::UffdOptions {
        non_moving_continue: m.non_moving == NonMovingUpdate::Concurrent,
        sigbus: m.faults == FaultService::FaultingThread,
        moves: m.install == PageInstall::Move,
        ..base.clone()
    }
}

/// What a compactor with options `o` (as degraded to what the kernel
/// offers) runs.
pub(crate) fn running_mechanism(o: &gc::collector::UffdOptions) -> Mechanism {
    Mechanism {
        concurrent: true,
        non_moving: if o.non_moving_continue {
            NonMovingUpdate::Concurrent
        } else {
            NonMovingUpdate::InPause
        },
        faults: if o.sigbus {
            FaultService::FaultingThread
        } else {
            FaultService::WorkerThreads
        },
        install: if o.moves {
            PageInstall::Move
        } else {
            PageInstall::Copy
        },
    }
}

/// Command-line parsing of modes (the `clap` feature): the names and help
/// texts come from [`MODES`], so no `--help` can list a stale mode.
#[cfg(feature = "clap")]
impl clap::ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        &Mode::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.spec().help))
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// The soft limit was set above the heap limit (the soft limit is a
    /// goal below the hard one).
    #[error("soft limit {soft} bytes is above the heap limit {hard} bytes: the soft limit must be at most the heap limit")]
    SoftAboveHard {
        /// The soft limit.
        soft: usize,
        /// The heap limit.
        hard: usize,
    },
    /// The heap could not be created.
    #[error("cannot create the heap: {0}")]
    Heap(String),
}

/// A run-time change of the heap's limits or growth that was refused
/// ([`crate::Runtime::set_soft_limit`], [`crate::Runtime::set_heap_limit`],
/// [`crate::Runtime::set_growth`]); the knobs keep their old values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitError {
    /// The soft limit must not exceed the hard limit.
    #[error("soft limit {soft} bytes is above the heap limit {hard} bytes: the soft limit must be at most the heap limit")]
    SoftAboveHard {
        /// The soft limit asked for (or in force).
        soft: usize,
        /// The hard limit asked for (or in force).
        hard: usize,
    },
    /// The heap reserved address space for the limit it was built with: a
    /// limit can be lowered at run time, never raised past that.
    #[error("heap limit {requested} bytes is above the {reserved} bytes the heap was built with: a limit can only be raised up to the built one")]
    AboveReserved {
        /// The limit asked for.
        requested: usize,
        /// The limit the heap was built with.
        reserved: usize,
    },
    /// A hard limit below the bytes in use would leave the heap over its
    /// limit at once.
    #[error("heap limit {requested} bytes is below the {used} bytes in use: collect first, or choose a larger limit")]
    BelowUse {
        /// The limit asked for.
        requested: usize,
        /// The bytes in use when it was asked.
        used: usize,
    },
    /// The growth factor must be a number from 1 to 100.
    #[error("heap growth factor {0} is out of range: expected a number from 1 to 100")]
    BadGrowth(f64),
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

/// Checks a promotion age (`GC_PROMOTION_AGE`,
/// `RuntimeBuilder::promotion_age`): the cycles a moving object survives
/// before it becomes old, 1 or 2.
pub fn check_promotion_age(age: u8) -> Result<u8, ConfigError> {
    match age {
        1 | 2 => Ok(age),
        _ => Err(ConfigError::BadValue {
            what: "promotion age",
            value: age.to_string(),
            expected: PROMOTION_AGE_EXPECTED,
        }),
    }
}

/// What a promotion age may be.
const PROMOTION_AGE_EXPECTED: &str = "1 (promote after one survived cycle) or 2 (after two)";

/// Parses `GC_PROMOTION_AGE`: `1` or `2`.
pub fn parse_promotion_age(s: &str) -> Result<u8, ConfigError> {
    s.trim()
        .parse::<u8>()
        .ok()
        .and_then(|a| check_promotion_age(a).ok())
        .ok_or(ConfigError::BadValue {
            what: "promotion age",
            value: s.to_string(),
            expected: PROMOTION_AGE_EXPECTED,
        })
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
    fn the_mode_table_is_in_mode_order_and_names_are_unique() {
        for (i, m) in Mode::ALL.into_iter().enumerate() {
            assert_eq!(MODES[i].mode, m);
            assert_eq!(Mode::from_name(m.name()), Some(m));
        }
        let names: Vec<&str> = MODES.iter().map(|s| s.name).collect();
        assert_eq!(names.join(", "), MODE_NAMES);
        assert_eq!(MODE_EXPECTED, format!("one of {MODE_NAMES}"));
    }

    #[test]
    fn an_unknown_mode_error_lists_every_mode_of_the_table() {
        let e = "fast".parse::<Mode>().unwrap_err();
        assert!(e.to_string().contains(MODE_NAMES), "{e}");
    }

    #[test]
    fn uffd_is_described_as_copy_not_move() {
        // The old documentation called `uffd` "SIGBUS + MOVE".
        let m = Mode::Uffd.mechanism();
        assert_eq!(m.install, PageInstall::Copy);
        assert_eq!(m.faults, FaultService::FaultingThread);
        assert_eq!(Mode::UffdMove.mechanism().install, PageInstall::Move);
    }

    #[test]
    fn the_effective_mode_is_the_requested_one_unless_something_degraded() {
        let uffd = Mode::Uffd.mechanism();
        // uffd runs as asked: it stays uffd although sigbus does the same.
        assert_eq!(Mode::describing(Mode::Uffd, uffd, uffd), Mode::Uffd);
        // No SIGBUS: the workers serve faults.
        let workers = Mechanism {
            faults: FaultService::WorkerThreads,
            ..uffd
        };
        assert_eq!(
            Mode::describing(Mode::Uffd, uffd, workers),
            Mode::UffdWorkers
        );
        // No MINOR faults, SIGBUS kept: closest is uffd-copy.
        let copy = Mechanism {
            non_moving: NonMovingUpdate::InPause,
            ..uffd
        };
        assert_eq!(Mode::describing(Mode::Uffd, uffd, copy), Mode::UffdCopy);
        // No MOVE for uffd-move: uffd-workers.
        let wanted = Mode::UffdMove.mechanism();
        let running = Mechanism {
            install: PageInstall::Copy,
            ..wanted
        };
        assert_eq!(
            Mode::describing(Mode::UffdMove, wanted, running),
            Mode::UffdWorkers
        );
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
