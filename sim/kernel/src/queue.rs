//! The event queue: ordered by time, then by insertion, so equal times resolve the same way on
//! every run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::time::Nanos;

/// What the heap orders: small and `Copy`, so sifting moves 24 bytes, not whole events.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    at: Nanos,
    seq: u64,
    slot: u32,
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A time-ordered queue with FIFO tie-breaking. Events live in a slab; the heap holds keys.
pub(crate) struct EventQueue<E> {
    heap: BinaryHeap<Key>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> EventQueue<E> {
    pub(crate) fn new() -> Self {
        EventQueue { heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), seq: 0 }
    }
    pub(crate) fn push(&mut self, at: Nanos, event: E) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(event);
                i
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Key { at, seq: self.seq, slot });
    }
    pub(crate) fn peek_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|k| k.at)
    }
    /// Pops the earliest event if it is due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Nanos) -> Option<(Nanos, E)> {
        if self.heap.peek()?.at > now {
            return None;
        }
        let key = self.heap.pop().expect("peeked");
        let event = self.slots[key.slot as usize].take().expect("a queued key has its event");
        self.free.push(key.slot);
        Some((key.at, event))
    }
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_fifo() {
        let mut q = EventQueue::new();
        q.push(5, "b");
        q.push(3, "a");
        q.push(5, "c");
        assert_eq!(q.pop_due(10), Some((3, "a")));
        assert_eq!(q.pop_due(10), Some((5, "b")));
        assert_eq!(q.pop_due(4), None);
        assert_eq!(q.pop_due(5), Some((5, "c")));
        assert_eq!(q.len(), 0);
    }
}
