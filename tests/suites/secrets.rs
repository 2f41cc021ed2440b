//! Secrets adapters: AWS Secrets Manager on moto, and the local 0600 file.

use shared::domain::TenantId;
use shared::secret::SecretString;
use shared::secrets::aws::AwsSecrets;
use shared::secrets::local::LocalSecrets;
use shared::secrets::{AppSecret, Secrets, SecretsError, TenantSecrets};

fn sample() -> TenantSecrets {
    TenantSecrets {
        pendo_integration_key: Some(SecretString::new("pendo-key-123")),
        hubspot_refresh_token: Some(SecretString::new("refresh-abc")),
        webhook_token: None,
    }
}

async fn roundtrip(s: &dyn Secrets) {
    let t = TenantId::parse(&suites::unique("sec")).unwrap();
    assert_eq!(s.tenant(&t).await.unwrap(), TenantSecrets::default());
    s.put_tenant(&t, &sample()).await.unwrap();
    assert_eq!(s.tenant(&t).await.unwrap(), sample());
    let mut changed = sample();
    changed.hubspot_refresh_token = Some(SecretString::new("refresh-new"));
    s.put_tenant(&t, &changed).await.unwrap();
    assert_eq!(
        s.tenant(&t)
            .await
            .unwrap()
            .hubspot_refresh_token
            .unwrap()
            .expose(),
        "refresh-new"
    );
    s.delete_tenant(&t).await.unwrap();
    assert_eq!(s.tenant(&t).await.unwrap(), TenantSecrets::default());
    s.delete_tenant(&t).await.unwrap(); // idempotent
}

#[tokio::test]
async fn aws_secrets_roundtrip_and_app_secret() {
    let config = suites::aws_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let prefix = format!("{}/", suites::unique("pfx"));
    let app_name = format!("{prefix}app");
    let s = AwsSecrets::new(client.clone(), prefix, app_name.clone());
    roundtrip(&s).await;
    assert!(matches!(
        s.app().await.unwrap_err(),
        SecretsError::NotFound { .. }
    ));
    let app = AppSecret {
        hubspot_client_id: "client".into(),
        hubspot_client_secret: SecretString::new("shh"),
        state_signing_key: SecretString::new("k"),
    };
    client
        .create_secret()
        .name(&app_name)
        .secret_string(serde_json::to_string(&app).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(s.app().await.unwrap(), app);
    // Debug of the whole struct never shows the values.
    let shown = format!("{:?}", s.app().await.unwrap());
    assert!(!shown.contains("shh") && shown.contains("***"), "{shown}");
}

#[tokio::test]
async fn aws_secrets_read_the_current_stage_after_rotation() {
    let config = suites::aws_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let prefix = format!("{}/", suites::unique("rot"));
    let s = AwsSecrets::new(client.clone(), prefix.clone(), "unused");
    let t = TenantId::parse("rotating").unwrap();
    s.put_tenant(&t, &sample()).await.unwrap();
    let name = format!("{prefix}tenant/rotating");
    let mut rotated = sample();
    rotated.pendo_integration_key = Some(SecretString::new("pendo-key-rotated"));
    let pending = client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(serde_json::to_string(&rotated).unwrap())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.tenant(&t).await.unwrap(),
        sample(),
        "pending is not current yet"
    );
    let current = client
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    let current_version = current
        .version_ids_to_stages
        .unwrap()
        .into_iter()
        .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
        .map(|(v, _)| v)
        .unwrap();
    client
        .update_secret_version_stage()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .move_to_version_id(pending.version_id.unwrap())
        .remove_from_version_id(current_version)
        .send()
        .await
        .unwrap();
    assert_eq!(s.tenant(&t).await.unwrap(), rotated);
}

#[tokio::test]
async fn local_secrets_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let s = LocalSecrets::new(&path);
    roundtrip(&s).await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(matches!(
        s.app().await.unwrap_err(),
        SecretsError::NotFound { .. }
    ));
}

/// A stale world-readable temp file next to the secrets file must not lend its mode to it.
#[tokio::test]
async fn a_stale_temp_file_does_not_make_local_secrets_readable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let tmp = dir.path().join("secrets.tmp");
    std::fs::write(&tmp, b"stale").unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = LocalSecrets::new(&path);
    roundtrip(&s).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
