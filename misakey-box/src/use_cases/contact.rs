use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Caller;
use crate::BoxService;
use crate::domain::{
    AccessMode, AddressedUpdate, BoxView, CryptoAction, CryptoActionType, Event, EventType,
    Identity, KeyShare, Notification, NotificationType, RealtimeUpdate, UpdateType,
};
use crate::error::{Detail, Error, ErrorCode, Origin, StoreError};
use crate::ports::ContactRecord;
use crate::validation::ContactRequest;

impl BoxService {
    /// Contacts another identity (`docs/protocol.md`, "Contact"): validates `body`, applies the
    /// business rules, writes the box, key share, events, invitation and notification in one atomic
    /// store call, then publishes the realtime updates, and returns the new box.
    ///
    /// Errors, in order: every invalid field (400), unknown contacted identity (404), contacted
    /// identity without account (403), invitation key not the contacted identity's (400) or no
    /// key at all (409), `other_share_hash` already stored (409).
    pub async fn contact(
        &self,
        caller: &Caller,
        body: &serde_json::Value,
    ) -> Result<BoxView, Error> {
        let result =
            match ContactRequest::parse(body, caller.identity_id, &*self.config().key_share_policy)
            {
                Ok(request) => self.contact_validated(caller, &request).await,
                Err(error) => Err(error),
            };
        crate::metrics::contact(crate::metrics::outcome(&result));
        result
    }

    /// [`contact`](Self::contact) for a request already validated with [`ContactRequest::parse`].
    pub async fn contact_validated(
        &self,
        caller: &Caller,
        request: &ContactRequest,
    ) -> Result<BoxView, Error> {
        // Both identities in one lookup.
        let found = self
            .ports()
            .identities
            .identities(&[request.contacted_identity_id, caller.identity_id])
            .await?;
        let find = |id: Uuid| found.iter().find(|identity| identity.id == id);
        let contacted = find(request.contacted_identity_id).ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                Origin::Body,
                "the contacted identity does not exist",
            )
            .with_detail("contacted_identity_id", Detail::NotFound)
        })?;
        let contacted_account_id = contacted.account_id.ok_or_else(|| {
            Error::new(
                ErrorCode::Forbidden,
                Origin::NotDefined,
                "the contacted identity must have an account",
            )
            .with_detail("contacted_account", Detail::Required)
        })?;
        check_invitation_key(contacted, &request.invitation_public_key)?;
        let creator = find(caller.identity_id).ok_or_else(|| {
            Error::internal(format!(
                "identity {} of a valid token is not in the directory",
                caller.identity_id
            ))
        })?;

        // In the ledger from before the transaction until its updates are published.
        let in_flight = self.ledger().enter(&*self.ports().clock);
        let mut record = self.new_contact_record(
            in_flight.created_at(),
            caller.identity_id,
            contacted.id,
            contacted_account_id,
            request,
        );
        let creator_view = creator.view();
        let owner_org_id = self.config().owner_org_id;
        // Appended to the logs in the contact's transaction (the outbox), published only
        // after it commits: a failed contact notifies nobody, a committed one is never lost.
        for event in &record.events {
            let view = event.new_event_view(creator_view.clone(), owner_org_id);
            record
                .updates
                .push(addressed(caller.identity_id, UpdateType::EventNew, view)?);
        }
        let notification = addressed(
            contacted.id,
            UpdateType::Notification,
            record.notification.view(),
        )?;
        record.updates.push(notification);

        let create = record.events[0].clone();
        let sequenced = match self.ports().store.commit(&record.into()).await {
            Ok(sequenced) => sequenced,
            Err(error @ StoreError::KeyShareConflict) => {
                // Certainly not committed: nothing to relay.
                in_flight.settle();
                return Err(error.into());
            }
            // Dropping `in_flight` leaves the contact to the relay: a commit may have happened.
            Err(error) => return Err(error.into()),
        };
        self.publish_sequenced(in_flight, &sequenced).await;

        Ok(BoxView {
            id: create.box_id,
            server_created_at: create.created_at,
            public_key: request.box_public_key.clone(),
            title: request.box_title.clone(),
            access_mode: AccessMode::Public,
            owner_org_id,
            creator: creator_view.clone(),
            last_event: create.box_view(creator_view),
            events_count: None,
        })
    }

    fn new_contact_record(
        &self,
        now: DateTime<Utc>,
        creator_id: Uuid,
        contacted_id: Uuid,
        contacted_account_id: Uuid,
        request: &ContactRequest,
    ) -> ContactRecord {
        let ids = &self.ports().ids;
        let box_id = ids.new_id();
        let event = |kind, content| Event {
            id: ids.new_id(),
            box_id,
            kind,
            content,
            sender_id: creator_id,
            created_at: now,
            referrer_id: None,
        };
        let create = event(
            EventType::Create,
            json!({"public_key": request.box_public_key, "title": request.box_title, "state": "open"}),
        );
        let access_mode = event(
            EventType::StateAccessMode,
            json!({"value": AccessMode::Public}),
        );
        let crypto_action = CryptoAction {
            id: ids.new_id(),
            account_id: contacted_account_id,
            sender_identity_id: creator_id,
            kind: CryptoActionType::Invitation,
            box_id,
            encryption_public_key: request.invitation_public_key.clone(),
            encrypted: request.encrypted_invitation.clone(),
            created_at: now,
        };
        let notification = Notification {
            id: ids.new_id(),
            identity_id: contacted_id,
            kind: NotificationType::BoxAutoInvite,
            details: json!({
                "box_id": box_id,
                "box_title": request.box_title,
                "owner_org_id": self.config().owner_org_id,
                "cryptoaction_id": crypto_action.id,
            }),
            created_at: now,
            acknowledged_at: None,
        };
        ContactRecord {
            events: vec![create, access_mode],
            key_share: KeyShare {
                other_share_hash: request.other_share_hash.clone(),
                misakey_share: request.misakey_share.clone(),
                encrypted_invitation_key_share: request.encrypted_invitation_key_share.clone(),
                box_id,
                creator_id,
            },
            crypto_action,
            notification,
            updates: Vec::new(),
            created_at: now,
        }
    }
}

/// The invitation must be encrypted for one of the contacted identity's non-identified keys.
fn check_invitation_key(contacted: &Identity, public_key: &str) -> Result<(), Error> {
    if !contacted.has_invitation_key() {
        return Err(Error::new(
            ErrorCode::Conflict,
            Origin::Body,
            "the contacted identity has no public key to encrypt an invitation for",
        )
        .with_detail("invitation_data", Detail::Conflict));
    }
    if !contacted.is_invitation_key(public_key) {
        return Err(Error::bad_body(
            "invitation_data must be encrypted for the contacted identity's non-identified public key",
            "invitation_data",
            Detail::Invalid,
        ));
    }
    Ok(())
}

fn addressed(
    recipient: Uuid,
    kind: UpdateType,
    object: impl serde::Serialize,
) -> Result<AddressedUpdate, Error> {
    let update = RealtimeUpdate::new(kind, object).map_err(Error::internal)?;
    Ok(AddressedUpdate { recipient, update })
}
