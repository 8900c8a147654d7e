//! vigil's in-cluster agent (`vigil run`): Kubernetes sources feed the pure
//! pipeline through a bounded queue, the Observation writer creates what comes
//! out, and the admin server reports health and metrics.

pub mod agent;
pub mod checkpoint;
pub mod compliance;
pub mod config;
pub mod gc;
pub mod health;
pub mod ingesters;
pub mod leader;
pub mod metrics;
pub mod server;
pub mod sinks;
pub mod sources;
pub mod task;

pub use agent::{run, AgentError};
pub use config::{AgentConfig, ConfigError, Overrides, Settings};
