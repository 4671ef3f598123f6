//! Errors of the collector.

use mremap_shim::engine::EngineError;

/// Errors from building or growing the heap.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeapError {
    /// A configuration value is out of range.
    #[error("invalid heap configuration: {0}")]
    Config(String),
    /// The address-space engine refused or failed a request.
    #[error("address-space operation failed: {0}")]
    Engine(#[from] EngineError),
    /// Creating the heap ran out of address space (typically the process's
    /// address-space limit, `RLIMIT_AS`).
    #[error(
        "the heap reserves address space: a heap limit of {} needs {} of it (four regions \
         of the limit's size, and side tables), and mapping {what} failed: {source}; is the \
         address-space limit (RLIMIT_AS, `ulimit -v`) lower?",
        mib(*limit),
        mib(*needed)
    )]
    AddressSpace {
        /// What could not be mapped.
        what: &'static str,
        /// The configured heap limit.
        limit: usize,
        /// Bytes of address space a heap of this limit maps when created
        /// ([`crate::heap::Layout::address_space_bytes`]).
        needed: usize,
        /// The failed request.
        source: EngineError,
    },
    /// A side table made during a cycle (the forwarding plan's chunk
    /// table) could not be mapped; at the heap's creation such a failure is
    /// [`HeapError::AddressSpace`].
    #[error("mapping a side table failed: {0}")]
    SideTable(#[source] mremap_shim::sys::SysError),
    /// The object can never fit (header fields or heap limit).
    #[error("object too large: {slots} slots and {bytes} raw bytes")]
    TooLarge {
        /// Requested slots.
        slots: u32,
        /// Requested raw bytes.
        bytes: usize,
    },
}

/// `bytes` in MiB, with a decimal where it is not whole.
fn mib(bytes: usize) -> String {
    let m = bytes as f64 / (1 << 20) as f64;
    if bytes.is_multiple_of(1 << 20) {
        format!("{m:.0} MiB")
    } else {
        format!("{m:.1} MiB")
    }
}
