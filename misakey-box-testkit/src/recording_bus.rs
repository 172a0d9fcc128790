//! A notification bus that remembers what was published.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use misakey_box::bus::InProcessBus;
use misakey_box::domain::Frame;
use misakey_box::error::BusError;
use misakey_box::ports::{NotificationBus, Subscription};
use uuid::Uuid;

/// An [`InProcessBus`] that also records every successful publish, for assertions.
///
/// [`set_unavailable`](Self::set_unavailable) makes publishing and subscribing fail as a lost
/// broker would.
#[derive(Debug, Default)]
pub struct RecordingBus {
    bus: InProcessBus,
    published: Mutex<Vec<(Uuid, Frame)>>,
    unavailable: AtomicBool,
}

impl RecordingBus {
    /// A recording bus over a fresh [`InProcessBus`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A recording bus over `bus` (to choose its queue capacity).
    pub fn wrapping(bus: InProcessBus) -> Self {
        Self {
            bus,
            ..Self::default()
        }
    }

    /// While `true`, publish and subscribe fail with [`BusError::Unavailable`].
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Every publish so far, in order: recipient and frame.
    pub fn published(&self) -> Vec<(Uuid, Frame)> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The updates published for `identity_id`, parsed, in order.
    pub fn updates_for(&self, identity_id: Uuid) -> Vec<serde_json::Value> {
        self.published()
            .into_iter()
            .filter(|(recipient, _)| *recipient == identity_id)
            .map(|(_, frame)| frame.to_json())
            .collect()
    }

    fn check_available(&self) -> Result<(), BusError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(BusError::Unavailable(
                "the recording bus was set unavailable".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl NotificationBus for RecordingBus {
    async fn publish(&self, identity_id: Uuid, frame: &Frame) -> Result<(), BusError> {
        self.check_available()?;
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((identity_id, frame.clone()));
        self.bus.publish(identity_id, frame).await
    }

    async fn subscribe(&self, identity_id: Uuid) -> Result<Subscription, BusError> {
        self.check_available()?;
        self.bus.subscribe(identity_id).await
    }
}

#[cfg(test)]
mod contract {
    crate::bus_contract_tests!(async { Some(Box::new(misakey_box::bus::InProcessBus::new())) });

    mod recording {
        crate::bus_contract_tests!(async { Some(Box::new(super::super::RecordingBus::new())) });
    }
}
