//! Nodes: the id of a node determines everything about it (kind, slots,
//! payload, header aux word), so any node read from anywhere can check
//! itself.

use runtime::{Gc, HeapView, Value};

use super::TAG_NODE;

/// Raw bytes before a node's payload: its id and its checksum.
pub(super) const NODE_PREFIX: usize = 16;

/// The kind of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A few slots, a short payload.
    Small,
    /// Many slots.
    Array,
    /// Above the large-object threshold: the non-moving space.
    Large,
    /// Pinned: the non-moving space.
    Pinned,
}

/// Everything an id determines about its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The kind.
    pub kind: Kind,
    /// Reference slots.
    pub slots: u32,
    /// Payload bytes after the id and checksum (a multiple of 8).
    pub payload: usize,
}

/// SplitMix64's finaliser: a good 64-bit mix.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The shape of node `id`, for objects of at least `large` bytes going to
/// the non-moving space.
pub fn shape(id: u64, large: usize) -> Shape {
    let h = mix(id ^ 0x5348_4150_4521);
    let pick = h % 1000;
    let a = (h >> 10) as usize;
    let b = (h >> 30) as usize;
    let (kind, slots, payload) = match pick {
        0..=2 => (Kind::Large, a % 4, large + 8 * (b % (large / 8 * 2).max(1))),
        3..=22 => (Kind::Array, 64 + a % 449, 8),
        23..=72 => (Kind::Pinned, a % 3, 8 * (b % 16)),
        _ => (Kind::Small, a % 5, 8 * (b % 24)),
    };
    Shape {
        kind,
        slots: slots as u32,
        payload,
    }
}

/// Payload word `k` of node `id`.
fn payload_word(id: u64, k: usize) -> u64 {
    mix(id.rotate_left(17) ^ (k as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f))
}

/// The checksum of a payload (as stored after the id).
fn checksum_of(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325, |acc, w| {
        (acc ^ w).wrapping_mul(0x0100_0000_01b3).rotate_left(5)
    })
}

/// The header aux word of node `id`.
fn aux_of(id: u64) -> u32 {
    (mix(id) >> 32) as u32
}

/// Reads little-endian word `k` of `bytes`.
fn word_at(bytes: &[u8], k: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[k * 8..k * 8 + 8]);
    u64::from_le_bytes(w)
}

/// Writes node `id`'s id, checksum and payload into a fresh object.
pub(super) fn fill_node(obj: Gc<'_>, id: u64, shape: Shape) {
    obj.set_aux(aux_of(id));
    let words = shape.payload / 8;
    obj.set_raw_word(0, id);
    obj.set_raw_word(1, checksum_of((0..words).map(|k| payload_word(id, k))));
    for k in 0..words {
        obj.set_raw_word(NODE_PREFIX / 8 + k, payload_word(id, k));
    }
}

/// Checks that `v` is a whole node (and node `expected`, if given) and
/// returns its id. `heap` places large and pinned nodes in the non-moving
/// space.
pub fn check_node(
    heap: &HeapView<'_>,
    large: usize,
    v: Value<'_>,
    expected: Option<u64>,
) -> Result<u64, String> {
    let Some(obj) = v.as_object() else {
        return Err(match expected {
            Some(id) => format!("node {id:#x} lost: the slot holds {v:?}"),
            None => format!("expected a node, found {v:?}"),
        });
    };
    if !heap.contains(obj.addr()) {
        return Err(format!(
            "reference {:#x} points outside the heap",
            obj.addr()
        ));
    }
    let tag = obj.tag();
    if tag != TAG_NODE {
        return Err(format!(
            "object {:#x} has tag {tag:#x}, not a node's (expected {expected:x?})",
            obj.addr()
        ));
    }
    if obj.byte_len() < NODE_PREFIX {
        return Err(format!(
            "node at {:#x}: {} raw bytes, too short for an id",
            obj.addr(),
            obj.byte_len()
        ));
    }
    // A copy: the checker's own test corrupts a byte while others read.
    let mut bytes = vec![0u8; obj.byte_len()];
    obj.read_bytes(0, &mut bytes);
    let bytes = &bytes[..];
    let id = word_at(bytes, 0);
    if let Some(e) = expected {
        if e != id {
            return Err(format!(
                "expected node {e:#x}, found node {id:#x} at {:#x}",
                obj.addr()
            ));
        }
    }
    let s = shape(id, large);
    let need = NODE_PREFIX + s.payload;
    if obj.slot_count() != s.slots as usize || !(need..=need + 8).contains(&bytes.len()) {
        return Err(format!(
            "node {id:#x} at {:#x}: {} slots and {} raw bytes, its id says {} and {need}",
            obj.addr(),
            obj.slot_count(),
            bytes.len(),
            s.slots
        ));
    }
    if obj.aux() != aux_of(id) {
        return Err(format!(
            "node {id:#x} at {:#x}: header aux {:#x}, expected {:#x}",
            obj.addr(),
            obj.aux(),
            aux_of(id)
        ));
    }
    let non_moving = heap.in_non_moving(obj.addr());
    if matches!(s.kind, Kind::Large | Kind::Pinned) != non_moving {
        return Err(format!(
            "node {id:#x} ({:?}) at {:#x} is in the {} space",
            s.kind,
            obj.addr(),
            if non_moving { "non-moving" } else { "moving" }
        ));
    }
    let words = s.payload / 8;
    let stored = word_at(bytes, 1);
    let sum = checksum_of((0..words).map(|k| word_at(&bytes[NODE_PREFIX..], k)));
    if stored != sum {
        let bad = (0..words).find(|&k| word_at(&bytes[NODE_PREFIX..], k) != payload_word(id, k));
        return Err(format!(
            "node {id:#x} at {:#x}: payload checksum {sum:#x} != stored {stored:#x} (first bad payload word: {bad:?})",
            obj.addr()
        ));
    }
    if let Some(k) = (0..words).find(|&k| word_at(&bytes[NODE_PREFIX..], k) != payload_word(id, k))
    {
        return Err(format!(
            "node {id:#x} at {:#x}: payload word {k} is wrong under a matching checksum",
            obj.addr()
        ));
    }
    Ok(id)
}
