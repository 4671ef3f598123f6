//! Process figures from `/proc/self/status`.

/// A `kB` field of /proc/self/status in bytes (e.g. `VmHWM`, `VmRSS`).
pub fn status_bytes(field: &str) -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    let kb: usize = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Peak resident set size in bytes.
pub fn peak_rss() -> Option<usize> {
    status_bytes("VmHWM")
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux 4.0+: writing
/// `5` to `/proc/self/clear_refs`); returns whether it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time (user + system) this process has used.
pub fn process_cpu() -> std::time::Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .map_or(std::time::Duration::ZERO, std::time::Duration::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_rss_is_readable_and_nonzero() {
        let rss = super::peak_rss().expect("VmHWM in /proc/self/status");
        assert!(rss > 1 << 20, "a test process uses more than 1 MiB ({rss})");
    }

    #[test]
    fn peak_rss_resets_below_a_past_peak() {
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let peak = super::peak_rss().expect("VmHWM");
        drop(big);
        assert!(super::reset_peak_rss(), "clear_refs accepts 5");
        let after = super::peak_rss().expect("VmHWM");
        assert!(
            after + (32 << 20) < peak,
            "peak {peak} -> {after} after reset"
        );
    }
}
