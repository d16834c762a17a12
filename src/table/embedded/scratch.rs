//! For unit tests: an embedded table in a directory of its own under the system's temporary one, removed with
//! everything in it when dropped (also when the test fails).

use std::path::PathBuf;
use std::sync::Arc;

use super::EmbeddedTable;

pub struct Scratch {
    pub dir: PathBuf,
    pub table: Arc<EmbeddedTable>,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("photoshare-unit-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let table = Arc::new(EmbeddedTable::open(&dir.join("table.redb")).expect("a table"));
        Self { dir, table }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
