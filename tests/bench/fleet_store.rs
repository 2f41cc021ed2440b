//! The fleet's DynamoDB picture: capacity units per partition key and per second, and the
//! largest item as the DynamoDB adapter would store it, filled by [`CountingStore`]s.
//!
//! [`CountingStore`]: crate::counting_store::CountingStore

use shared::store::Item;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Units one partition key took, by second since the fleet started.
#[derive(Default)]
pub struct Partition {
    pub read_units: u64,
    pub write_units: u64,
    pub by_second: HashMap<u64, (u64, u64)>,
}

pub struct Largest {
    pub bytes: usize,
    pub sk: String,
}

pub struct Ledger {
    started: Instant,
    pub partitions: Mutex<HashMap<String, Partition>>,
    pub largest: Mutex<Largest>,
}

impl Ledger {
    pub fn new() -> Arc<Ledger> {
        Arc::new(Ledger {
            started: Instant::now(),
            partitions: Mutex::new(HashMap::new()),
            largest: Mutex::new(Largest {
                bytes: 0,
                sk: String::new(),
            }),
        })
    }

    pub fn add(&self, pk: &str, read: u64, write: u64) {
        let sec = self.started.elapsed().as_secs();
        let mut parts = self.partitions.lock().unwrap();
        let p = parts.entry(pk.to_string()).or_default();
        p.read_units += read;
        p.write_units += write;
        let s = p.by_second.entry(sec).or_default();
        s.0 += read;
        s.1 += write;
    }

    pub fn saw(&self, item: &Item) {
        let bytes = crate::counting_store::item_bytes(item);
        let mut l = self.largest.lock().unwrap();
        if bytes > l.bytes {
            *l = Largest {
                bytes,
                sk: item.sk.clone(),
            };
        }
    }
}
