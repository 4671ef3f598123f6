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
    let spans = merged(pauses, run);
    // prefix[i]: paused time of spans[..i].
    let mut prefix = Vec::with_capacity(spans.len() + 1);
    prefix.push(Duration::ZERO);
    for &(s, e) in &spans {
        prefix.push(prefix[prefix.len() - 1] + (e - s));
    }
    // Paused time inside [from, to): whole spans by the prefix sums, the
    // two cut at the ends by hand (spans are sorted and disjoint).
    let paused_in = |from: Duration, to: Duration| -> Duration {
        let first = spans.partition_point(|&(_, e)| e <= from);
        let end = spans.partition_point(|&(s, _)| s < to);
        if first >= end {
            return Duration::ZERO;
        }
        let mut total = prefix[end] - prefix[first];
        total -= from
            .saturating_sub(spans[first].0)
            .min(spans[first].1 - spans[first].0);
        total -= spans[end - 1]
            .1
            .saturating_sub(to)
            .min(spans[end - 1].1 - spans[end - 1].0);
        total
    };
    let mut worst = Duration::ZERO;
    for &(s, e) in &spans {
        for from in [s.min(run - window), e.saturating_sub(window)] {
            worst = worst.max(paused_in(from, from + window));
        }
    }
    1.0 - worst.as_secs_f64() / window.as_secs_f64()
}

/// The pauses as sorted, disjoint `(start, end)` spans cut to `[0, run)`
/// (a stall may overlap another thread's pause).
fn merged(pauses: &[(Duration, Duration)], run: Duration) -> Vec<(Duration, Duration)> {
    let mut spans: Vec<(Duration, Duration)> = pauses
        .iter()
        .map(|&(s, d)| (s.min(run), (s + d).min(run)))
        .filter(|(s, e)| e > s)
        .collect();
    spans.sort();
    let mut out: Vec<(Duration, Duration)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Window lengths from 0.1 ms to 1 s, `per_decade` of them per factor of
/// ten (the x axis of an MMU curve).
pub fn windows(per_decade: usize) -> Vec<Duration> {
    let n = 4 * per_decade.max(1);
    (0..=n)
        .map(|i| Duration::from_secs_f64(1e-4 * 10f64.powf(i as f64 / per_decade.max(1) as f64)))
        .collect()
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
    fn overlapping_pauses_count_once() {
        // A stall overlapping a pause: 10 ms stopped in all, not 15.
        let u = mmu(&[(ms(100), ms(10)), (ms(105), ms(5))], ms(1000), ms(20));
        assert!((u - 0.5).abs() < 1e-9, "{u}");
    }

    #[test]
    fn windows_span_a_tenth_of_a_millisecond_to_a_second() {
        let w = windows(5);
        assert_eq!(w.len(), 21);
        assert_eq!(w[0], Duration::from_micros(100));
        assert!((w[20].as_secs_f64() - 1.0).abs() < 1e-9);
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
