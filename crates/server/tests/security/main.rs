//! Access control, isolation, forgetting and limits over HTTP on loopback,
//! as a hostile client would try them. The route table of `access.rs` is
//! checked cell by cell against the table in docs/security.md.

mod forget;
mod limits;
mod matrix;
#[path = "../common/running.rs"]
mod running;
mod server;
