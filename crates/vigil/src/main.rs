//! The `vigil` binary: one command line over every mode. Process plumbing
//! (arguments, exit codes, output) lives here; the work lives in the crates.

mod agent_cmd;
mod check_cmd;
mod cli;
mod replay_cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
