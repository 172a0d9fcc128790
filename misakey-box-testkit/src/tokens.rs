//! Token introspection from a fixed table.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use misakey_box::error::StoreError;
use misakey_box::ports::{TokenInfo, TokenIntrospector};

/// Tokens known in advance: `token -> TokenInfo`. For tests and development.
#[derive(Debug, Default)]
pub struct StaticTokens {
    tokens: RwLock<HashMap<String, TokenInfo>>,
}

impl StaticTokens {
    /// No token known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `token` stand for `info` (replacing what it stood for).
    pub fn insert(&self, token: impl Into<String>, info: TokenInfo) {
        self.tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.into(), info);
    }

    /// Forgets `token`, as a revocation would.
    pub fn revoke(&self, token: &str) {
        self.tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }
}

#[async_trait]
impl TokenIntrospector for StaticTokens {
    async fn introspect(&self, token: &str) -> Result<Option<TokenInfo>, StoreError> {
        Ok(self
            .tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned())
    }
}
