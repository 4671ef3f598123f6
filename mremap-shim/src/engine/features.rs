//! What the running kernel supports, probed once per process.
//!
//! The probe issues small requests inside its own PROT_NONE reservation
//! (never at an address it did not map itself) and reads the answers:
//! success means supported, the errno the older kernels give (EINVAL for
//! DONTUNMAP and unknown flags, EFAULT for a range past the VMA's end)
//! means not.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::OnceLock;

use crate::model::{KernelModel, MREMAP_RELOCATE_ANON};
use crate::sys::{
    self, MapFlags, ProtFlags, SysError, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE,
};

/// Kernel capabilities the engine relies on or falls back from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelFeatures {
    /// `uname -r`.
    pub release: String,
    /// `MREMAP_DONTUNMAP` on private anonymous memory (5.7+).
    pub dontunmap_anon: bool,
    /// `MREMAP_DONTUNMAP` on shared (memfd) mappings (5.13+).
    pub dontunmap_shared: bool,
    /// `MREMAP_FIXED` same-size moves spanning several VMAs (6.17+).
    pub multi_vma_move: bool,
    /// `MREMAP_RELOCATE_ANON` (flag bit 8) is accepted (proposed 2025, not merged in 6.18).
    pub relocate_anon: bool,
    /// `old_len == 0` duplicates a shared mapping (engine addition: the
    /// mirror falls back to a second mmap of the memfd without it).
    pub mirror_shared: bool,
}

impl KernelFeatures {
    /// One line for logs, e.g. "kernel 6.18.44: DONTUNMAP anon+shared, multi-VMA move, mirror; no RELOCATE_ANON".
    pub fn summary(&self) -> String {
        let yes_no = |b: bool, s: &str| if b { s.to_string() } else { format!("no {s}") };
        format!(
            "kernel {}: {}, {}, {}, {}, {}",
            self.release,
            yes_no(self.dontunmap_anon, "DONTUNMAP anon"),
            yes_no(self.dontunmap_shared, "DONTUNMAP shared"),
            yes_no(self.multi_vma_move, "multi-VMA move"),
            yes_no(self.mirror_shared, "old_len==0 mirror"),
            yes_no(self.relocate_anon, "RELOCATE_ANON"),
        )
    }

    /// The model switches that make the model behave like this kernel.
    pub fn kernel_model(&self) -> KernelModel {
        KernelModel {
            multi_vma_move: self.multi_vma_move,
            relocate_anon_accepted: self.relocate_anon,
            dontunmap_shared: self.dontunmap_shared,
        }
    }
}

/// The cached probe (run at most once per process).
pub(crate) fn probe_once() -> Result<&'static KernelFeatures, SysError> {
    static PROBE: OnceLock<Result<KernelFeatures, SysError>> = OnceLock::new();
    PROBE.get_or_init(probe).as_ref().map_err(|e| *e)
}

/// Pages in the probe's private reservation.
const PROBE_PAGES: usize = 16;

fn probe() -> Result<KernelFeatures, SysError> {
    let page = sys::page_size();
    let base = sys::mmap_anon(
        0,
        PROBE_PAGES * page,
        ProtFlags::PROT_NONE,
        MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
    )?;
    let p = |i: usize| base + i * page;
    let result = probe_in(p, page);
    // Best effort: a failed unmap of our own probe range only leaks it
    // (a library prints nothing).
    let _ = sys::munmap(base, PROBE_PAGES * page);
    result
}

fn probe_in(p: impl Fn(usize) -> usize, page: usize) -> Result<KernelFeatures, SysError> {
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let fixed_private = MapFlags::MAP_PRIVATE | MapFlags::MAP_FIXED;
    let move_fixed = MREMAP_MAYMOVE | MREMAP_FIXED;

    // DONTUNMAP of a populated private anonymous range: pages 0-1 -> 4-5.
    sys::mmap_anon(p(0), 2 * page, rw, fixed_private)?;
    // SAFETY: page 0 was just mapped private RW by this function; nothing
    // else refers to the probe reservation.
    unsafe { sys::memory::write_u64(p(0), 1) };
    let dontunmap_anon = sys::mremap(
        p(0),
        2 * page,
        2 * page,
        move_fixed | MREMAP_DONTUNMAP,
        p(4),
    )
    .is_ok();

    // RELOCATE_ANON: a same-size no-op carrying bit 8 (EINVAL = unknown flag).
    let relocate_anon = sys::mremap(
        p(0),
        page,
        page,
        MREMAP_MAYMOVE | MREMAP_RELOCATE_ANON as usize,
        0,
    )
    .is_ok();

    // Multi-VMA move: pages 8 (RW) and 9 (R) are two VMAs; move both to 12-13.
    sys::mmap_anon(p(8), page, rw, fixed_private)?;
    sys::mmap_anon(p(9), page, ProtFlags::PROT_READ, fixed_private)?;
    let multi_vma_move = sys::mremap(p(8), 2 * page, 2 * page, move_fixed, p(12)).is_ok();

    // Shared: a two-page memfd at pages 0-1; DONTUNMAP it to 4-5, mirror it at 10-11.
    let (dontunmap_shared, mirror_shared) =
        match sys::create_memfd("mremap-shim-probe", 2 * page as u64) {
            Ok(fd) => {
                sys::mmap_fd(
                    p(0),
                    2 * page,
                    rw,
                    MapFlags::MAP_SHARED | MapFlags::MAP_FIXED,
                    fd.as_fd(),
                    0,
                )?;
                let dontunmap = sys::mremap(
                    p(0),
                    2 * page,
                    2 * page,
                    move_fixed | MREMAP_DONTUNMAP,
                    p(4),
                )
                .is_ok();
                let mirror = sys::mremap(p(0), 0, 2 * page, move_fixed, p(10)).is_ok();
                (dontunmap, mirror)
            }
            Err(_) => (false, false),
        };

    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_string());
    Ok(KernelFeatures {
        release,
        dontunmap_anon,
        dontunmap_shared,
        multi_vma_move,
        relocate_anon,
        mirror_shared,
    })
}

/// What trying the collector's flip just now found, per kind of space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlipProbe {
    /// `MREMAP_DONTUNMAP` of a populated private anonymous page (the moving
    /// space's flip).
    pub anon: Result<(), SysError>,
    /// `MREMAP_DONTUNMAP` of a shared mapping of the memfd given (the
    /// non-moving space's flip to its second view).
    pub shared: Result<(), SysError>,
}

/// Tries the collector's flip on scratch mappings now: a DONTUNMAP
/// `mremap` of one private anonymous page and of one shared page of
/// `memfd` (mapped at offset 0, read-only, nothing written). Unlike
/// [`KernelFeatures`], probed once per process, this sees what changed
/// since: a seccomp filter denying `mremap`, a lower `vm.max_map_count`.
/// `Err` only if the scratch reservation cannot be mapped.
pub fn probe_flips(memfd: BorrowedFd<'_>) -> Result<FlipProbe, SysError> {
    let page = sys::page_size();
    let base = sys::mmap_anon(
        0,
        4 * page,
        ProtFlags::PROT_NONE,
        MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
    )?;
    let p = |i: usize| base + i * page;
    let flip = |from: usize, to: usize| {
        let flags = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;
        sys::mremap(from, page, page, flags, to).map(drop)
    };
    let fixed = MapFlags::MAP_FIXED;
    let anon = sys::mmap_anon(
        p(0),
        page,
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        MapFlags::MAP_PRIVATE | fixed,
    )
    .and_then(|_| {
        // SAFETY: page 0 was just mapped private RW here; nothing else
        // refers to the scratch reservation.
        unsafe { sys::memory::write_u64(p(0), 1) };
        flip(p(0), p(1))
    });
    let shared = sys::mmap_fd(
        p(2),
        page,
        ProtFlags::PROT_READ,
        MapFlags::MAP_SHARED | fixed,
        memfd,
        0,
    )
    .and_then(|_| flip(p(2), p(3)));
    // Best effort: a failed unmap of the scratch range only leaks it.
    let _ = sys::munmap(base, 4 * page);
    Ok(FlipProbe { anon, shared })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_flips_work_here_and_the_memfd_keeps_its_contents() {
        let fd = sys::create_memfd("probe-test", 4096).expect("memfd");
        let probe = probe_flips(fd.as_fd()).expect("scratch reservation");
        let features = probe_once().expect("kernel probe");
        // Where the cached probe found DONTUNMAP, the fresh one does too.
        assert_eq!(probe.anon.is_ok(), features.dontunmap_anon, "{probe:?}");
        assert_eq!(probe.shared.is_ok(), features.dontunmap_shared, "{probe:?}");
        let st = nix::sys::stat::fstat(fd.as_fd()).expect("fstat");
        assert_eq!(st.st_size, 4096, "the probe does not resize the memfd");
    }
}
