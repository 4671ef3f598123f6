//! Errors of the collector.

use mremap_shim::engine::EngineError;

/// Errors from building or growing the heap.
#[derive(Debug, thiserror::Error)]
pub enum HeapError {
    /// A configuration value is out of range.
    #[error("invalid heap configuration: {0}")]
    Config(String),
    /// The address-space engine refused or failed a request.
    #[error("address-space operation failed: {0}")]
    Engine(#[from] EngineError),
    /// A side table (mark bitmaps, the forwarding plan's chunk table) could
    /// not be mapped.
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
