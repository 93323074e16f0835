//! Progress bars on stderr (hidden when stderr is not a terminal). They show no elapsed
//! time unless `--timings` asked for it: time spent counting grows with the private row
//! count (issue #13 item 3).

use std::cell::RefCell;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use dpsynth::mechanism::Progress;

pub struct Bars {
    bar: RefCell<Option<ProgressBar>>,
    quiet: bool,
    timings: bool,
}

impl Bars {
    pub fn new(quiet: bool, timings: bool) -> Self {
        Bars {
            bar: RefCell::new(None),
            quiet,
            timings,
        }
    }
}

impl Progress for Bars {
    fn start(&self, phase: &str, steps: usize) {
        let target = if self.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(steps as u64), target);
        bar.set_style(
            ProgressStyle::with_template(if self.timings {
                "{prefix:>28} [{bar:30}] {pos}/{len} {elapsed:>4} {msg}"
            } else {
                "{prefix:>28} [{bar:30}] {pos}/{len} {msg}"
            })
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(phase.to_string());
        *self.bar.borrow_mut() = Some(bar);
    }

    fn inc(&self) {
        if let Some(b) = self.bar.borrow().as_ref() {
            b.inc(1);
        }
    }

    fn message(&self, msg: &str) {
        if let Some(b) = self.bar.borrow().as_ref() {
            b.set_message(msg.to_string());
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.borrow_mut().take() {
            b.finish_and_clear();
        }
    }
}
