//! The heap API the VM is written against, in one place: the `runtime`
//! crate's values, references, mutator and builder.

pub use runtime::{
    parse_size, AllocError, ConfigError, Gc, GcError, GcStats, Mode, Mutator, RawValue, Runtime,
    Value,
};

/// An allocation request (`gc::AllocRequest`).
pub use runtime::AllocSpec;
