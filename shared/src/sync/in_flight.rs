//! HubSpot records the push lane is writing while the pull lane reads them back.
//!
//! The pull compares what it reads with what the push last stored (`drift`): a record whose
//! write is in flight, or landed after the pull's search was sent, may be read with one side
//! old and the other new, and would look edited by hand. Such records are left to the next
//! pass, which reads them again (their modification time is after this pass began).

use std::collections::HashMap;
use std::sync::Mutex;

/// Writes in flight and writes finished since the pull's current search began, by HubSpot id.
/// Only kept while a pull lane runs (a run without one pays nothing).
#[derive(Default)]
pub(crate) struct InFlight {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Whether a pull lane is reading; when not, nothing is kept.
    watching: bool,
    seq: u64,
    previous_mark: u64,
    writing: HashMap<String, u32>,
    /// Finished writes: the sequence number at which they finished.
    finished: HashMap<String, u64>,
}

/// A point in the push lane's writes, taken before a search is sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark(u64);

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts (`true`) or stops keeping track; stopping forgets everything.
    pub(crate) fn watch(&self, on: bool) {
        let mut i = self.lock();
        i.watching = on;
        if !on {
            i.writing.clear();
            i.finished.clear();
        }
    }

    /// Before a search. Writes that finished before the previous mark are forgotten: the pull
    /// has at most two pages in hand (one processed, the next being searched), and the older
    /// one's mark is the previous one.
    pub(crate) fn mark(&self) -> Mark {
        let mut i = self.lock();
        let m = i.seq;
        i.seq += 1;
        let before = i.previous_mark;
        i.finished.retain(|_, at| *at > before);
        i.previous_mark = m;
        Mark(m)
    }

    pub(crate) fn begin<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut i = self.lock();
        if i.watching {
            for id in ids {
                *i.writing.entry(id.to_string()).or_default() += 1;
            }
        }
    }

    /// After the write and its stored state.
    pub(crate) fn end<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut i = self.lock();
        if !i.watching {
            return;
        }
        let at = i.seq;
        for id in ids {
            if let Some(n) = i.writing.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    i.writing.remove(id);
                }
            }
            i.finished.insert(id.to_string(), at);
        }
    }

    /// Whether HubSpot record `id` was being written, or finished, after `mark`.
    pub(crate) fn touched_since(&self, id: &str, mark: Mark) -> bool {
        let i = self.lock();
        i.writing.contains_key(id) || i.finished.get(id).is_some_and(|at| *at > mark.0)
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;

    #[test]
    fn writes_around_a_search_are_left_to_the_next_pass() {
        let f = InFlight::default();
        f.watch(true);
        f.begin(["1", "2"]);
        f.end(["1"]);
        let m = f.mark();
        // "1" finished before the search: its state and HubSpot agree.
        assert!(!f.touched_since("1", m));
        // "2" is still being written.
        assert!(f.touched_since("2", m));
        f.begin(["3"]);
        f.end(["2", "3"]);
        assert!(f.touched_since("3", m) && f.touched_since("2", m));
        let later = f.mark();
        assert!(!f.touched_since("3", later));
        // Still known for the page searched before `later`, which may be in hand.
        assert!(f.touched_since("3", m));
        f.watch(false);
        f.begin(["4"]);
        assert!(!f.touched_since("4", later));
    }
}
