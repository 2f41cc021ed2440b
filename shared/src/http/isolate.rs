//! Sending a batch so that one bad input cannot sink the others.
//!
//! HubSpot answers some problems of a single input with a 400 (or 409) for the whole batch
//! instead of a 207 naming the input: duplicate ids ("Duplicate IDs found in batch input"), an
//! invalid e-mail (`INVALID_EMAIL`), an existing contact on create ("Contact already exists")
//! (hubspot.md §3, §8 pitfalls 3-5). Splitting the refused batch in halves until the culprit
//! stands alone costs about 2·log2(n) extra calls per culprit and lands everything else.

use std::future::Future;
use std::hash::Hash;

/// What [`send_isolating`] did: the answers of the chunks that went through, and the inputs
/// that were refused on their own, each with the error that refused it.
#[derive(Debug)]
pub struct Isolated<T, O, E> {
    pub answers: Vec<O>,
    pub culprits: Vec<(T, E)>,
}

/// Sends `items` in chunks of at most `limit`. A chunk refused with an error for which
/// `isolatable` holds is split in two and each half sent again, down to single inputs, which
/// are then reported as culprits. Any other error ends the whole call.
pub async fn send_isolating<T, O, E, F, Fut>(
    items: Vec<T>,
    limit: usize,
    mut send: F,
    isolatable: impl Fn(&E) -> bool,
) -> Result<Isolated<T, O, E>, E>
where
    T: Clone,
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Result<O, E>>,
{
    let mut stack: Vec<Vec<T>> = items
        .chunks(limit.max(1))
        .rev()
        .map(<[T]>::to_vec)
        .collect();
    let mut out = Isolated {
        answers: Vec::new(),
        culprits: Vec::new(),
    };
    while let Some(mut chunk) = stack.pop() {
        match send(chunk.clone()).await {
            Ok(o) => out.answers.push(o),
            Err(e) if isolatable(&e) => {
                if chunk.len() == 1 {
                    out.culprits.extend(chunk.pop().map(|t| (t, e)));
                } else {
                    let right = chunk.split_off(chunk.len() / 2);
                    stack.push(right);
                    stack.push(chunk);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Splits `items` into the first input for each key and the later ones that repeat a key:
/// no batch may hold two inputs for one object (HubSpot refuses the whole batch).
pub fn first_per_key<T, K: Hash + Eq>(items: Vec<T>, key: impl Fn(&T) -> K) -> (Vec<T>, Vec<T>) {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().partition(|t| seen.insert(key(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_bad_input_is_isolated_and_the_rest_lands() {
        let items: Vec<u32> = (0..250).collect();
        let mut calls = 0;
        let out = send_isolating(
            items,
            100,
            |chunk: Vec<u32>| {
                calls += 1;
                async move {
                    if chunk.contains(&137) {
                        Err("bad")
                    } else {
                        Ok(chunk.len())
                    }
                }
            },
            |_| true,
        )
        .await
        .unwrap();
        assert_eq!(out.culprits, vec![(137, "bad")]);
        assert_eq!(out.answers.iter().sum::<usize>(), 249);
        // 3 chunks, then 2 calls per halving of the bad one: 100 → 50 → 25 → 13 → 6 → 3 → 1.
        assert_eq!(calls, 3 + 2 * 6);
    }

    #[tokio::test]
    async fn other_errors_stop_the_call() {
        let out = send_isolating(
            vec![1, 2, 3],
            2,
            |_c: Vec<u32>| async { Err::<(), _>("outage") },
            |e| *e != "outage",
        )
        .await;
        assert_eq!(out.unwrap_err(), "outage");
    }

    #[test]
    fn later_duplicates_are_split_off() {
        let (first, dup) = first_per_key(vec![("a", 1), ("b", 2), ("a", 3)], |t| t.0);
        assert_eq!(first, vec![("a", 1), ("b", 2)]);
        assert_eq!(dup, vec![("a", 3)]);
    }
}
