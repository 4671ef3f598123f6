//! A heap reserves address space sized from its limit: under an
//! address-space limit (`RLIMIT_AS`) of 1 GiB an 8 MiB heap is created
//! (it used to reserve 9 GiB whatever its limit), and a heap that does not
//! fit fails with an error saying that the heap reserves address space and
//! how much.
//!
//! `setrlimit` binds the whole process, so the parent re-executes this test
//! binary with the limit set between fork and exec, to run
//! [`address_space_child_entry`]; the child reports through its exit code.

#[path = "../../uffd/tests/child/mod.rs"]
mod child;

use gc::heap::Layout;
use gc::{Heap, HeapConfig, HeapError};

const CHILD_ENV: &str = "GC_ADDRESS_SPACE_CHILD";
const RLIMIT: u64 = 1 << 30;
const M: usize = 1 << 20;

/// The child's exit codes, each naming the check that failed.
const CHILD_CODES: &[(i32, &str)] = &[
    (0, "ok"),
    (10, "the address-space limit is not in force in the child"),
    (11, "an 8 MiB heap could not be created"),
    (12, "a 4 GiB heap was created within 1 GiB of address space"),
    (
        13,
        "the error does not say that the heap reserves address space, and how much",
    ),
];

fn child_body() -> i32 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0 || limit.rlim_cur != RLIMIT {
        return 10;
    }
    let config = |heap_limit| HeapConfig {
        heap_limit,
        ..Default::default()
    };
    if let Err(e) = Heap::new(config(8 * M)) {
        eprintln!("child: 8 MiB heap: {e}");
        return 11;
    }
    match Heap::new(config(4096 * M)) {
        Ok(_) => 12,
        Err(e @ HeapError::AddressSpace { needed, .. }) => {
            let msg = e.to_string();
            eprintln!("child: 4 GiB heap: {msg}");
            let says = msg.contains("the heap reserves address space")
                && msg.contains(&format!("needs {} MiB", needed / M))
                && msg.contains("RLIMIT_AS")
                && msg.contains("ENOMEM");
            if says && needed == Layout::for_limit(4096 * M).address_space_bytes() {
                0
            } else {
                13
            }
        }
        Err(e) => {
            eprintln!("child: 4 GiB heap: {e}");
            13
        }
    }
}

#[test]
fn small_heaps_fit_a_small_address_space_and_large_ones_say_why_not() {
    child::assert_passes_under_rlimit_as(
        "address_space_child_entry",
        CHILD_ENV,
        RLIMIT,
        CHILD_CODES,
    );
}

/// The re-executed child's entry (see the module doc); ignored in normal
/// runs.
#[test]
#[ignore = "entry point of the child process spawned under RLIMIT_AS"]
fn address_space_child_entry() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    std::process::exit(child_body());
}

#[test]
fn layouts_grow_with_the_limit() {
    let small = Layout::for_limit(8 * M);
    assert_eq!(small.align, 2 * M);
    assert_eq!(small.stride, 10 * M);
    assert_eq!(small.reserved_bytes(), 40 * M);
    assert!(small.address_space_bytes() < 64 * M, "{small:?}");
    // From a PUD up, regions are PUD-aligned so a flip moves PUD entries.
    let large = Layout::for_limit(1024 * M);
    assert_eq!(large.align, 1024 * M);
    assert_eq!(large.stride, 2048 * M);
    let odd = Layout::for_limit(1536 * M);
    assert_eq!((odd.space_bytes, odd.stride), (1536 * M, 3072 * M));
}
