//! The heap API the VM is written against, in one place: the `gc` crate's
//! value and object types and the `runtime` crate's mutator and builder.

pub use runtime::{
    parse_size, ConfigError, GcError, GcStats, Mode, Mutator, ObjRef, OutOfMemory, Runtime, Value,
};

/// An allocation request (`gc::AllocRequest`).
pub use runtime::AllocSpec;
