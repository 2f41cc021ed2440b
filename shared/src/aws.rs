//! AWS SDK configuration, built once per process. `AWS_ENDPOINT_URL` points every client at an
//! emulator (moto) for local runs and tests.

use aws_config::BehaviorVersion;

pub async fn sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// The SDKs' HTTPS client: rustls with the ring provider. The SDK's default client would bring
/// aws-lc-rs, a second and larger crypto library, into every Lambda binary.
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    install_crypto_provider();
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Makes ring the process's rustls provider (reqwest is built without one). Idempotent.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err = another provider was installed first (tests may); either serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Reads a required environment variable, naming it when absent.
pub fn required_env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
}

pub use aws_config::SdkConfig;
pub use aws_sdk_dynamodb::Client as DynamoClient;
pub use aws_sdk_secretsmanager::Client as SecretsManagerClient;
pub use aws_sdk_sqs::Client as SqsClient;
