//! Data problems on the operator's terminal: grouped, counted, values only on request
//! (issues #20 item 2 and #13 item 4). Everything here is PRIVATE to the operator.

use std::path::Path;

use anyhow::{anyhow, Error};
use clap::Args;

use dpsynth::data::{check_table_grouped, describe, DataError, ReadOptions};
use dpsynth::schema::Schema;

/// How data problems are shown.
#[derive(Args, Debug, Clone)]
pub struct ProblemArgs {
    /// Print the offending cell values in data problems (PRIVATE: the operator's choice;
    /// without it messages name the file, line and column only).
    #[arg(long)]
    pub show_values: bool,
    /// List at most this many distinct data problems (the rest are counted).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_problems: u64,
}

/// Turns a failed read into the error to report. A problem in the file's rows or header is
/// reported in full: the whole file is checked and every distinct problem listed on stderr,
/// grouped with counts. Other failures (cannot open, empty) are one message.
pub fn data_failure(
    e: DataError,
    path: &Path,
    schema: &Schema,
    opts: &ReadOptions,
    args: &ProblemArgs,
) -> Error {
    if e.line().is_none() {
        return anyhow!("{}", describe(&e, args.show_values));
    }
    let report = check_table_grouped(path, schema, opts);
    if report.is_empty() {
        return anyhow!("{}", describe(&e, args.show_values));
    }
    let (lines, n) = report.render(args.show_values, args.max_problems as usize);
    for line in lines {
        errln!("{line}");
    }
    anyhow!(
        "{}: {n} problem(s) in the data; fix them (or the schema) and run again",
        path.display()
    )
}
