//! The sizes of x86-64 memory management, in bytes, shared by every crate
//! of the workspace: the base page, and the spans one PMD and one PUD entry
//! map (what the kernel's page-table moves work in). The model's `u64`
//! constants ([`crate::model::PAGE_SIZE`], ...) are these.

/// Bytes of a base page.
pub const PAGE_SIZE: usize = 4096;
/// Bytes one PMD entry maps (a huge page).
pub const PMD_SIZE: usize = 2 << 20;
/// Bytes one PUD entry maps.
pub const PUD_SIZE: usize = 1 << 30;
