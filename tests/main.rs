//! One test binary for every cross-crate suite (each binary links the AWS SDK; few binaries
//! keep the build short). Suites needing AWS run against moto; HubSpot/Pendo against the sandboxes.

#[path = "suites/action_faults.rs"]
mod action_faults;
#[path = "suites/api.rs"]
mod api;
#[path = "suites/api_bad_input.rs"]
mod api_bad_input;
#[path = "suites/api_fixture.rs"]
mod api_fixture;
#[path = "suites/converge.rs"]
mod converge;
#[path = "suites/deletion.rs"]
mod deletion;
#[path = "suites/end_state.rs"]
mod end_state;
#[path = "suites/events.rs"]
mod events;
#[path = "suites/fault_suite.rs"]
mod fault_suite;
#[path = "suites/health.rs"]
mod health;
#[path = "suites/hubspot.rs"]
mod hubspot;
#[path = "suites/hubspot_conformance.rs"]
mod hubspot_conformance;
#[path = "suites/hubspot_live.rs"]
mod hubspot_live;
#[path = "suites/hubspot_oauth.rs"]
mod hubspot_oauth;
#[path = "suites/lambda_functions.rs"]
mod lambda_functions;
#[path = "suites/legacy_paths.rs"]
mod legacy_paths;
#[path = "suites/pendo.rs"]
mod pendo;
#[path = "suites/pendo_scoped.rs"]
mod pendo_scoped;
#[path = "suites/privacy.rs"]
mod privacy;
#[path = "suites/queue.rs"]
mod queue;
#[path = "suites/record_faults.rs"]
mod record_faults;
#[path = "suites/record_lab.rs"]
mod record_lab;
#[path = "suites/rules.rs"]
mod rules;
#[path = "suites/run_state.rs"]
mod run_state;
#[path = "suites/scheduler.rs"]
mod scheduler;
#[path = "suites/secrets.rs"]
mod secrets;
#[path = "suites/segments.rs"]
mod segments;
#[path = "suites/shared_histories.rs"]
mod shared_histories;
#[path = "suites/store_contract.rs"]
mod store_contract;
#[path = "suites/sync_e2e.rs"]
mod sync_e2e;
#[path = "suites/sync_fixture.rs"]
mod sync_fixture;
#[path = "suites/value_faults.rs"]
mod value_faults;
#[path = "suites/webhook_faults.rs"]
mod webhook_faults;
