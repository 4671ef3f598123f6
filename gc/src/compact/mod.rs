//! Compaction: post-compaction addresses, page computation and the
//! stop-the-world driver.

pub mod forwarding;
pub mod non_moving;
pub mod page;
pub mod stw;

pub use forwarding::{ForwardingPlan, PAGE_WORDS};
pub use page::PageComputer;
