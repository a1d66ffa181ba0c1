//! Helpers shared by the unit tests of every module (compiled only for tests; imports nothing
//! of ours, so any layer may use it).

/// A fresh private folder and the path of `name` inside it; the folder lives as long as the
/// returned guard.
pub(crate) fn scratch(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join(name);
    (dir, path)
}

/// [`scratch`], with `contents` written into the file.
pub(crate) fn scratch_with(name: &str, contents: impl AsRef<[u8]>) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, path) = scratch(name);
    std::fs::write(&path, contents).expect("a writable temporary file");
    (dir, path)
}
