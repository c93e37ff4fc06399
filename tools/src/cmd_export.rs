//! `kefu export`: an index's vectors as a `.npy` file, so other search libraries can
//! be measured on exactly the vectors kefu searches (`make bench-peers`).

use crate::npy;
use anyhow::{Context, Result};
use kefu_engine::index::Index;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Index root or version directory.
    dir: PathBuf,
    /// Output `.npy` file: float32, one row per point, row i is point i (unit length).
    #[arg(long)]
    out: PathBuf,
    /// Also write a JSON array whose i-th string is the article id of row i.
    #[arg(long, value_name = "FILE.json")]
    ids: Option<PathBuf>,
}

pub fn run(a: ExportArgs) -> Result<ExitCode> {
    let index = Index::open(&a.dir)?;
    let v = index.vectors();
    npy::write_f32(&a.out, v.data, v.dim)?;
    if let Some(path) = &a.ids {
        // Articles are read once each, however many points they own.
        let names: Vec<String> = (0..index.article_count() as u32)
            .map(|i| index.article(i).map(|art| art.id))
            .collect::<Result<_, _>>()?;
        let ids: Vec<&str> = index
            .point_article()
            .iter()
            .map(|&i| {
                names
                    .get(i as usize)
                    .map(String::as_str)
                    .context("point names no article")
            })
            .collect::<Result<_>>()?;
        std::fs::write(path, serde_json::to_vec(&ids)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    println!(
        "wrote {} × {} f32 from {} to {}",
        v.len(),
        v.dim,
        index.dir().display(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
