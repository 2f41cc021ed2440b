//! The admin API's operations and schemas for the OpenAPI document (see `api::openapi`).

use super::account::*;
use super::catalog::*;
use super::config::*;
use super::health::*;
use super::privacy::*;
use super::runs::*;
use super::tenants::*;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    me,
    create_tenant,
    list_tenants,
    get_tenant,
    update_tenant,
    delete_tenant,
    erase_visitor_route,
    put_pendo,
    connect_hubspot,
    disconnect_hubspot,
    hubspot_schema,
    pendo_schema,
    get_config,
    put_config,
    get_rules,
    put_rules,
    enable,
    disable,
    run_now,
    list_runs,
    dry_run,
    get_run,
    status,
    webhook_url,
    openapi,
))]
pub struct AdminDoc;
