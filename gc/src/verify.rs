//! Heap verification and the address-independent graph checksum.
//!
//! [`verify`] walks both spaces and checks that every header is sane, that
//! every reference (in objects and roots) lands on an object start in a live
//! space, that the mark bitmaps are clear between cycles, and the
//! generational invariants (every old slot holding a young reference lies
//! on a dirty card; the old generation's start map and end).
//! [`graph_checksum`] hashes the object graph reachable from the roots by
//! shape and payload (references hash as the visit index of their target),
//! so it is unchanged by any correct collection, which only moves objects.

use std::collections::HashMap;

use crate::heap::Heap;
use crate::mark::bitmap::Bitmap;
use crate::object::{Header, ObjRef, FILLER_TAG, FLAG_NON_MOVING, WORD};
use crate::roots::RootSet;
use crate::value::Value;

/// A broken heap invariant, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header has impossible sizes or overruns its space.
    #[error("object at {addr:#x}: bad header {header:?}")]
    BadHeader {
        /// Object address.
        addr: usize,
        /// The decoded header.
        header: Header,
    },
    /// A reference does not land on an object start.
    #[error("{holder} slot {slot} refers to {target:#x}, which is not an object start")]
    DanglingReference {
        /// The holder ("root" or an object address).
        holder: String,
        /// Slot index.
        slot: usize,
        /// The referenced address.
        target: usize,
    },
    /// A space flag disagrees with the space the object is in.
    #[error("object at {addr:#x}: non-moving flag disagrees with its space")]
    WrongSpace {
        /// Object address.
        addr: usize,
    },
    /// An old slot refers to a young object and its card is clean: a young
    /// cycle would miss the reference (the write barrier did not dirty it).
    #[error("old {holder:#x} slot {slot} refers to young {target:#x} on a clean card")]
    MissingCardMark {
        /// The old object's address.
        holder: usize,
        /// Slot index.
        slot: usize,
        /// The young target.
        target: usize,
    },
    /// The old generation's start map disagrees with the walk.
    #[error("the old generation's start map disagrees with the heap near {addr:#x}")]
    OldStartsMismatch {
        /// First address of the disagreeing bitmap word (or the stray bit).
        addr: usize,
    },
    /// The old generation does not end at a page boundary between objects
    /// at or below the top.
    #[error("the old generation ends at {old_end:#x}, not at a page-aligned object start at or below the top")]
    BadOldEnd {
        /// The old end.
        old_end: usize,
    },
    /// The end of the objects that survived one cycle lies below the old
    /// end, above the top or inside an object.
    #[error("the aged end {aged_end:#x} is not an object start between the old end and the top")]
    BadAgedEnd {
        /// The aged end.
        aged_end: usize,
    },
    /// A mark bit is set outside a cycle.
    #[error("{bitmap} bitmap has a bit set at {addr:#x} between cycles")]
    StaleMark {
        /// Which bitmap.
        bitmap: &'static str,
        /// Address of the bit.
        addr: usize,
    },
}

/// Counts from a successful verification.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Objects in the moving space (fillers excluded).
    pub moving_objects: usize,
    /// Objects in the non-moving space.
    pub non_moving_objects: usize,
    /// Bytes of fillers (TLAB tails).
    pub filler_bytes: usize,
    /// References checked.
    pub references: usize,
}

/// Verifies the heap between cycles.
///
/// # Safety
/// The world is stopped: no thread allocates in `heap` or writes to it
/// during the call, and every allocation buffer is retired (the heap is
/// walkable). `roots` may hold anything: the references in them are checked
/// before they are followed.
pub unsafe fn verify(heap: &Heap, roots: &mut dyn RootSet) -> Result<VerifyReport, VerifyError> {
    let mut report = VerifyReport::default();
    let moving = heap.moving();
    let top = moving.top();
    let starts = Bitmap::new(moving.base(), moving.capacity());
    let mut objects = Vec::new();
    let mut addr = moving.base();
    while addr < top {
        // SAFETY: the walk visits object starts of the stopped, walkable
        // space (the caller's promise), stopping at the first bad header.
        let obj = unsafe { ObjRef::from_addr(addr) };
        let header = obj.header();
        let end = addr + header.size_words as usize * WORD;
        if !header.is_sane() || end > top || header.flags & FLAG_NON_MOVING != 0 {
            return Err(VerifyError::BadHeader { addr, header });
        }
        starts.set(addr);
        if header.tag == FILLER_TAG {
            report.filler_bytes += end - addr;
        } else {
            report.moving_objects += 1;
            objects.push(obj);
        }
        addr = end;
    }
    let nm = heap.non_moving();
    let mut nm_err = None;
    nm.starts().for_each_set(nm.high_water(), |addr| {
        // SAFETY: a recorded object start of the stopped space.
        let header = unsafe { ObjRef::from_addr(addr) }.header();
        if !header.is_sane() {
            nm_err.get_or_insert(VerifyError::BadHeader { addr, header });
        } else if header.flags & FLAG_NON_MOVING == 0 {
            nm_err.get_or_insert(VerifyError::WrongSpace { addr });
        }
        report.non_moving_objects += 1;
        // SAFETY: as above.
        objects.push(unsafe { ObjRef::from_addr(addr) });
    });
    if let Some(e) = nm_err {
        return Err(e);
    }
    let is_start = |a: usize| {
        (moving.contains(a) && a < top && starts.test(a)) || (nm.contains(a) && nm.starts().test(a))
    };
    for obj in &objects {
        for i in 0..obj.slot_count() {
            let v = obj.slot(i);
            if v.is_object() {
                report.references += 1;
                if !is_start(v.object_addr()) {
                    return Err(VerifyError::DanglingReference {
                        holder: format!("object {:#x}", obj.addr()),
                        slot: i,
                        target: v.object_addr(),
                    });
                }
            }
        }
    }
    let mut root_err = None;
    let mut index = 0;
    roots.for_each_root(&mut |v| {
        if v.is_object() && !is_start(v.object_addr()) && root_err.is_none() {
            root_err = Some(VerifyError::DanglingReference {
                holder: "root".into(),
                slot: index,
                target: v.object_addr(),
            });
        }
        index += 1;
    });
    if let Some(e) = root_err {
        return Err(e);
    }
    check_generations(heap, &starts, &objects)?;
    let marks = heap.marks();
    for (name, bm, end) in [
        (
            "moving mark",
            &marks.moving,
            moving.base() + moving.capacity(),
        ),
        ("live-words", &marks.live, moving.base() + moving.capacity()),
        (
            "non-moving mark",
            &marks.non_moving,
            nm.base() + nm.capacity(),
        ),
    ] {
        if let Some(b) = bm.find_next_set(0, bm.bit_of(end).min(bm.len_bits())) {
            return Err(VerifyError::StaleMark {
                bitmap: name,
                addr: bm.addr_of(b),
            });
        }
    }
    Ok(report)
}

/// The generational invariants: the old end is a page-aligned object start
/// at or below the top, the old start map equals the walk's starts below
/// it, and every old slot holding a young reference lies on a dirty card.
fn check_generations(heap: &Heap, starts: &Bitmap, objects: &[ObjRef]) -> Result<(), VerifyError> {
    let moving = heap.moving();
    let nm = heap.non_moving();
    let gens = heap.generations();
    let old_end = gens.old_end();
    let (base, top) = (moving.base(), moving.top());
    if !(old_end - base).is_multiple_of(crate::units::PAGE_SIZE)
        || old_end > top
        || (old_end < top && !starts.test(old_end))
    {
        return Err(VerifyError::BadOldEnd { old_end });
    }
    let aged_end = gens.aged_end();
    if aged_end < old_end || aged_end > top || (aged_end < top && !starts.test(aged_end)) {
        return Err(VerifyError::BadAgedEnd { aged_end });
    }
    let old_starts = gens.old_starts();
    let words = old_starts.bit_of(old_end) / 64;
    if let Some(i) = (0..words).find(|&i| old_starts.word(i) != starts.word(i)) {
        return Err(VerifyError::OldStartsMismatch {
            addr: old_starts.addr_of(i * 64),
        });
    }
    if let Some(b) = old_starts.find_next_set(words * 64, old_starts.len_bits()) {
        return Err(VerifyError::OldStartsMismatch {
            addr: old_starts.addr_of(b),
        });
    }
    let is_old = |a: usize| {
        if moving.contains(a) {
            a < old_end
        } else {
            !nm.is_young(a)
        }
    };
    let cards = heap.cards();
    for obj in objects.iter().filter(|o| is_old(o.addr())) {
        for i in 0..obj.slot_count() {
            let v = obj.slot(i);
            if v.is_object() && !is_old(v.object_addr()) && !cards.is_dirty(obj.slot_addr(i)) {
                return Err(VerifyError::MissingCardMark {
                    holder: obj.addr(),
                    slot: i,
                    target: v.object_addr(),
                });
            }
        }
    }
    Ok(())
}

/// FNV-1a style mixing of one 64-bit word into the hash.
#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29)
}

const WEAK_MARKER: u64 = 0x5745_414b_5745_414b;

/// Hashes the graph reachable from `roots` by shape and payload, independent
/// of addresses. Weak slots hash as a marker (their target may be cleared).
///
/// # Safety
/// `roots` hold only references to live objects, and no object reachable
/// from them moves or is written during the call (the world is stopped, or
/// the caller is the only thread and runs no collection).
pub unsafe fn graph_checksum(roots: &mut dyn RootSet) -> u64 {
    let mut index: HashMap<usize, u64> = HashMap::new();
    let mut order: Vec<ObjRef> = Vec::new();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let visit = |v: Value, index: &mut HashMap<usize, u64>, order: &mut Vec<ObjRef>| -> u64 {
        if !v.is_object() {
            return v.to_bits();
        }
        let next = index.len() as u64;
        let id = *index.entry(v.object_addr()).or_insert_with(|| {
            // SAFETY: reachable from the roots, hence live (the caller's
            // promise).
            order.push(unsafe { v.as_object() });
            next
        });
        0x4f42_4a00_0000_0000 | id
    };
    roots.for_each_root(&mut |v| h = mix(h, visit(*v, &mut index, &mut order)));
    let mut i = 0;
    while i < order.len() {
        let obj = order[i];
        let header = obj.header();
        h = mix(h, header.tag as u64 | (header.slots as u64) << 16);
        h = mix(h, header.aux as u64);
        h = mix(h, header.size_words as u64);
        for s in 0..obj.slot_count() {
            let word = if header.is_weak() {
                WEAK_MARKER
            } else {
                visit(obj.slot(s), &mut index, &mut order)
            };
            h = mix(h, word);
        }
        // SAFETY: the object is live (reachable from the roots) and no
        // safepoint happens while the checksum runs.
        for chunk in unsafe { obj.bytes() }.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = mix(h, u64::from_le_bytes(w));
        }
        i += 1;
    }
    mix(h, order.len() as u64)
}
