//! The Brokkr agent: runs inside each cluster, pulls its target state from the broker and applies
//! it with kube-rs.
//!
//! Not built yet: this crate is a placeholder member of the workspace until the agent issue lands.
