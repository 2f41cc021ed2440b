//! `pendo-hubspot`: the local runner.
//! - `demo`: the main job — both sandboxes in-process, a demo tenant on the embedded SQLite
//!   store, connect → enable → first two-way sync → a day of changes → daily sync, with a report.
//! - `sync`: one full sync of a tenant from a local store against real Pendo/HubSpot.
//! - `sandbox`: both sandboxes standalone.

mod demo;
mod report;
mod serve;

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
    },
    /// Serve the admin API, OAuth callback and webhook intake locally, with an in-process worker.
    Serve {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        #[arg(long, default_value = ".local/serve")]
        dir: PathBuf,
        /// Bearer token with the operator role.
        #[arg(long, env = "LOCAL_OPERATOR_TOKEN")]
        operator_token: String,
        /// Tenant admin tokens as `tenant=token` (repeatable).
        #[arg(long = "admin-token")]
        admin_tokens: Vec<String>,
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
        } => demo::sync_real(&tenant, &db, &secrets, &hubspot_api).await,
        Command::Serve {
            port,
            dir,
            operator_token,
            admin_tokens,
            sandbox,
            sandbox_visitors,
            sandbox_accounts,
        } => {
            let admin_tokens = admin_tokens
                .iter()
                .map(|p| {
                    p.split_once('=')
                        .map(|(t, k)| (t.to_string(), k.to_string()))
                })
                .collect::<Option<Vec<_>>>();
            match admin_tokens {
                None => Err("--admin-token takes tenant=token".into()),
                Some(admin_tokens) => {
                    serve::run(serve::ServeOptions {
                        port,
                        dir: &dir,
                        operator_token,
                        admin_tokens,
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
