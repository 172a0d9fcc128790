//! Boxes after their creation: joining, leaving and writing (one transaction per event), and
//! reading them as a member.

use serde_json::Value;
use uuid::Uuid;

use super::Caller;
use crate::BoxService;
use crate::domain::{
    AccessMode, AddressedUpdate, BoxView, Event, EventType, EventView, IdentityView, KeyShare,
    RealtimeUpdate, UpdateType,
};
use crate::error::{Detail, Error, ErrorCode, Origin, StoreError};
use crate::ports::{Change, ChangeSet, Member};
use crate::validation::{BoxEventRequest, decode_unpadded_url_safe, parse_box_event};

fn box_not_found() -> Error {
    Error::new(ErrorCode::NotFound, Origin::Path, "no box has this id")
        .with_detail("id", Detail::NotFound)
}

fn member_required() -> Error {
    Error::new(
        ErrorCode::Forbidden,
        Origin::NotDefined,
        "only members of the box may do this",
    )
    .with_detail("member", Detail::Required)
}

fn already_member() -> Error {
    Error::new(
        ErrorCode::Conflict,
        Origin::NotDefined,
        "the caller is a member already",
    )
    .with_detail("member", Detail::Conflict)
}

/// A key share of one of the caller's boxes, as `GET /box-key-shares/{hash}` answers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct KeyShareView {
    /// The hash the share is stored under.
    pub other_share_hash: String,
    /// The server's share of the box key (`misakey_share`).
    pub share: String,
    /// The box.
    pub box_id: Uuid,
}

impl BoxService {
    /// Writes an event in box `box_id` (`member.join`, `member.leave`, `msg.text`; see
    /// [`parse_box_event`]). In one transaction: the event, one more unread event for every
    /// member other than the caller, and an `event.new` appended to every member's log (a
    /// leave: the members before it, the leaver included; a join: the members after it);
    /// published after the commit. Answers the event.
    pub async fn post_box_event(
        &self,
        caller: &Caller,
        box_id: Uuid,
        body: &Value,
    ) -> Result<EventView, Error> {
        let result = self.write_box_event(caller, box_id, body).await;
        crate::metrics::box_event(crate::metrics::outcome(&result));
        result
    }

    async fn write_box_event(
        &self,
        caller: &Caller,
        box_id: Uuid,
        body: &Value,
    ) -> Result<EventView, Error> {
        let request = parse_box_event(body)?;
        let ports = self.ports();
        // A box always has a member, its creator, listed first: its members alone tell
        // whether it exists and who made it (one read per event instead of three).
        let mut members = ports.boxes.members(box_id).await?;
        let creator = members
            .first()
            .map(|member| member.identity_id)
            .ok_or_else(box_not_found)?;
        let own = members
            .iter()
            .position(|member| member.identity_id == caller.identity_id);

        // Every refusal comes before the ledger: a refused event leaves nothing to relay.
        let plan = match (request, own) {
            (BoxEventRequest::Join, Some(_)) => return Err(already_member()),
            (BoxEventRequest::Leave | BoxEventRequest::Message(_), None) => {
                return Err(member_required());
            }
            (BoxEventRequest::Leave, Some(_)) if caller.identity_id == creator => {
                return Err(Error::new(
                    ErrorCode::Forbidden,
                    Origin::NotDefined,
                    "the creator of a box cannot leave it",
                )
                .with_detail("member", Detail::Forbidden));
            }
            // A leave refers to the member's join.
            (BoxEventRequest::Leave, Some(index)) => {
                (BoxEventRequest::Leave, members[index].join_event_id)
            }
            (request, _) => (request, Uuid::nil()),
        };
        let sender = self.identity_view(caller.identity_id).await?;

        let in_flight = self.ledger().enter(&*ports.clock);
        let now = in_flight.created_at();
        let event_id = ports.ids.new_id();
        let (kind, content, referrer_id, membership) = match plan {
            (BoxEventRequest::Join, _) => {
                members.push(Member {
                    identity_id: caller.identity_id,
                    joined_at: now,
                    join_event_id: event_id,
                });
                let change = Change::AddMember {
                    box_id,
                    identity_id: caller.identity_id,
                    join_event_id: event_id,
                    joined_at: now,
                };
                (EventType::MemberJoin, Value::Null, None, Some(change))
            }
            (BoxEventRequest::Leave, join) => {
                let change = Change::RemoveMember {
                    box_id,
                    identity_id: caller.identity_id,
                };
                (
                    EventType::MemberLeave,
                    Value::Null,
                    Some(join),
                    Some(change),
                )
            }
            (BoxEventRequest::Message(content), _) => (EventType::MsgText, content, None, None),
        };
        let event = Event {
            id: event_id,
            box_id,
            kind,
            content,
            sender_id: caller.identity_id,
            created_at: now,
            referrer_id,
        };
        // One object shared by every member's update.
        let object = std::sync::Arc::new(
            serde_json::to_value(event.new_event_view(sender.clone(), self.config().owner_org_id))
                .map_err(Error::internal)?,
        );

        let mut changes: Vec<Change> = membership.into_iter().collect();
        changes.push(Change::AddEvent(event.clone()));
        changes.push(Change::CountUnreadEvent {
            box_id,
            sender_id: caller.identity_id,
        });
        let updates = members
            .iter()
            .map(|member| AddressedUpdate {
                recipient: member.identity_id,
                update: RealtimeUpdate {
                    kind: UpdateType::EventNew,
                    object: object.clone(),
                },
            })
            .collect();
        let changes = ChangeSet {
            changes,
            updates,
            created_at: now,
        };
        let sequenced = match ports.store.commit(&changes).await {
            Ok(sequenced) => sequenced,
            // Another request of the caller's joined or left first: certainly not committed.
            Err(StoreError::Conflict) => {
                in_flight.settle();
                return Err(already_member());
            }
            Err(StoreError::NotFound) => {
                in_flight.settle();
                return Err(member_required());
            }
            // Dropping `in_flight` leaves the event to the relay: a commit may have happened.
            Err(error) => return Err(error.into()),
        };
        self.publish_sequenced(in_flight, &sequenced).await;
        Ok(event.view(sender))
    }

    /// Box `box_id` as the caller, a member, sees it: the box view, its last event other than
    /// `state.access_mode`, and the caller's unread count in `events_count`.
    pub async fn box_view(&self, caller: &Caller, box_id: Uuid) -> Result<BoxView, Error> {
        self.require_member(caller, box_id).await?;
        self.box_view_of(caller, box_id).await
    }

    /// The box's events, newest first (members only), and how many it has in all.
    pub async fn box_events(
        &self,
        caller: &Caller,
        box_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<EventView>, u64), Error> {
        self.require_member(caller, box_id).await?;
        let ports = self.ports();
        let events = ports.boxes.events(box_id, offset, limit).await?;
        let total = ports.boxes.count_events(box_id).await?;
        let senders = self
            .identity_views(events.iter().map(|event| event.sender_id))
            .await?;
        let views = events
            .iter()
            .map(|event| {
                let sender = senders
                    .iter()
                    .find(|view| view.id == event.sender_id)
                    .cloned()
                    .ok_or_else(|| Error::internal("an event's sender is not in the directory"))?;
                Ok(event.view(sender))
            })
            .collect::<Result<_, Error>>()?;
        Ok((views, total))
    }

    /// The box's members (members only), creator first, then by join time.
    pub async fn box_members(
        &self,
        caller: &Caller,
        box_id: Uuid,
    ) -> Result<Vec<IdentityView>, Error> {
        let members = self.require_member(caller, box_id).await?;
        let views = self
            .identity_views(members.iter().map(|member| member.identity_id))
            .await?;
        members
            .iter()
            .map(|member| {
                views
                    .iter()
                    .find(|view| view.id == member.identity_id)
                    .cloned()
                    .ok_or_else(|| Error::internal("a member is not in the directory"))
            })
            .collect()
    }

    /// The boxes the caller is a member of, newest activity first, as in
    /// [`box_view`](Self::box_view), and how many there are in all.
    pub async fn joined_boxes(
        &self,
        caller: &Caller,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<BoxView>, u64), Error> {
        let ports = self.ports();
        let ids = ports
            .boxes
            .joined_boxes(caller.identity_id, offset, limit)
            .await?;
        let total = ports.boxes.count_joined_boxes(caller.identity_id).await?;
        let mut views = Vec::with_capacity(ids.len());
        for box_id in ids {
            views.push(self.box_view_of(caller, box_id).await?);
        }
        Ok((views, total))
    }

    /// The key share stored under `other_share_hash`, for a member of its box. The hash must
    /// be unpadded URL-safe base64 (400, origin path); unknown: 404; not a member: 403.
    pub async fn key_share(
        &self,
        caller: &Caller,
        other_share_hash: &str,
    ) -> Result<KeyShareView, Error> {
        if decode_unpadded_url_safe(other_share_hash).is_none_or(|bytes| bytes.is_empty()) {
            return Err(Error::new(
                ErrorCode::BadRequest,
                Origin::Path,
                "the share hash must be unpadded URL-safe base64",
            )
            .with_detail("other_share_hash", Detail::Malformed));
        }
        let KeyShare {
            other_share_hash,
            misakey_share,
            box_id,
            ..
        } = self
            .ports()
            .boxes
            .key_share(other_share_hash)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    Origin::Path,
                    "no key share has this hash",
                )
                .with_detail("other_share_hash", Detail::NotFound)
            })?;
        self.require_member(caller, box_id).await?;
        Ok(KeyShareView {
            other_share_hash,
            share: misakey_share,
            box_id,
        })
    }

    /// The box's members, if the box exists and the caller is one of them.
    async fn require_member(&self, caller: &Caller, box_id: Uuid) -> Result<Vec<Member>, Error> {
        let members = self.ports().boxes.members(box_id).await?;
        if members.iter().any(|m| m.identity_id == caller.identity_id) {
            return Ok(members);
        }
        // Every box has its creator as a member: no members, no box.
        if members.is_empty() {
            Err(box_not_found())
        } else {
            Err(member_required())
        }
    }

    async fn box_view_of(&self, caller: &Caller, box_id: Uuid) -> Result<BoxView, Error> {
        let ports = self.ports();
        let (create, last) = ports
            .boxes
            .box_events_summary(box_id)
            .await?
            .ok_or_else(box_not_found)?;
        let senders = self
            .identity_views([create.sender_id, last.sender_id].into_iter())
            .await?;
        let view_of = |id: Uuid| {
            senders
                .iter()
                .find(|view| view.id == id)
                .cloned()
                .ok_or_else(|| Error::internal("a sender is not in the directory"))
        };
        let content = |key: &str| create.content[key].as_str().unwrap_or_default().to_owned();
        Ok(BoxView {
            id: box_id,
            server_created_at: create.created_at,
            public_key: content("public_key"),
            title: content("title"),
            access_mode: AccessMode::Public,
            owner_org_id: self.config().owner_org_id,
            creator: view_of(create.sender_id)?,
            last_event: last.box_view(view_of(last.sender_id)?),
            events_count: Some(ports.boxes.unread_count(caller.identity_id, box_id).await?),
        })
    }

    async fn identity_view(&self, id: Uuid) -> Result<IdentityView, Error> {
        self.identity_views(std::iter::once(id))
            .await?
            .pop()
            .ok_or_else(|| Error::internal("the identity of a valid token is not in the directory"))
    }

    /// The views of the identities `ids` (each once) that the directory holds.
    async fn identity_views(
        &self,
        ids: impl Iterator<Item = Uuid>,
    ) -> Result<Vec<IdentityView>, Error> {
        let mut unique: Vec<Uuid> = ids.collect();
        unique.sort_unstable();
        unique.dedup();
        let identities = self.ports().identities.identities(&unique).await?;
        Ok(identities.iter().map(|identity| identity.view()).collect())
    }
}
