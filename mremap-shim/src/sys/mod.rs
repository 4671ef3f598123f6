//! Real backend (owned by the sys/engine helper).
