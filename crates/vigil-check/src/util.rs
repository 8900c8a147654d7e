//! Small pure helpers the checks and the config share: label selectors,
//! resource quantities, globs.

pub mod glob;
pub mod quantity;
pub mod selector;
