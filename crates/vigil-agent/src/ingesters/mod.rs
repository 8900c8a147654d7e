//! Ingester objects run by the agent: a source declared as data. The
//! controller watches them and starts, reconfigures and stops one runtime per
//! Ingester; the pure parts decide what each object means ([`compile`]),
//! which findings are new ([`findings`]), what is emitted ([`stage`]) and what
//! the status says ([`status`]).

pub mod compile;
pub mod controller;
pub mod findings;
pub mod pushed;
pub mod runtime;
pub mod stage;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod webhooks;

pub use compile::{compile, Compiled};
pub use controller::Controller;
