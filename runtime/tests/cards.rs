//! The write barrier's card store: a store into slot `i` of an object
//! dirties exactly the card of that slot (moving and non-moving holders),
//! and nothing else does.

mod common;

use runtime::{AllocSpec, Mode, Runtime};

const CARD: usize = 512;

fn runtime() -> Runtime {
    Runtime::builder()
        .mode(Mode::Stw)
        .heap_limit(64 << 20)
        .build()
        .expect("runtime")
}

/// Writes into slot `i` of an object of `slots` slots (`pinned`: in the
/// non-moving space) and checks that exactly the slot's card turned dirty.
fn one_store_dirties_the_slots_card(slots: u32, i: usize, pinned: bool) {
    let rt = runtime();
    let mut m = rt.mutator().expect("mutator");
    common::push_obj(&mut m, 7, 0, false);
    let (m, holder) = m
        .alloc(AllocSpec {
            tag: 1,
            slots,
            bytes: 0,
            pinned,
            weak: false,
        })
        .expect("holder");
    let large = slots as usize * 8 >= rt.heap().config().large_object_threshold;
    assert_eq!(rt.heap().in_non_moving(holder.addr()), pinned || large);
    assert_eq!(rt.heap().dirty_cards(), 0, "allocation dirties no card");
    let target = m.stack_get(0);
    m.write(holder, i, target);
    let slot = holder.addr() + (2 + i) * 8;
    assert!(rt.heap().card_dirty(slot), "the slot's card is dirty");
    assert_eq!(rt.heap().dirty_cards(), 1, "and no other card");
    let header_card = holder.addr() / CARD;
    if slot / CARD != header_card {
        assert!(!rt.heap().card_dirty(holder.addr()), "not the header's");
    }
}

#[test]
fn a_store_into_a_moving_object_dirties_its_slots_card() {
    one_store_dirties_the_slots_card(8, 5, false);
    // A slot several cards past the header (a 16 KiB object).
    one_store_dirties_the_slots_card(2048, 1500, false);
}

#[test]
fn a_store_into_a_large_non_moving_array_dirties_its_slots_card() {
    // 64 KiB of slots: past the large-object threshold.
    one_store_dirties_the_slots_card(8192, 7000, false);
    one_store_dirties_the_slots_card(8192, 0, true);
}
