//! AWS clients from the SDK's standard chain (env, profiles, instance roles), and how their errors read.

use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Where to reach AWS (or stand-ins). `None` endpoints mean the SDK's own resolution.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub dynamodb_endpoint: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_path_style: bool,
}

/// How long one attempt may take to connect, and in all: a backend that is down must give `UNAVAILABLE`
/// quickly rather than hold requests (and the client) for the SDK's defaults.
pub fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(1_500))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// Throttling, 5xx and network errors are retried by the SDK: up to 3 attempts, exponential backoff with
/// jitter, within the operation timeout above.
pub fn retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard().with_max_attempts(3)
}

/// The shared SDK configuration: region and credentials from the standard chain.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(retries())
        .load()
        .await
}

pub fn dynamodb_client(sdk: &aws_config::SdkConfig, options: &AwsOptions) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(endpoint) = &options.dynamodb_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

pub fn s3_client(sdk: &aws_config::SdkConfig, options: &AwsOptions) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(sdk).force_path_style(options.s3_path_style);
    if let Some(endpoint) = &options.s3_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// Network failures, throttling and server-side errors: worth a retry later, and reported as `UNAVAILABLE`.
pub fn is_transient<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            status >= 500
                || status == 429
                || matches!(
                    e.err().code(),
                    Some(
                        "ThrottlingException"
                            | "ProvisionedThroughputExceededException"
                            | "RequestLimitExceeded"
                            | "SlowDown"
                    )
                )
        }
        _ => false,
    }
}
