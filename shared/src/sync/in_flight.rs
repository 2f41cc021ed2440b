//! HubSpot records the push lane is writing while the pull lane reads them back.
//!
//! The pull compares what it reads with what the push last stored (`drift`): a record whose
//! write is in flight, or landed after the pull's search was sent, may be read with one side
//! old and the other new, and would look edited by hand. Such records are left to the next
//! pass, which reads them again (their modification time is after this pass began).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

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
    /// Marks still held (pages searched and not yet checked), with how many hold each.
    live: BTreeMap<u64, u32>,
    writing: HashMap<String, u32>,
    /// Finished writes: the sequence number at which they finished.
    finished: HashMap<String, u64>,
}

/// A point in the push lane's writes, taken before a search is sent and held until its page
/// is checked: writes finished after the oldest mark still held are remembered, however many
/// pages the pull lanes have in hand.
pub(crate) struct Mark {
    seq: u64,
    owner: Arc<InFlight>,
}

impl Drop for Mark {
    fn drop(&mut self) {
        let mut i = self.owner.lock();
        if let Some(n) = i.live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                i.live.remove(&self.seq);
            }
        }
        i.forget_unneeded();
    }
}

impl Inner {
    /// Finished writes no held mark can ask about (each finished at or before every one).
    fn forget_unneeded(&mut self) {
        match self.live.keys().next().copied() {
            Some(oldest) => self.finished.retain(|_, at| *at > oldest),
            None => self.finished.clear(),
        }
    }
}

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

    /// Before a search; the page's check holds the mark (see [`Mark`]).
    pub(crate) fn mark(self: &Arc<Self>) -> Mark {
        let mut i = self.lock();
        let seq = i.seq;
        i.seq += 1;
        *i.live.entry(seq).or_default() += 1;
        i.forget_unneeded();
        Mark {
            seq,
            owner: Arc::clone(self),
        }
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
            // Only a page searched before now can ask (a later mark's number is at least
            // `at`).
            if !i.live.is_empty() {
                i.finished.insert(id.to_string(), at);
            }
        }
    }

    /// Whether HubSpot record `id` was being written, or finished, after `mark`.
    pub(crate) fn touched_since(&self, id: &str, mark: &Mark) -> bool {
        let i = self.lock();
        i.writing.contains_key(id) || i.finished.get(id).is_some_and(|at| *at > mark.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;
    use std::sync::Arc;

    #[test]
    fn writes_around_a_search_are_left_to_the_next_pass() {
        let f = Arc::new(InFlight::default());
        f.watch(true);
        f.begin(["1", "2"]);
        f.end(["1"]);
        let m = f.mark();
        // "1" finished before the search: its state and HubSpot agree.
        assert!(!f.touched_since("1", &m));
        // "2" is still being written.
        assert!(f.touched_since("2", &m));
        f.begin(["3"]);
        f.end(["2", "3"]);
        assert!(f.touched_since("3", &m) && f.touched_since("2", &m));
        let later = f.mark();
        assert!(!f.touched_since("3", &later));
        // Still known for the page searched before `later`, which is still in hand.
        assert!(f.touched_since("3", &m));
        f.watch(false);
        f.begin(["4"]);
        assert!(!f.touched_since("4", &later));
    }

    /// The pull searches several pages ahead (and two pull lanes take marks side by side): a
    /// write that finished after the oldest page in hand was searched is still known when that
    /// page is checked, and forgotten once no page in hand can ask.
    #[test]
    fn every_page_in_hand_sees_the_writes_after_its_search() {
        let f = Arc::new(InFlight::default());
        f.watch(true);
        let oldest = f.mark();
        f.begin(["5"]);
        f.end(["5"]);
        let ahead: Vec<_> = (0..6).map(|_| f.mark()).collect();
        assert!(f.touched_since("5", &oldest));
        assert!(!f.touched_since("5", &ahead[0]));
        drop(oldest);
        assert!(
            f.lock().finished.is_empty(),
            "no page in hand can ask about 5"
        );
        drop(ahead);
        f.begin(["6"]);
        f.end(["6"]);
        assert!(f.lock().finished.is_empty(), "nothing held: nothing kept");
    }
}
