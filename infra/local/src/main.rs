//! `pendo-hubspot`: the local runner.
//! - `demo`: the main job — both sandboxes in-process, a demo tenant on the embedded SQLite
//!   store, connect → enable → first two-way sync → a day of changes → daily sync, with a report.
//! - `sync`: one full sync of a tenant from a local store against real Pendo/HubSpot.
//! - `sandbox`: both sandboxes standalone.

mod demo;
mod report;
mod serve;
mod tokens;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "pendo-hubspot", about = "Pendo ↔ HubSpot sync: local runner")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo: a real two-way sync of a demo tenant against the built-in sandboxes.
    Demo {
        #[arg(long, default_value_t = 5000)]
        visitors: usize,
        #[arg(long, default_value_t = 300)]
        accounts: usize,
        #[arg(long, default_value_t = 400)]
        days: i32,
        /// Where the embedded store and local secrets live.
        #[arg(long, default_value = ".local/demo")]
        dir: PathBuf,
    },
    /// Run one full sync of a tenant configured in a local store, against real endpoints.
    Sync {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = ".local/store.db")]
        db: PathBuf,
        #[arg(long, default_value = ".local/secrets.json")]
        secrets: PathBuf,
        #[arg(long, default_value = "https://api.hubapi.com")]
        hubspot_api: String,
        /// Pendo API base instead of the region's host (a sandbox: regions become `{base}/{region}`).
        #[arg(long)]
        pendo_api: Option<String>,
        /// The last complete day of data, `YYYY-MM-DD` (default: yesterday, UTC).
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
        /// Seconds the tenant lease lives unrenewed (renewed every quarter of it). What a killed
        /// `sync` blocks its tenant for; the fault suite shortens it.
        #[arg(long, default_value_t = 20, hide = true)]
        lease_secs: u64,
    },
    /// Serve the admin API, OAuth callback and webhook intake locally, with an in-process worker.
    Serve {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        #[arg(long, default_value = ".local/serve")]
        dir: PathBuf,
        /// Bearer token with the operator role. A flag shows in `ps` to every user of the
        /// machine: prefer the LOCAL_OPERATOR_TOKEN environment variable or --operator-token-file.
        #[arg(long, env = "LOCAL_OPERATOR_TOKEN", hide_env_values = true)]
        operator_token: Option<String>,
        /// A file holding the operator token (first line; surrounding whitespace ignored).
        #[arg(long, conflicts_with = "operator_token")]
        operator_token_file: Option<PathBuf>,
        /// Tenant admin tokens as `tenant=token` (repeatable, or comma-separated in
        /// LOCAL_ADMIN_TOKENS, which keeps them out of `ps`).
        #[arg(
            long = "admin-token",
            env = "LOCAL_ADMIN_TOKENS",
            value_delimiter = ',',
            hide_env_values = true
        )]
        admin_tokens: Vec<String>,
        /// A file of admin tokens, one `tenant=token` per line (`#` comments allowed).
        #[arg(long)]
        admin_tokens_file: Option<PathBuf>,
        /// Point at in-process HubSpot and Pendo sandboxes instead of the real APIs.
        #[arg(long)]
        sandbox: bool,
        /// Visitors in the sandbox Pendo dataset (with --sandbox).
        #[arg(long, default_value_t = 5000)]
        sandbox_visitors: usize,
        /// Accounts in the sandbox Pendo dataset (with --sandbox).
        #[arg(long, default_value_t = 300)]
        sandbox_accounts: usize,
    },
    /// Print the admin API's OpenAPI document (for client generators): `pendo-hubspot openapi > openapi.json`.
    Openapi,
    /// Start the HubSpot and Pendo sandboxes standalone.
    Sandbox {
        #[arg(long, default_value_t = 8081)]
        hubspot_port: u16,
        #[arg(long, default_value_t = 8082)]
        pendo_port: u16,
        #[arg(long, default_value_t = 5000)]
        visitors: usize,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo {
            visitors,
            accounts,
            days,
            dir,
        } => demo::run(visitors, accounts, days, &dir).await,
        Command::Sync {
            tenant,
            db,
            secrets,
            hubspot_api,
            pendo_api,
            today,
            lease_secs,
        } => {
            demo::sync_real(demo::SyncRealOptions {
                tenant: &tenant,
                db: &db,
                secrets: &secrets,
                hubspot_api: &hubspot_api,
                pendo_api,
                today,
                lease: std::time::Duration::from_secs(lease_secs.max(1)),
            })
            .await
        }
        Command::Serve {
            port,
            dir,
            operator_token,
            operator_token_file,
            admin_tokens,
            admin_tokens_file,
            sandbox,
            sandbox_visitors,
            sandbox_accounts,
        } => {
            let sources = tokens::TokenSources {
                operator: operator_token,
                operator_file: operator_token_file,
                admins: admin_tokens,
                admins_file: admin_tokens_file,
            };
            match sources.resolve() {
                Err(e) => Err(e.into()),
                Ok(t) => {
                    serve::run(serve::ServeOptions {
                        port,
                        dir: &dir,
                        operator_token: t.operator,
                        admin_tokens: t.admins,
                        sandbox,
                        sandbox_size: (sandbox_visitors, sandbox_accounts),
                    })
                    .await
                }
            }
        }
        Command::Openapi => {
            println!("{}", shared::api::openapi::document_pretty());
            Ok(())
        }
        Command::Sandbox {
            hubspot_port,
            pendo_port,
            visitors,
        } => demo::sandboxes_standalone(hubspot_port, pendo_port, visitors).await,
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
