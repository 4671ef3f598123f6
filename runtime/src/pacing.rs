//! Pacing on the mutator's side: an allocation the policy paces
//! ([`Pacing`]) sleeps, or during a compaction installs pages of it
//! ([`gc::compact::concurrent::assist`]) for as long as it would have slept,
//! and sleeps only what is left if no page is left to take.

use std::time::{Duration, Instant};

use crate::mutator::Mutator;
use crate::policy::Pacing;

impl Mutator {
    /// Holds a paced allocation as `how` says, blocked (pauses go on
    /// without this thread), and accounts it. Returns how long it was held.
    pub(crate) fn pace(&mut self, how: Pacing) -> Duration {
        match how {
            Pacing::Sleep(d) => {
                self.pacing_sleep(d, false);
                d
            }
            Pacing::Assist(budget) => {
                let start = Instant::now();
                let assistant = self
                    .shared
                    .compactor
                    .as_ref()
                    .and_then(|c| c.lock().assistant());
                let outcome = assistant.map(|a| {
                    let mut bufs = self.assist_bufs.take().unwrap_or_default();
                    // The assist touches no object this thread refers to
                    // (only the cycle's pages, which nobody reads before
                    // they are installed), so it runs as blocked.
                    let outcome = self.blocking(|| a.assist(budget, &mut bufs));
                    self.assist_bufs = Some(bufs);
                    outcome
                });
                let assisted = start.elapsed();
                if let Some(o) = outcome {
                    self.shared
                        .stats
                        .lock()
                        .record_assist(assisted, o.cpu, o.pages);
                }
                if outcome.is_none_or(|o| o.exhausted) {
                    // Nothing (left) to do: the rest of the slot asleep.
                    self.pacing_sleep(budget.saturating_sub(assisted), true);
                }
                budget.max(assisted)
            }
        }
    }

    /// Sleeps `d` at a pacing threshold, blocked, and accounts it
    /// (`compacting`: during a compaction).
    fn pacing_sleep(&mut self, d: Duration, compacting: bool) {
        if d.is_zero() {
            return;
        }
        self.blocking(|| std::thread::sleep(d));
        self.shared.stats.lock().record_pacing(d, compacting);
    }
}
