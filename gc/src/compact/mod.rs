//! Compaction: post-compaction addresses, page computation, the
//! stop-the-world driver and the concurrent (userfaultfd) compactor.

pub mod concurrent;
pub mod forwarding;
pub mod non_moving;
pub mod page;
pub mod stw;
pub mod young;

pub use forwarding::{ForwardingPlan, PAGE_WORDS};
pub use page::PageComputer;
