//! The collector's `unsafe` entry points for tests that drive a heap by
//! hand. One argument covers every call: each test owns its heap alone, on
//! one thread, with no mutator and no collector thread running between its
//! calls, so "the world is stopped" holds at every call; the tests keep
//! every root they use in the root vectors they pass, and use object
//! references only between their own collections.
#![allow(dead_code)]

use gc::compact::PlanTables;
use gc::mark::tracer::MarkStats;
use gc::{AllocRequest, CycleReport, Heap, HeapError, ObjRef, RootSet, Tlab, Value};

/// [`Heap::alloc`] into the test's own buffer.
pub fn alloc(heap: &Heap, tlab: &mut Tlab, req: &AllocRequest) -> Option<ObjRef> {
    // SAFETY: see the module docs; `tlab` is the test's buffer of `heap`.
    unsafe { heap.alloc(tlab, req) }.expect("alloc")
}

/// [`Tlab::retire`].
pub fn retire(tlab: &mut Tlab) {
    // SAFETY: the test's buffer, installed by its heap.
    unsafe { tlab.retire() }
}

/// [`gc::mark::tracer::mark`].
pub fn mark(heap: &Heap, roots: &mut dyn RootSet, threads: usize) -> MarkStats {
    // SAFETY: see the module docs.
    unsafe { gc::mark::tracer::mark(heap, roots, threads) }
}

/// [`gc::verify::graph_checksum`].
pub fn graph_checksum(roots: &mut dyn RootSet) -> u64 {
    // SAFETY: see the module docs.
    unsafe { gc::verify::graph_checksum(roots) }
}

/// [`gc::verify::verify`].
pub fn verify(heap: &Heap, roots: &mut dyn RootSet) -> gc::verify::VerifyReport {
    // SAFETY: see the module docs (buffers are retired before verifying).
    unsafe { gc::verify::verify(heap, roots) }.expect("verified")
}

/// [`gc::compact::stw::collect`] (with a plan table of its own).
pub fn collect(heap: &Heap, roots: &mut dyn RootSet) -> Result<CycleReport, HeapError> {
    // SAFETY: see the module docs.
    unsafe { gc::compact::stw::collect(heap, roots, &PlanTables::default()) }
}

/// [`gc::compact::young::collect_young`].
pub fn collect_young(heap: &Heap, roots: &mut dyn RootSet) -> Result<CycleReport, HeapError> {
    // SAFETY: see the module docs.
    unsafe { gc::compact::young::collect_young(heap, roots, &PlanTables::default()) }
}

/// [`gc::verify::verify`], its error kept.
pub fn try_verify(
    heap: &Heap,
    roots: &mut dyn RootSet,
) -> Result<gc::verify::VerifyReport, gc::verify::VerifyError> {
    // SAFETY: see the module docs (buffers are retired before verifying).
    unsafe { gc::verify::verify(heap, roots) }
}

/// [`gc::heap::MovingSpace::reset_top`] after a hand-run compaction.
pub fn reset_top(heap: &Heap, top: usize) {
    // SAFETY: see the module docs; `top` is the plan's new top.
    unsafe { heap.moving().reset_top(top) }
}

/// The object a root or slot value names.
pub fn obj(v: Value) -> ObjRef {
    assert!(v.is_object());
    // SAFETY: see the module docs: a current reference of the test's heap.
    unsafe { v.as_object() }
}

/// The object at `addr` (an object start the test found).
pub fn at(addr: usize) -> ObjRef {
    // SAFETY: see the module docs.
    unsafe { ObjRef::from_addr(addr) }
}
