//! Compaction: post-compaction addresses ([`forwarding`]), page computation
//! ([`page`]), the non-moving space's update and sweep ([`non_moving`]), the
//! stop-the-world driver ([`stw`]) and the mechanics of concurrent
//! compaction with userfaultfd ([`concurrent`]).

pub mod concurrent;
pub mod forwarding;
pub mod non_moving;
pub mod page;
pub mod recycle;
pub mod stw;
pub mod young;

pub use forwarding::{ForwardingPlan, PlanTables, PAGE_WORDS};
pub use page::PageComputer;
