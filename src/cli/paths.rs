use std::path::{Path, PathBuf};

use super::Global;

/// `--data-dir` (or DEPLOYFLOW_DATA_DIR), else `.deployflow/` beside the config.
pub fn data_dir(global: &Global) -> PathBuf {
    if let Some(dir) = &global.data_dir {
        return dir.clone();
    }
    let beside = global.config.parent().unwrap_or(Path::new(""));
    let beside = if beside.as_os_str().is_empty() {
        Path::new(".")
    } else {
        beside
    };
    beside.join(".deployflow")
}
