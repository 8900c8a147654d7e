//! Sinks only write. The Observation writer is at-least-once and idempotent:
//! names are deterministic, so a create answered 409 is a duplicate avoided.

pub mod observation_writer;
pub mod rate_limiter;
pub mod repeats;
