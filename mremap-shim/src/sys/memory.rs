//! Volatile loads and stores of one `u64` at a raw address: how tests and
//! probes touch pages without forming references into memory whose mapping
//! changes underneath them.

/// Store `value` at `addr` with a volatile write (faults the page in).
///
/// # Safety
/// 1. `addr` is 8-byte aligned and lies in a mapping that is writable now.
/// 2. No Rust reference to those 8 bytes is live (other threads may race
///    only through these same volatile accessors or the kernel).
pub unsafe fn write_u64(addr: usize, value: u64) {
    // SAFETY: the caller guarantees (1) and (2).
    unsafe { std::ptr::write_volatile(addr as *mut u64, value) }
}

/// Load the `u64` at `addr` with a volatile read (faults the page in).
///
/// # Safety
/// 1. `addr` is 8-byte aligned and lies in a mapping that is readable now.
/// 2. No Rust `&mut` to those 8 bytes is live.
pub unsafe fn read_u64(addr: usize) -> u64 {
    // SAFETY: the caller guarantees (1) and (2).
    unsafe { std::ptr::read_volatile(addr as *const u64) }
}
