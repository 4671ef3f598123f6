//! The remembered set of generational collection: which old slots may hold
//! references into the young generation.
//!
//! - [`card`]: the card table the write barrier dirties.

pub mod card;

pub use card::{CardTable, CARD_BYTES, CARD_SHIFT};
