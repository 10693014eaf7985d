//! End-to-end tests and load generators for Brokkr.
//!
//! Everything here drives the real binaries (`brokkr-broker`, `brokkr-worker`, `brokkr-agent`)
//! against a real PostgreSQL server; [`harness`] starts them as processes for the end-to-end
//! tests in `tests/`. The load generators live in `src/bin/`: `target-state-bench` (how fast
//! the broker answers agents' target-state polls), `delivery-bench` (webhook delivery
//! throughput and latency) and `propagation-bench` (deployment object → object in the cluster,
//! and the idle agent's memory).
//! `kubesim` (module [`kubesim`], binary `kubesim`) is a Kubernetes API simulator that the
//! agent and the tests talk to through an ordinary kubeconfig. [`receiver`] is a webhook
//! receiver for the tests, [`otlp`] an OTLP trace receiver (gRPC and HTTP/protobuf);
//! [`private_postgres`] a PostgreSQL cluster of a test's own that it may
//! restart and stop (database-outage tests).

pub mod harness;
pub mod kubesim;
pub mod otlp;
pub mod private_postgres;
pub mod receiver;
