//! How many sockets each identity holds open in this process, so that a leaked token or a
//! client reconnecting in a loop cannot hold unbounded server memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

/// The open-socket count of every identity with at least one socket open here.
#[derive(Debug, Clone, Default)]
pub(crate) struct SocketSlots {
    open: Arc<Mutex<HashMap<Uuid, usize>>>,
}

/// One open socket of an identity, counted until dropped.
#[derive(Debug)]
pub(crate) struct SocketSlot {
    slots: SocketSlots,
    identity: Uuid,
}

impl SocketSlots {
    /// A slot for one more socket of `identity`, unless it already holds `limit`.
    pub(crate) fn take(&self, identity: Uuid, limit: usize) -> Option<SocketSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(identity).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                open.remove(&identity);
            }
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            slots: self.clone(),
            identity,
        })
    }

    /// How many sockets `identity` holds.
    #[cfg(test)]
    fn held_by(&self, identity: Uuid) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&identity).copied().unwrap_or(0)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.identity) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Identities without sockets leave no entry behind.
                open.remove(&self.identity);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_holds_at_most_the_limit_and_a_closed_socket_frees_its_slot() {
        let slots = SocketSlots::default();
        let (alice, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut held: Vec<SocketSlot> = (0..3).map(|_| slots.take(alice, 3).unwrap()).collect();
        assert!(slots.take(alice, 3).is_none());
        let bobs = slots.take(bob, 3).expect("another identity is unaffected");
        assert_eq!((slots.held_by(alice), slots.held_by(bob)), (3, 1));
        held.pop();
        held.push(slots.take(alice, 3).expect("a closed socket frees a slot"));
        assert!(slots.take(alice, 3).is_none());
        drop(held);
        drop(bobs);
        assert!(slots.open.lock().unwrap().is_empty(), "nothing left behind");
    }

    #[test]
    fn a_zero_limit_refuses_every_socket_and_leaves_nothing() {
        let slots = SocketSlots::default();
        assert!(slots.take(Uuid::from_u128(1), 0).is_none());
        assert!(slots.open.lock().unwrap().is_empty());
    }
}
