//! The promotion age (`RuntimeBuilder::promotion_age`) in every mode (the
//! uffd modes are skipped, with a message, where userfaultfd is
//! unavailable): with age 2 a moving object that survived one young cycle
//! is still young (a young cycle frees it once it dies) and the second
//! survival promotes it; with age 1 the first does. Old objects that point
//! to objects still young keep their cards dirty across the promotion (the
//! verifier, on here, checks the card invariant after every cycle, and the
//! young cycle after it must find the object through the card).

mod common;

use runtime::{Mode, Mutator, Runtime};

/// A generational, verifying runtime in `mode` promoting at `age`, or
/// `None` (with a SKIP line) where the mode cannot run.
fn runtime_in(mode: Mode, age: u8) -> Option<Runtime> {
    let builder = Runtime::builder()
        .heap_limit(64 << 20)
        .generational(true)
        .promotion_age(age)
        .verify(true);
    common::in_mode(builder, mode)
}

/// The address of the object in value-stack slot `i`.
fn addr(m: &Mutator, i: usize) -> usize {
    m.stack_get(i).as_object().expect("an object").addr()
}

/// Small survivors pushed after an object that is to be promoted.
const FILLERS: usize = 2000;

fn young_cycle(m: &mut Mutator) {
    m.collect_young().expect("young collection");
    m.finish_cycle().expect("compaction");
}

#[test]
fn age_two_promotes_after_the_second_survival_and_age_one_after_the_first() {
    for mode in Mode::ALL {
        for age in [1u8, 2] {
            let Some(rt) = runtime_in(mode, age) else {
                continue;
            };
            let mut m = rt.mutator().expect("mutator");
            m.collect().expect("full");
            m.finish_cycle().expect("compaction");
            common::push_obj(&mut m, 7, 0, false);
            young_cycle(&mut m);
            assert_eq!(
                rt.heap().is_old(addr(&m, 0)),
                age == 1,
                "{mode}, age {age}: old after one survival"
            );
            young_cycle(&mut m);
            assert!(
                rt.heap().is_old(addr(&m, 0)),
                "{mode}, age {age}: old after two survivals"
            );
            assert_eq!(common::id(m.stack_get(0)), 7, "{mode}, age {age}");
            assert_eq!(rt.stats().young_cycles, 2, "{mode}, age {age}");
        }
    }
}

#[test]
fn with_age_two_a_young_cycle_frees_an_object_that_survived_once() {
    for mode in Mode::ALL {
        for age in [1u8, 2] {
            let Some(rt) = runtime_in(mode, age) else {
                continue;
            };
            let mut m = rt.mutator().expect("mutator");
            m.collect().expect("full");
            m.finish_cycle().expect("compaction");
            let empty = m.used_bytes();
            common::push_obj(&mut m, 7, 4, false);
            young_cycle(&mut m);
            m.pop().expect("the survivor");
            young_cycle(&mut m);
            assert_eq!(
                m.used_bytes() == empty,
                age == 2,
                "{mode}, age {age}: {} bytes used, {empty} before (age 1 keeps the \
                 promoted garbage until a full cycle)",
                m.used_bytes()
            );
        }
    }
}

#[test]
fn old_objects_pointing_to_once_survived_ones_keep_their_cards_dirty() {
    for mode in Mode::ALL {
        let Some(rt) = runtime_in(mode, 2) else {
            continue;
        };
        let mut m = rt.mutator().expect("mutator");
        common::push_obj(&mut m, 1, 1, false); // h, slot 0
        m.collect().expect("full: h becomes old");
        m.finish_cycle().expect("compaction");
        assert!(rt.heap().is_old(addr(&m, 0)), "{mode}: h is old");
        common::push_obj(&mut m, 2, 1, false); // x, slot 1
                                               // Survivors after x: the promoted range ends at a page boundary
                                               // below where they land that no survivor straddles, so it takes
                                               // a few pages of them, of mixed sizes, to promote x.
        for i in 0..FILLERS {
            common::push_obj(&mut m, 100 + i as u64, (i % 3) as u32, false);
        }
        young_cycle(&mut m); // x survives once: young
        assert!(!rt.heap().is_old(addr(&m, 1)), "{mode}: x is young");
        let h = m.stack_get(0).as_object().expect("h");
        m.write(h, 0, m.stack_get(1)); // old h -> young x
        common::push_obj(&mut m, 3, 0, false); // w
        let w = FILLERS + 2;
        let x = m.stack_get(1).as_object().expect("x");
        m.write(x, 0, m.stack_get(w)); // x -> w, both young
                                       // x survives twice (promoted, its slot to w young: its card stays
                                       // dirty), w once; h's card is cleaned (x is old now). The verifier
                                       // checks both.
        young_cycle(&mut m);
        assert!(rt.heap().is_old(addr(&m, 1)), "{mode}: x is old");
        assert!(!rt.heap().is_old(addr(&m, w)), "{mode}: w is young");
        m.stack_truncate(1); // w is reachable only through x's card
        young_cycle(&mut m);
        let h = m.stack_get(0).as_object().expect("h");
        let x = h.slot(0).as_object().expect("x");
        assert_eq!(common::id(h.slot(0)), 2, "{mode}: x survived");
        assert_eq!(common::id(x.slot(0)), 3, "{mode}: w survived");
        let w = x.slot(0).as_object().expect("w");
        assert!(
            rt.heap().is_old(w.addr()),
            "{mode}: w is old after two survivals"
        );
    }
}
