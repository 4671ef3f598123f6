//! Latency of installing pages directly with `UFFDIO_COPY`,
//! `UFFDIO_CONTINUE` and `UFFDIO_MOVE` (no fault, no thread hand-off): the
//! median time per 4 KiB page when one ioctl installs 1, 16 or 512 pages.
//!
//! Run: `cargo run --release -p uffd --example uffd_latency`
//!
//! Between timed calls the destination is emptied again (`MADV_DONTNEED`,
//! untimed) and, for MOVE, the source is repopulated (untimed). `move-thp`
//! makes the 512-page source one transparent huge page (`MADV_HUGEPAGE`,
//! both ranges 2 MiB-aligned), so the kernel can move a whole PMD.

use std::ptr;
use std::time::Instant;

use uffd::{InstallOutcome, OpenOptions, RegisterMode, UffdFeatures, UserFaultFd, PAGE_SIZE};

const RUN_LENGTHS: [usize; 3] = [1, 16, 512];
const MAX_PAGES: usize = 512;
const HUGE: usize = 2 << 20;

/// A 2 MiB-aligned mapping of `MAX_PAGES` pages.
struct Region {
    ptr: *mut u8,
    raw: *mut libc::c_void,
    raw_len: usize,
}

impl Region {
    fn new(fd: Option<libc::c_int>) -> Region {
        let len = MAX_PAGES * PAGE_SIZE;
        // Reserve with slack, then map the aligned part over it.
        let raw_len = len + HUGE;
        // SAFETY: a fresh reservation anywhere; overlaps nothing of ours.
        let raw = unsafe {
            libc::mmap(
                ptr::null_mut(),
                raw_len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(raw, libc::MAP_FAILED, "reserve");
        let aligned = (raw as usize).next_multiple_of(HUGE);
        let (flags, fd) = match fd {
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
            ),
            Some(fd) => (libc::MAP_SHARED | libc::MAP_FIXED, fd),
        };
        // SAFETY: MAP_FIXED inside our own reservation.
        let ptr = unsafe {
            libc::mmap(
                aligned as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "map");
        Region {
            ptr: ptr.cast(),
            raw,
            raw_len,
        }
    }

    fn zap(&self, pages: usize) {
        // SAFETY: our mapping; nothing references its contents.
        let ret = unsafe { libc::madvise(self.ptr.cast(), pages * PAGE_SIZE, libc::MADV_DONTNEED) };
        assert_eq!(ret, 0, "madvise(DONTNEED)");
    }

    fn fill(&self, pages: usize, byte: u8) {
        // SAFETY: our writable mapping.
        unsafe { ptr::write_bytes(self.ptr, byte, pages * PAGE_SIZE) };
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmapping our own reservation (and what was mapped in it).
        unsafe { libc::munmap(self.raw, self.raw_len) };
    }
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn reps(pages: usize) -> usize {
    if pages >= 512 {
        60
    } else {
        400
    }
}

/// Times `install(pages)` `reps(pages)` times, calling `reset(pages)`
/// (untimed) before each; returns the median µs per page.
fn measure(
    pages: usize,
    mut reset: impl FnMut(usize),
    mut install: impl FnMut(usize) -> InstallOutcome,
) -> f64 {
    let mut per_page = Vec::with_capacity(reps(pages));
    for _ in 0..reps(pages) {
        reset(pages);
        let start = Instant::now();
        let outcome = install(pages);
        let elapsed = start.elapsed();
        assert_eq!(
            outcome,
            InstallOutcome::Installed(pages * PAGE_SIZE),
            "install failed"
        );
        per_page.push(elapsed.as_secs_f64() * 1e6 / pages as f64);
    }
    median(&mut per_page)
}

fn open(options: OpenOptions) -> UserFaultFd {
    UserFaultFd::open(&options).unwrap_or_else(|e| panic!("open: {e}"))
}

fn main() {
    let features = UffdFeatures::probe();
    println!("{}", features.summary());
    if !features.is_available() {
        return;
    }
    let mut rows: Vec<(&str, [Option<f64>; 3])> = Vec::new();

    // COPY into a MISSING-registered anonymous range.
    {
        let uffd = open(OpenOptions::new());
        let dst = Region::new(None);
        let src = Region::new(None);
        src.fill(MAX_PAGES, 0xab);
        uffd.register(dst.ptr, MAX_PAGES * PAGE_SIZE, RegisterMode::Missing)
            .expect("register");
        let row = RUN_LENGTHS.map(|n| {
            Some(measure(
                n,
                |n| dst.zap(n),
                |n| {
                    uffd.copy(dst.ptr, src.ptr, n * PAGE_SIZE, true)
                        .expect("copy")
                },
            ))
        });
        rows.push(("copy", row));
    }

    // CONTINUE on a MINOR-registered memfd view, pages already in the cache.
    if features.minor_shmem && features.continues {
        let uffd = open(OpenOptions::new().minor_shmem(true));
        // SAFETY: NUL-terminated literal name.
        let fd = unsafe { libc::memfd_create(c"uffd-latency".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0, "memfd_create");
        assert_eq!(
            // SAFETY: our fd.
            unsafe { libc::ftruncate(fd, (MAX_PAGES * PAGE_SIZE) as libc::off_t) },
            0
        );
        let heap = Region::new(Some(fd));
        let view = Region::new(Some(fd));
        view.fill(MAX_PAGES, 0xcd);
        uffd.register(heap.ptr, MAX_PAGES * PAGE_SIZE, RegisterMode::Minor)
            .expect("register minor");
        let row = RUN_LENGTHS.map(|n| {
            Some(measure(
                n,
                |n| heap.zap(n),
                |n| {
                    uffd.r#continue(heap.ptr, n * PAGE_SIZE, true)
                        .expect("continue")
                },
            ))
        });
        rows.push(("continue", row));
        drop((heap, view));
        // SAFETY: closing our memfd after its mappings are gone.
        unsafe { libc::close(fd) };
    }

    // MOVE from a populated anonymous range into a MISSING-registered one.
    if features.moves {
        for (name, huge) in [("move", false), ("move-thp", true)] {
            let uffd = open(OpenOptions::new());
            let dst = Region::new(None);
            let src = Region::new(None);
            if huge {
                // SAFETY: advice on our own mapping.
                unsafe {
                    libc::madvise(src.ptr.cast(), MAX_PAGES * PAGE_SIZE, libc::MADV_HUGEPAGE)
                };
            }
            uffd.register(dst.ptr, MAX_PAGES * PAGE_SIZE, RegisterMode::Missing)
                .expect("register");
            let row = RUN_LENGTHS.map(|n| {
                if huge && n != MAX_PAGES {
                    return None;
                }
                Some(measure(
                    n,
                    |n| {
                        dst.zap(n);
                        src.fill(n, 0xef);
                    },
                    |n| {
                        // SAFETY: `src` is referenced only through raw pointers.
                        unsafe { uffd.r#move(dst.ptr, src.ptr, n * PAGE_SIZE, true, false) }
                            .expect("move")
                    },
                ))
            });
            rows.push((name, row));
        }
    }

    println!("median µs per 4 KiB page, by pages per ioctl:");
    println!("{:<10} {:>10} {:>10} {:>10}", "ioctl", "1", "16", "512");
    for (name, row) in rows {
        let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        println!(
            "{:<10} {:>10} {:>10} {:>10}",
            name,
            cell(row[0]),
            cell(row[1]),
            cell(row[2])
        );
    }
}
