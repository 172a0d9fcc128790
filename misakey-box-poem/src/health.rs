//! `GET /healthz` and `GET /csrf`.

use std::sync::Arc;

use poem::web::{Data, Json};
use poem::{IntoResponse, Request, Response, handler};
use serde_json::json;

use crate::AppState;
use crate::auth::new_csrf_cookie;
use crate::error::ApiError;

/// 200 `{"status": "ok"}` when the store and the bus answer, else 503 in the error format.
#[handler]
pub(crate) async fn healthz(Data(state): Data<&Arc<AppState>>) -> Result<Response, ApiError> {
    state.service.health().await?;
    Ok(Json(json!({"status": "ok"})).into_response())
}

/// A new CSRF token, in the body and in the `csrftoken` cookie.
#[handler]
pub(crate) fn csrf(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let (token, cookie) = new_csrf_cookie(state.settings.secure_cookies);
    req.cookie().add(cookie);
    Json(json!({"csrf_token": token})).into_response()
}
