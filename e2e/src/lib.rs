//! End-to-end tests and load generators for Brokkr.
//!
//! Everything here drives the real binaries (`brokkr-broker`, later `brokkr-worker` and
//! `brokkr-agent`) against a real PostgreSQL server. The load generators live in `src/bin/`:
//! `target-state-bench` measures how fast the broker answers agents' target-state polls.
//! `kubesim` (module [`kubesim`], binary `kubesim`) is a Kubernetes API simulator that the
//! agent and the tests talk to through an ordinary kubeconfig.

pub mod harness;
pub mod kubesim;
