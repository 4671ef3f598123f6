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

#[cfg(test)]
mod tests {
    #[test]
    fn peak_rss_is_readable_and_nonzero() {
        let rss = super::peak_rss().expect("VmHWM in /proc/self/status");
        assert!(rss > 1 << 20, "a test process uses more than 1 MiB ({rss})");
    }
}
