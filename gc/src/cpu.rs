//! CPU features detected at run time, for the few hot loops compiled twice
//! (the build targets baseline x86-64, which lacks POPCNT): each has a
//! `#[target_feature]` variant that inlines the same `#[inline(always)]`
//! body, chosen by [`has_popcnt`].

/// Whether the CPU has the POPCNT instruction. The first call runs CPUID;
/// later calls read a cached flag (no allocation, no lock: callable from the
/// SIGBUS handler once [`detect`] has run).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn has_popcnt() -> bool {
    std::arch::is_x86_feature_detected!("popcnt")
}

/// Runs feature detection now, outside any signal handler.
pub fn detect() {
    #[cfg(target_arch = "x86_64")]
    let _ = has_popcnt();
}
