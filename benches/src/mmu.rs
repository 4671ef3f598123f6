//! Minimum mutator utilisation: over every window of a given length inside
//! a run, the smallest fraction of the window the mutator was not paused.

use std::time::Duration;

/// MMU of the run `[0, run)` for windows of length `window`, given pauses
/// as `(start, length)` offsets from the run's start (sorted or not; pauses
/// may be cut by the run's ends). 1.0 for a window longer than the run with
/// no pause; the worst window is always one that starts at a pause start or
/// ends at a pause end, so only those are tried.
pub fn mmu(pauses: &[(Duration, Duration)], run: Duration, window: Duration) -> f64 {
    if window.is_zero() || run.is_zero() {
        return 1.0;
    }
    let window = window.min(run);
    let mut spans: Vec<(Duration, Duration)> = pauses
        .iter()
        .map(|&(s, d)| (s.min(run), (s + d).min(run)))
        .filter(|(s, e)| e > s)
        .collect();
    spans.sort();
    let paused_in = |from: Duration, to: Duration| -> Duration {
        spans
            .iter()
            .map(|&(s, e)| e.min(to).saturating_sub(s.max(from)))
            .sum()
    };
    let mut worst = Duration::ZERO;
    for &(s, e) in &spans {
        for from in [s.min(run - window), e.saturating_sub(window)] {
            worst = worst.max(paused_in(from, from + window));
        }
    }
    1.0 - worst.as_secs_f64() / window.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_pause_is_full_utilisation() {
        assert_eq!(mmu(&[], ms(1000), ms(10)), 1.0);
    }

    #[test]
    fn a_pause_longer_than_the_window_is_zero() {
        assert_eq!(mmu(&[(ms(100), ms(50))], ms(1000), ms(10)), 0.0);
    }

    #[test]
    fn the_worst_window_is_found() {
        // 2 ms pauses 5 ms apart: a 10 ms window holds at most two (4 ms).
        let pauses: Vec<_> = (0..10).map(|i| (ms(100 + 5 * i), ms(2))).collect();
        let u = mmu(&pauses, ms(1000), ms(10));
        assert!((u - 0.6).abs() < 1e-9, "{u}");
        // A 100 ms window holds all ten (20 ms).
        let u = mmu(&pauses, ms(1000), ms(100));
        assert!((u - 0.8).abs() < 1e-9, "{u}");
    }
}
