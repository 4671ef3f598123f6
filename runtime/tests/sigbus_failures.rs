//! The SIGBUS modes when something other than the heap raises SIGBUS, when
//! the heap's memory is changed from outside, and on threads that block
//! SIGBUS:
//!
//! - a stray SIGBUS has the effect it would have without the runtime (the
//!   same child run without a runtime is the reference), and heap faults
//!   keep being served afterwards;
//! - a SIGBUS inside the heap that userfaultfd did not raise ends the
//!   process by SIGBUS with a message naming the address and the reason,
//!   instead of being retried for ever;
//! - a thread that blocked SIGBUS before registering gets it unblocked;
//! - the handler keeps `errno`, is installed with `SA_ONSTACK` and fits in
//!   the alternate signal stack Rust gives every thread.
//!
//! A test whose outcome is the end of a process runs this binary again as
//! a child (the test `child`, with `SIGBUS_CHILD` naming its role) and
//! checks how the child ended. Its own test binary: dispositions are
//! process-wide.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use gc::compact::concurrent::sigbus::faults_served;
use runtime::{Mode, Mutator, Runtime};

mod common;
use common::build_list_with_garbage as build_list;

#[path = "../../uffd/tests/child/mod.rs"]
mod child;
use child::Ended;

const CHILD: &str = "SIGBUS_CHILD";
/// Long enough for the slowest legitimate child (a few cycles of a small
/// heap); a child still running then is hung.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs this binary's test `child` with `SIGBUS_CHILD=role`; a child that
/// does not end within [`CHILD_TIMEOUT`] is killed and fails the test.
fn run_child(role: &str) -> Ended {
    let mut cmd = child::this_test("child", false);
    cmd.env(CHILD, role);
    let ended = child::run(cmd, CHILD_TIMEOUT);
    assert!(!ended.hung, "child {role} hung: {}", ended.describe());
    ended
}

/// The child's entry (does nothing in a normal test run).
#[test]
fn child() {
    let Ok(role) = std::env::var(CHILD) else {
        return;
    };
    match role.as_str() {
        "std-handler" => child_std_handler(true),
        "std-handler-no-runtime" => child_std_handler(false),
        "default-disposition" => child_default_disposition(),
        "embedder-handler" => child_embedder_handler(),
        "ignored" => child_ignored(),
        "outside-no-cycle" => child_outside(false),
        "outside-in-cycle" => child_outside(true),
        "blocked-thread" => child_blocked_thread(),
        other => panic!("unknown child role {other}"),
    }
}

/// A runtime in `sigbus` mode whose collector sleeps `page_delay` after
/// every page (so that mutators fault on most pages), or `None` after
/// printing why the mode is unavailable (`SKIP ...` on stdout).
fn sigbus_runtime(page_delay: Duration) -> Option<Runtime> {
    let builder = Runtime::builder()
        .heap_limit(64 << 20)
        .compaction_page_delay(page_delay);
    common::in_mode(builder, Mode::Sigbus)
}

/// Collects and walks the list while the compaction runs: returns the heap
/// faults this thread's handler served on the way. The checksum must not
/// change.
fn walk_through_a_cycle(m: &mut Mutator) -> u64 {
    let before = m.checksum();
    let served = faults_served();
    m.collect().expect("collect");
    assert_eq!(m.checksum(), before, "the graph survived the cycle");
    faults_served() - served
}

/// Sends SIGBUS to the calling thread, as `kill -BUS` would (not a fault).
fn stray_sigbus() {
    // SAFETY: raise is a plain syscall wrapper.
    assert_eq!(unsafe { libc::raise(libc::SIGBUS) }, 0);
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// With std's stack-overflow handler in front (every Rust program has it),
/// a stray SIGBUS is swallowed once (std resets the disposition to the
/// default) and the second one kills; with the runtime, heap faults keep
/// being served in between.
fn child_std_handler(with_runtime: bool) {
    let mut rt_m = None;
    if with_runtime {
        let Some(rt) = sigbus_runtime(Duration::from_micros(200)) else {
            return;
        };
        let mut m = rt.mutator().expect("mutator");
        build_list(&mut m, 20_000);
        assert!(walk_through_a_cycle(&mut m) > 0, "faults before");
        rt_m = Some((rt, m));
    }
    stray_sigbus();
    say("survived the first stray SIGBUS");
    if let Some((_, m)) = &mut rt_m {
        let faults = walk_through_a_cycle(m);
        assert!(faults > 0, "faults after");
        say(&format!("heap faults still served ({faults})"));
    }
    stray_sigbus();
    say("survived the second stray SIGBUS");
}

/// With SIGBUS at its default disposition when the runtime starts, a stray
/// SIGBUS kills the process.
fn child_default_disposition() {
    // SAFETY: resetting a disposition.
    unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
    let Some(rt) = sigbus_runtime(Duration::from_micros(200)) else {
        return;
    };
    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 20_000);
    assert!(walk_through_a_cycle(&mut m) > 0);
    say("heap faults served");
    stray_sigbus();
    say("survived a stray SIGBUS");
}

static EMBEDDER_CALLS: AtomicUsize = AtomicUsize::new(0);
static EMBEDDER_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn embedder_handler(
    _sig: libc::c_int,
    _info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    EMBEDDER_CALLS.fetch_add(1, Ordering::SeqCst);
    let fd = EMBEDDER_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: ftruncate is async-signal-safe; the fd is the child's
        // memfd.
        unsafe { libc::ftruncate(fd, 4096) };
    }
}

/// One page of an empty memfd: touching it raises SIGBUS (a real fault,
/// outside every heap). Returns the page and the fd.
fn short_memfd_page() -> (*mut u8, i32) {
    // SAFETY: plain syscalls on a new fd and a fresh mapping.
    unsafe {
        let fd = libc::memfd_create(c"sigbus-test".as_ptr(), libc::MFD_CLOEXEC);
        assert!(fd >= 0, "memfd_create");
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED, "mmap");
        (p.cast(), fd)
    }
}

/// An embedder's handler installed before the runtime is called for every
/// SIGBUS that is not the heap's (sent ones and real faults), and heap
/// faults keep being served.
fn child_embedder_handler() {
    // SAFETY: an SA_SIGINFO handler doing async-signal-safe work only.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = embedder_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        assert_eq!(libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()), 0);
    }
    let Some(rt) = sigbus_runtime(Duration::from_micros(200)) else {
        return;
    };
    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 20_000);
    stray_sigbus();
    stray_sigbus();
    assert_eq!(
        EMBEDDER_CALLS.load(Ordering::SeqCst),
        2,
        "sent SIGBUS chained"
    );
    assert!(walk_through_a_cycle(&mut m) > 0, "heap faults after");
    let (p, fd) = short_memfd_page();
    EMBEDDER_FD.store(fd, Ordering::SeqCst);
    // SAFETY: p maps one page; the first access raises SIGBUS, the
    // embedder's handler grows the file, the access repeats and succeeds.
    unsafe { p.write_volatile(42) };
    assert_eq!(
        EMBEDDER_CALLS.load(Ordering::SeqCst),
        3,
        "the fault chained"
    );
    assert!(
        walk_through_a_cycle(&mut m) > 0,
        "heap faults after a fault"
    );
    say("ok");
}

/// With SIGBUS ignored when the runtime starts, a sent SIGBUS is ignored;
/// a real fault outside the heap kills (the kernel does not let a fault
/// be ignored).
fn child_ignored() {
    // SAFETY: setting a disposition.
    unsafe { libc::signal(libc::SIGBUS, libc::SIG_IGN) };
    let Some(rt) = sigbus_runtime(Duration::from_micros(200)) else {
        return;
    };
    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 20_000);
    stray_sigbus();
    assert!(walk_through_a_cycle(&mut m) > 0);
    say("a sent SIGBUS was ignored");
    let (p, _fd) = short_memfd_page();
    // SAFETY: p maps one page of an empty file: SIGBUS.
    unsafe { p.write_volatile(42) };
    say("survived a fault outside the heap");
}

/// Maps an empty memfd over the heap page holding `addr`: an access there
/// then raises a SIGBUS that userfaultfd did not raise.
fn spoil_heap_page(addr: usize) {
    let page = addr & !4095;
    // SAFETY: replaces one page of the heap's mapping (the child dies on
    // the next access anyway) with a shared mapping of an empty file.
    unsafe {
        let fd = libc::memfd_create(c"spoiler".as_ptr(), libc::MFD_CLOEXEC);
        assert!(fd >= 0, "memfd_create");
        let p = libc::mmap(
            page as *mut libc::c_void,
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            0,
        );
        assert_eq!(p as usize, page, "mmap over the heap page");
    }
}

/// A SIGBUS in the heap that userfaultfd did not raise (the page's mapping
/// replaced by an empty file's) ends the process by SIGBUS with a message,
/// with no cycle in flight or on a page the cycle in flight installed.
fn child_outside(in_cycle: bool) {
    let Some(rt) = sigbus_runtime(Duration::from_millis(if in_cycle { 2 } else { 0 })) else {
        return;
    };
    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 20_000);
    m.collect().expect("collect");
    if !in_cycle {
        // Finishes the compaction in flight.
        m.verify().expect("verify");
    }
    let head = m.stack_get(0).as_object().expect("the head");
    let addr = head.addr() + 8;
    // The head is the newest node: the collector reaches its page last,
    // so in a cycle this first touch faults and installs it.
    let served = faults_served();
    // SAFETY: a live object's header word.
    let _ = unsafe { std::ptr::read_volatile(addr as *const u64) };
    if in_cycle {
        assert_eq!(faults_served() - served, 1, "the head's page was served");
    }
    spoil_heap_page(addr);
    say(&format!("touching {addr:#x}"));
    // SAFETY: the spoiled page: SIGBUS.
    let _ = unsafe { std::ptr::read_volatile(addr as *const u64) };
    say("survived");
}

/// Whether SIGBUS is blocked on this thread after applying `how` (with a
/// set holding SIGBUS) if given.
fn sigbus_blocked(how: Option<libc::c_int>) -> bool {
    // SAFETY: signal-mask calls on valid sets.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGBUS);
        let mut now: libc::sigset_t = std::mem::zeroed();
        if let Some(how) = how {
            assert_eq!(libc::pthread_sigmask(how, &set, std::ptr::null_mut()), 0);
        }
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut now),
            0
        );
        libc::sigismember(&now, libc::SIGBUS) == 1
    }
}

/// A thread that blocked SIGBUS registers a mutator and faults on the heap
/// during a cycle.
fn child_blocked_thread() {
    let Some(rt) = sigbus_runtime(Duration::from_micros(200)) else {
        return;
    };
    let faults = std::thread::scope(|s| {
        s.spawn(|| {
            assert!(sigbus_blocked(Some(libc::SIG_BLOCK)), "SIGBUS blocked");
            let mut m = rt.mutator().expect("mutator");
            build_list(&mut m, 20_000);
            // Without the unblocking, the first fault of this walk kills
            // the process by SIGBUS.
            let faults = walk_through_a_cycle(&mut m);
            assert!(!sigbus_blocked(None), "registering unblocked SIGBUS");
            faults
        })
        .join()
        .expect("mutator thread")
    });
    assert!(faults > 0, "the thread's faults were served");
    say(&format!("ok ({faults} faults)"));
}

#[test]
fn a_stray_sigbus_has_the_effect_it_has_without_the_runtime_and_heap_faults_keep_working() {
    let reference = run_child("std-handler-no-runtime");
    assert!(
        reference.killed_by(libc::SIGBUS)
            && reference.stdout.contains("survived the first")
            && !reference.stdout.contains("survived the second"),
        "without the runtime, std's handler swallows one SIGBUS and the \
         second kills: {}",
        reference.describe()
    );
    let ended = run_child("std-handler");
    if ended.skipped() {
        return;
    }
    assert!(
        ended.killed_by(libc::SIGBUS)
            && ended.stdout.contains("survived the first")
            && ended.stdout.contains("heap faults still served")
            && !ended.stdout.contains("survived the second"),
        "with the runtime: the same, and heap faults served in between: {}",
        ended.describe()
    );
}

#[test]
fn a_stray_sigbus_kills_when_the_disposition_was_the_default() {
    let ended = run_child("default-disposition");
    if ended.skipped() {
        return;
    }
    assert!(
        ended.killed_by(libc::SIGBUS)
            && ended.stdout.contains("heap faults served")
            && !ended.stdout.contains("survived"),
        "{}",
        ended.describe()
    );
}

#[test]
fn an_embedders_handler_gets_every_sigbus_that_is_not_the_heaps() {
    let ended = run_child("embedder-handler");
    if ended.skipped() {
        return;
    }
    assert!(
        ended.status.success() && ended.stdout.contains("ok"),
        "{}",
        ended.describe()
    );
}

#[test]
fn an_ignored_sigbus_stays_ignored_but_a_fault_outside_the_heap_kills() {
    let ended = run_child("ignored");
    if ended.skipped() {
        return;
    }
    assert!(
        ended.killed_by(libc::SIGBUS)
            && ended.stdout.contains("was ignored")
            && !ended.stdout.contains("survived"),
        "{}",
        ended.describe()
    );
}

/// The address the child touched, from its `touching 0x...` line.
fn touched(ended: &Ended) -> String {
    let line = ended
        .stdout
        .lines()
        .find_map(|l| l.split("touching ").nth(1))
        .unwrap_or_else(|| panic!("the child names the address: {}", ended.describe()));
    line.trim().to_string()
}

#[test]
fn a_heap_sigbus_userfaultfd_did_not_raise_ends_the_process_with_a_message() {
    for (role, reason) in [
        (
            "outside-no-cycle",
            "no compaction in flight covers the page",
        ),
        (
            "outside-in-cycle",
            "the page is installed, yet the access faults again",
        ),
    ] {
        let ended = run_child(role);
        if ended.skipped() {
            return;
        }
        let addr = touched(&ended);
        assert!(
            ended.killed_by(libc::SIGBUS)
                && !ended.stdout.contains("survived")
                && ended
                    .stderr
                    .contains(&format!("[gc] fatal: SIGBUS at {addr}"))
                && ended.stderr.contains(reason),
            "{role}: dies by SIGBUS naming {addr} and '{reason}': {}",
            ended.describe()
        );
    }
}

#[test]
fn a_thread_that_blocked_sigbus_can_register_and_fault() {
    let ended = run_child("blocked-thread");
    if ended.skipped() {
        return;
    }
    assert!(
        !ended.killed_by(libc::SIGBUS),
        "died by its first heap fault: {}",
        ended.describe()
    );
    assert!(
        ended.status.success() && ended.stdout.contains("ok ("),
        "{}",
        ended.describe()
    );
}

#[test]
fn the_handler_keeps_errno_and_runs_on_the_alternate_stack_with_room_to_spare() {
    let Some(rt) = sigbus_runtime(Duration::from_millis(1)) else {
        return;
    };
    // SAFETY: querying the disposition.
    let action = unsafe {
        let mut a: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut a), 0);
        a
    };
    assert_ne!(
        action.sa_flags & libc::SA_ONSTACK,
        0,
        "installed with SA_ONSTACK"
    );

    // This thread's alternate signal stack (std gives every thread one),
    // painted so that what the handler used shows.
    // SAFETY: querying the alternate stack.
    let stack = unsafe {
        let mut ss: libc::stack_t = std::mem::zeroed();
        assert_eq!(libc::sigaltstack(std::ptr::null(), &mut ss), 0);
        ss
    };
    let has_altstack = stack.ss_flags & libc::SS_DISABLE == 0;
    const PAINT: u8 = 0xa5;
    if has_altstack {
        // SAFETY: the stack is this thread's and unused outside handlers.
        unsafe { std::ptr::write_bytes(stack.ss_sp.cast::<u8>(), PAINT, stack.ss_size) };
    }

    let mut m = rt.mutator().expect("mutator");
    build_list(&mut m, 20_000);
    m.collect().expect("collect");
    let head = m.stack_get(0).as_object().expect("the head");
    let served = faults_served();
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() = 4242 };
    // SAFETY: a live object's header; its page is not installed yet (the
    // collector reaches the newest node last).
    let _ = unsafe { std::ptr::read_volatile(head.addr() as *const u64) };
    // SAFETY: this thread's errno.
    let errno = unsafe { *libc::__errno_location() };
    assert_eq!(faults_served() - served, 1, "the load faulted once");
    assert_eq!(errno, 4242, "errno survives the handler");
    // The rest of the walk: many faults, the deepest paths included.
    let faults = walk_through_a_cycle(&mut m);
    assert!(faults > 50, "the walk faulted ({faults})");

    if has_altstack {
        // SAFETY: reading the painted stack back.
        let bytes = unsafe { std::slice::from_raw_parts(stack.ss_sp.cast::<u8>(), stack.ss_size) };
        let untouched = bytes.iter().take_while(|&&b| b == PAINT).count();
        let used = stack.ss_size - untouched;
        eprintln!(
            "the SIGBUS handler used {used} of the {} bytes of the alternate stack",
            stack.ss_size
        );
        assert!(used > 0, "the handler ran on the alternate stack");
        assert!(
            used + 2048 <= stack.ss_size,
            "the handler needs {used} bytes: less than 2 KiB to spare on a {}-byte alternate stack",
            stack.ss_size
        );
    } else {
        eprintln!("no alternate signal stack on this thread: the stack check is skipped");
    }
}
