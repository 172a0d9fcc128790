use std::fmt::Debug;

use async_trait::async_trait;
use futures::stream::BoxStream;
use uuid::Uuid;

use crate::domain::Frame;
use crate::error::{BoxError, BusError};

/// Why a subscription ended. After an error the stream yields nothing more.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The subscriber did not keep up and was dropped so that the publisher never waits.
    #[error("subscriber fell behind and was dropped")]
    Lagged,
    /// The bus lost its connection to the broker; the client should reconnect.
    #[error("subscription broken")]
    Broken(#[source] BoxError),
}

/// The updates of one identity, as frames, in publish order. Dropping it unsubscribes.
pub type Subscription = BoxStream<'static, Result<Frame, SubscriptionError>>;

/// Carries realtime updates from whoever produces them to every socket of an identity,
/// whichever server instance holds the socket.
#[async_trait]
pub trait NotificationBus: Debug + Send + Sync + 'static {
    /// Sends a frame to every current subscriber of `identity_id` (none is fine). Never waits
    /// for a slow subscriber.
    async fn publish(&self, identity_id: Uuid, frame: &Frame) -> Result<(), BusError>;

    /// Publishes each frame to its identity, in order, as [`publish`](Self::publish) does,
    /// in one go where the bus can: a box event reaches every member, and one round trip to
    /// a broker for all of them, not one per member, is what lets a large box keep up. After
    /// an error, any of the frames may not have been published.
    async fn publish_all(&self, frames: &[(Uuid, Frame)]) -> Result<(), BusError> {
        for (identity_id, frame) in frames {
            self.publish(*identity_id, frame).await?;
        }
        Ok(())
    }

    /// Starts receiving the frames published for `identity_id` from now on.
    async fn subscribe(&self, identity_id: Uuid) -> Result<Subscription, BusError>;

    /// Checks that the broker answers (health checks). In-process buses always do.
    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}
