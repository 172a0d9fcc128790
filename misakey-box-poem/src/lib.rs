//! poem frontend for `misakey-box`: the contact and realtime endpoints as embeddable routes,
//! and the reference server.
//!
//! Not built yet: this crate only reserves its place in the workspace. The routes and the
//! server arrive with the "poem frontend and the reference server" issue.
