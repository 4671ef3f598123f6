//! Engine (owned by the sys/engine helper).
