//! `compute_page` alone: computing the pages of one compaction in random
//! order, or twice, gives the same bytes as computing them in order; the
//! in-order result installed in place is a valid, equal heap.

mod by_hand;

use gc::compact::{ForwardingPlan, PageComputer, PlanTables, PAGE_WORDS};
use gc::units::PAGE_SIZE;
use gc::{AllocRequest, Heap, HeapConfig, Tlab, Value};

fn build_graph(heap: &Heap, tlab: &mut Tlab, n: usize) -> Vec<Value> {
    let mut all = Vec::new();
    for i in 0..n {
        let req = AllocRequest {
            tag: 3,
            slots: (i % 4) as u32,
            bytes: 8 + (i * 37) % 700,
            pinned: i % 97 == 0,
            weak: i % 53 == 0,
        };
        let o = by_hand::alloc(heap, tlab, &req).expect("room");
        // SAFETY: fresh object.
        unsafe { o.bytes_mut()[..8].copy_from_slice(&(i as u64).to_le_bytes()) };
        if o.slot_count() > 0 && i > 0 {
            // SAFETY: slot 0 exists; no marking runs.
            unsafe { o.set_slot_raw(0, all[(i * 7919) % i]) };
        }
        all.push(Value::object(o));
    }
    by_hand::retire(tlab);
    // Keep a pseudo-random third as roots; the rest is garbage unless linked.
    all.iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, v)| v)
        .collect()
}

/// A 32 MiB heap holding `build_graph`'s 30000 objects, and its roots.
fn heap_with_graph() -> (Heap, Vec<Value>) {
    let heap = Heap::new(HeapConfig {
        heap_limit: 32 << 20,
        large_object_threshold: 2048,
        ..Default::default()
    })
    .expect("heap");
    let mut tlab = Tlab::empty();
    let roots = build_graph(&heap, &mut tlab, 30_000);
    (heap, roots)
}

#[test]
fn pages_computed_in_any_order_or_twice_are_identical() {
    let (heap, mut roots) = heap_with_graph();
    let before = by_hand::graph_checksum(&mut roots);
    by_hand::mark(&heap, &mut roots, 1);
    let plan =
        ForwardingPlan::build(&heap, heap.moving().top(), &PlanTables::default()).expect("plan");
    assert!(
        plan.live_pages() > 50,
        "the test needs many pages ({})",
        plan.live_pages()
    );
    heap.engine()
        .flip(heap.moving().base(), heap.from_base(), heap.space_bytes())
        .expect("flip");
    let pc = PageComputer::new(&heap, &plan);
    let n = plan.live_pages();
    let mut in_order = vec![[0u64; PAGE_WORDS]; n];
    let mut portable = [0u64; PAGE_WORDS];
    for (p, buf) in in_order.iter_mut().enumerate() {
        pc.compute_page(p, buf);
        // The variant built for the CPU (POPCNT, where it has it) and the
        // portable one compute the same bytes.
        pc.compute_page_portable(p, &mut portable);
        assert!(*buf == portable, "page {p} differs between variants");
    }
    // A deterministic shuffle (LCG) of the page order, computed twice.
    let mut order: Vec<usize> = (0..n).collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..n).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        order.swap(i, (x >> 33) as usize % (i + 1));
    }
    let mut buf = [0u64; PAGE_WORDS];
    for round in 0..2 {
        for &p in &order {
            buf.fill(0xdead_beef);
            pc.compute_page(p, &mut buf);
            assert!(
                buf == in_order[p],
                "page {p} differs in shuffled round {round}"
            );
        }
    }
    // Past the live data a page is all zeroes.
    pc.compute_page(n + 3, &mut buf);
    assert!(buf.iter().all(|&w| w == 0));
    // Install the pages and finish the cycle by hand: the heap must verify
    // and keep its checksum.
    for (p, page) in in_order.iter().enumerate() {
        let dst = (heap.moving().base() + p * PAGE_SIZE) as *mut u64;
        // SAFETY: the moving space is mapped, empty after the flip and ours.
        unsafe { std::ptr::copy_nonoverlapping(page.as_ptr(), dst, PAGE_WORDS) };
    }
    let nm = heap.non_moving();
    gc::compact::non_moving::update_references(&pc, &heap, nm.base(), nm.high_water(), 0);
    for r in roots.iter_mut() {
        *r = pc.fix_value(*r);
    }
    let nm_top = nm.high_water();
    gc::compact::non_moving::sweep(&heap, 0);
    heap.engine()
        .release(heap.reservation(), heap.from_base(), heap.space_bytes())
        .expect("release");
    by_hand::reset_top(&heap, plan.new_top());
    heap.marks().moving.clear_below(plan.old_top());
    heap.marks().live.clear_below(plan.old_top());
    heap.marks().non_moving.clear_below(nm_top);
    by_hand::verify(&heap, &mut roots);
    assert_eq!(by_hand::graph_checksum(&mut roots), before);
}

#[test]
fn a_plan_reusing_an_earlier_plans_table_forwards_nothing_past_its_end() {
    let (heap, mut roots) = heap_with_graph();
    by_hand::mark(&heap, &mut roots, 1);
    let top = heap.moving().top();
    let last = roots
        .iter()
        .filter(|v| v.is_object() && heap.moving().contains(v.object_addr()))
        .map(|v| v.object_addr())
        .max()
        .expect("a moving root");
    let whole = ForwardingPlan::build(&heap, top, &PlanTables::default()).expect("plan");
    assert!(
        whole.forward_marked(last).is_some(),
        "a marked root forwards"
    );
    // Dropped, its table goes back to the heap and the next plan reuses it,
    // entries past the new plan's end included.
    drop(whole);
    let half = heap.moving().base() + (last - heap.moving().base()) / 2 / 4096 * 4096;
    let part = ForwardingPlan::build(&heap, half, &PlanTables::default()).expect("plan");
    assert!(part.old_top() <= last);
    assert_eq!(
        part.forward_marked(last),
        None,
        "an address past the plan has no forwarding, whatever the table held"
    );
}
