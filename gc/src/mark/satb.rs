//! The snapshot-at-the-beginning (SATB) queue of a concurrent marking.
//!
//! While marking runs, a mutator that overwrites a reference slot records
//! the old value in a thread-local buffer (the write barrier), and one that
//! reads a weak slot records what it read (so a weakly reachable object the
//! program picks up again is not lost). Full buffers go to this queue; the
//! marker drains it, and the remark pause drains what is left together with
//! each mutator's partial buffer. Every object reachable when marking began,
//! or allocated since, is then marked.

use parking_lot::Mutex;

use crate::value::Value;

/// Values a mutator records before it hands its buffer over.
pub const SATB_BUFFER: usize = 1024;

/// Full SATB buffers waiting for the marker.
#[derive(Default)]
pub struct SatbQueue {
    buffers: Mutex<Vec<Vec<Value>>>,
}

impl SatbQueue {
    /// An empty queue.
    pub fn new() -> SatbQueue {
        SatbQueue::default()
    }

    /// Hands a buffer to the marker (the caller keeps an empty one with the
    /// same capacity).
    pub fn push(&self, buffer: &mut Vec<Value>) {
        if buffer.is_empty() {
            return;
        }
        let full = std::mem::replace(buffer, Vec::with_capacity(SATB_BUFFER));
        self.buffers.lock().push(full);
    }

    /// Takes every queued buffer.
    pub fn take_all(&self) -> Vec<Vec<Value>> {
        std::mem::take(&mut *self.buffers.lock())
    }

    /// Whether no buffer is queued.
    pub fn is_empty(&self) -> bool {
        self.buffers.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_buffers_are_taken_once_and_the_pusher_keeps_an_empty_one() {
        let q = SatbQueue::new();
        let mut b = vec![Value::number(1.0), Value::TRUE];
        q.push(&mut b);
        assert!(b.is_empty() && b.capacity() >= SATB_BUFFER);
        q.push(&mut b); // empty: ignored
        let taken = q.take_all();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].len(), 2);
        assert!(q.is_empty() && q.take_all().is_empty());
    }
}
