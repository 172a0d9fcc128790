//! A whole service on in-memory adapters, with Alice and Bob signed in.

use std::sync::Arc;

use misakey_box::domain::Identity;
use misakey_box::ports::TokenInfo;
use misakey_box::{BoxService, Caller, Config, Credentials, Ports};
use uuid::Uuid;

use crate::builders::{ContactRequestBuilder, alice, bob};
use crate::{
    FixedClock, InMemoryBoxStore, InMemoryIdentityDirectory, RecordingBus, SequentialIds,
    StaticTokens,
};

/// The owner organisation id the test bed configures.
pub const TEST_OWNER_ORG_ID: Uuid = Uuid::from_u128(0x0e9a0000_0000_4000_8000_00000000000f);
/// Alice's access token (ACR 2, no expiry).
pub const ALICE_TOKEN: &str = "alice-token";
/// Bob's access token (ACR 2, no expiry).
pub const BOB_TOKEN: &str = "bob-token";

/// A [`BoxService`] on in-memory adapters, a fixed clock and sequential ids, with handles on
/// each adapter for assertions. Alice and Bob are in the directory with tokens.
#[derive(Debug)]
pub struct TestBed {
    /// The service under test.
    pub service: BoxService,
    /// Its store.
    pub store: Arc<InMemoryBoxStore>,
    /// Its identity directory.
    pub identities: Arc<InMemoryIdentityDirectory>,
    /// Its tokens.
    pub tokens: Arc<StaticTokens>,
    /// Its bus, recording every publish.
    pub bus: Arc<RecordingBus>,
    /// Its clock.
    pub clock: Arc<FixedClock>,
    /// Alice (see [`crate::builders::alice`]).
    pub alice: Identity,
    /// Bob (see [`crate::builders::bob`]).
    pub bob: Identity,
}

impl Default for TestBed {
    fn default() -> Self {
        Self::new()
    }
}

impl TestBed {
    /// The default configuration, owner org [`TEST_OWNER_ORG_ID`].
    pub fn new() -> Self {
        Self::with_config(Config::new(TEST_OWNER_ORG_ID))
    }

    /// A test bed with another configuration.
    pub fn with_config(config: Config) -> Self {
        let (store, identities, tokens, bus, clock) = (
            Arc::new(InMemoryBoxStore::new()),
            Arc::new(InMemoryIdentityDirectory::new()),
            Arc::new(StaticTokens::new()),
            Arc::new(RecordingBus::new()),
            Arc::new(FixedClock::default()),
        );
        let ports = Ports::new(
            tokens.clone(),
            identities.clone(),
            store.clone(),
            bus.clone(),
        )
        .with_clock(clock.clone())
        .with_ids(Arc::new(SequentialIds::new()));
        let bed = Self {
            service: BoxService::without_maintenance(ports, config),
            store,
            identities,
            tokens,
            bus,
            clock,
            alice: alice(),
            bob: bob(),
        };
        bed.add_identity(&bed.alice, ALICE_TOKEN, 2);
        bed.add_identity(&bed.bob, BOB_TOKEN, 2);
        bed
    }

    /// Puts `identity` in the directory with a non-expiring `token` of the given ACR.
    pub fn add_identity(&self, identity: &Identity, token: &str, acr: u8) {
        self.identities.insert(identity.clone());
        self.tokens.insert(
            token,
            TokenInfo {
                identity_id: identity.id,
                account_id: identity.account_id,
                acr,
                expires_at: None,
            },
        );
    }

    /// Authorises `token` on `/box-users/{identity_id}`: how a frontend gets a [`Caller`].
    pub async fn caller(
        &self,
        token: &str,
        identity_id: Uuid,
    ) -> Result<Caller, misakey_box::Error> {
        let credentials = Credentials {
            access_token: Some(token),
            token_type: Some("bearer"),
        };
        self.service
            .authorize(credentials, &identity_id.to_string())
            .await
    }

    /// Alice, authorised.
    pub async fn alice_caller(&self) -> Caller {
        match self.caller(ALICE_TOKEN, self.alice.id).await {
            Ok(caller) => caller,
            Err(error) => panic!("the test bed's Alice must be authorised: {error}"),
        }
    }

    /// A valid contact request to Bob.
    pub fn request_to_bob(&self) -> ContactRequestBuilder {
        ContactRequestBuilder::new(&self.bob)
    }

    /// One more unread event for `reader` in `box_id`, as a box event from someone else would
    /// leave, written straight to the store (no update, no publish); `reader` is made a member
    /// first if it is not one.
    pub async fn unread_event(&self, reader: Uuid, box_id: Uuid) {
        use misakey_box::ports::{BoxReads as _, BoxStore as _, Change, ChangeSet};
        let mut changes = Vec::new();
        let members = match self.store.members(box_id).await {
            Ok(members) => members,
            Err(error) => panic!("the in-memory store must read members: {error}"),
        };
        if !members.iter().any(|member| member.identity_id == reader) {
            changes.push(Change::AddMember {
                box_id,
                identity_id: reader,
                join_event_id: Uuid::from_u128(0x101),
                joined_at: crate::default_instant(),
            });
        }
        // From an identity that is not a member: every member's count grows.
        changes.push(Change::CountUnreadEvent {
            box_id,
            sender_id: Uuid::from_u128(0x5e4d),
        });
        let changes = ChangeSet {
            changes,
            updates: Vec::new(),
            created_at: crate::default_instant(),
        };
        if let Err(error) = self.store.commit(&changes).await {
            panic!("the in-memory store must take an unread event: {error}");
        }
    }
}
