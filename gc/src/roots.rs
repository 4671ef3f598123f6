//! Root sets: where the embedder's references live outside the heap.

use crate::value::Value;

/// Something holding root values that a collection reads (to mark) and
/// rewrites (to post-compaction addresses).
pub trait RootSet {
    /// Calls `f` on every root slot.
    fn for_each_root(&mut self, f: &mut dyn FnMut(&mut Value));
}

impl RootSet for Vec<Value> {
    fn for_each_root(&mut self, f: &mut dyn FnMut(&mut Value)) {
        self.iter_mut().for_each(f);
    }
}

impl RootSet for [Value] {
    fn for_each_root(&mut self, f: &mut dyn FnMut(&mut Value)) {
        self.iter_mut().for_each(f);
    }
}

impl<A: RootSet + ?Sized, B: RootSet + ?Sized> RootSet for (&mut A, &mut B) {
    fn for_each_root(&mut self, f: &mut dyn FnMut(&mut Value)) {
        self.0.for_each_root(f);
        self.1.for_each_root(f);
    }
}
