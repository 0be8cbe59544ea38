//! Tests of the controllers, driven through [`super::Controllers::tick`] against a small
//! in-memory store that applies the actions as the real store does.

mod deployment;
mod pods;
mod store;
