//! What a pull or a `layer add` tells whoever waits for it: the crate
//! never prints, the command line draws bars and a server logs.

use std::io::Read;

use crate::store::{Store, TakeBack};

// ANCHOR: progress
/// What a pull tells whoever waits for it. This crate never prints: the
/// command line draws a bar per layer (or says nothing), a server logs.
pub trait Progress {
    /// One step done: "layer 3f4a5b6c7d8e: 2.1 MiB unpacked".
    fn note(&self, text: &str);
    /// Something the user must hear even when steps are not shown: "the
    /// image is for linux/arm64, this machine is linux/amd64".
    fn warn(&self, text: &str);
    /// `body`, a download of `length` bytes if known, wrapped in a reader
    /// that shows how far it has come.
    fn track<'a>(&self, body: Box<dyn Read + 'a>, label: &str, length: Option<u64>) -> Box<dyn Read + 'a>;
}
// ANCHOR_END: progress

/// After a refusal: take back what `what` (this pull, a `layer add`)
/// stored, or say why some of it stays.
pub(crate) fn take_back(store: &Store, what: &str, progress: &dyn Progress) {
    match store.take_back() {
        TakeBack::Done => {}
        TakeBack::Deferred => {
            progress.warn(&format!("the store is in use: what {what} stored stays until `step7 prune`"))
        }
        TakeBack::Failed(err) => progress.warn(&format!("{err:#}: `step7 prune` removes what {what} stored")),
    }
}
