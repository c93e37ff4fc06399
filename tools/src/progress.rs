//! Progress bars for long builds (indicatif); indicatif hides them when stderr is not a terminal.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kefu_engine::index::Stage;
use std::sync::OnceLock;

/// One bar per build stage, shown when the stage first reports.
pub struct Bars {
    multi: MultiProgress,
    bars: [OnceLock<ProgressBar>; 3],
}

impl Bars {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
            bars: Default::default(),
        }
    }

    fn bar(&self, stage: Stage) -> &ProgressBar {
        let (slot, name) = match stage {
            Stage::Embed => (0, "embed"),
            Stage::Insert => (1, "graph"),
            Stage::Write => (2, "write"),
        };
        self.bars[slot].get_or_init(|| {
            let style =
                ProgressStyle::with_template("{prefix:>6} [{bar:40}] {pos}/{len} {per_sec} ETA {eta}")
                    .expect("static template")
                    .progress_chars("=> ");
            let b = self.multi.add(ProgressBar::new(0));
            b.set_style(style);
            b.set_prefix(name);
            b
        })
    }

    /// The callback the engine's build functions report to.
    pub fn callback(&self) -> impl Fn(Stage, u64, u64) + Sync + '_ {
        move |stage, done, total| {
            let b = self.bar(stage);
            b.set_length(total);
            b.set_position(done);
        }
    }

    pub fn finish(&self) {
        for b in self.bars.iter().filter_map(OnceLock::get) {
            b.finish_and_clear();
        }
    }
}
