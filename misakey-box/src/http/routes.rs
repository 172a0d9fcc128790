//! The routes of the protocol: what each one does once [`super::HttpApi`] has checked the
//! request. Adding a route here adds it to every frontend.

use http::header::SET_COOKIE;
use http::{HeaderValue, Method, StatusCode};
use serde_json::json;

use super::routing::{Access, Route, RouteCall};
use super::rules::{CSRF_COOKIE, new_csrf_token};
use super::{json_response, openapi};
use crate::error::Error;

/// Every route of the protocol, in the order of the documentation.
pub(super) fn protocol_routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::POST,
            "/box-users/{id}/contact",
            Access::OwnIdentity,
            contact,
        )
        .with_json_body(),
        Route::socket("/box-users/{id}/ws"),
        Route::new(Method::GET, "/csrf", Access::Public, csrf),
        Route::new(Method::GET, "/healthz", Access::Public, healthz),
        Route::new(Method::GET, "/openapi.json", Access::Public, openapi_json),
    ]
}

/// `POST /box-users/{id}/contact`: 201 with the box view.
async fn contact(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let created = call.service.contact(call.caller()?, call.body()?).await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

/// `GET /csrf`: a new token, in the body and in the `csrftoken` cookie (double submit).
async fn csrf(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let token = new_csrf_token();
    let cookie = cookie::Cookie::build((CSRF_COOKIE, token.as_str()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(call.settings.secure_cookies)
        .build();
    let mut response = json_response(StatusCode::OK, &json!({"csrf_token": token}));
    let cookie = HeaderValue::from_str(&cookie.encoded().to_string()).map_err(Error::internal)?;
    response.headers_mut().append(SET_COOKIE, cookie);
    Ok(response)
}

/// `GET /healthz`: 200 when the store and the bus answer, else 503 in the error format.
async fn healthz(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    call.service.health().await?;
    Ok(json_response(StatusCode::OK, &json!({"status": "ok"})))
}

/// `GET /openapi.json`.
async fn openapi_json(_: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    Ok(json_response(StatusCode::OK, &openapi::document()))
}
