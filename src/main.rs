//! The `dpsynth` binary: a thin shell over the `dpsynth` library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap exits with 2 on usage errors and 0 for --help/--version.
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<cli::Failed>().is_none() {
                cli::output::write_err(format_args!("error: {e:#}\n"));
            }
            ExitCode::from(1)
        }
    }
}
