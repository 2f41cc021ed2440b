//! AWS SDK configuration, built once per process. `AWS_ENDPOINT_URL` points every client at an
//! emulator (moto) for local runs and tests.

use aws_config::BehaviorVersion;

pub async fn sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// Reads a required environment variable, naming it when absent.
pub fn required_env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
}

pub use aws_config::SdkConfig;
pub use aws_sdk_dynamodb::Client as DynamoClient;
pub use aws_sdk_secretsmanager::Client as SecretsManagerClient;
pub use aws_sdk_sqs::Client as SqsClient;
