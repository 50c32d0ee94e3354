//! AWS client setup, done once at cold start.
//!
//! One [`SdkConfig`] feeds every client, so they share one HTTP/TLS stack
//! (hyper 1 + rustls, from `aws-config`'s `default-https-client`). The frozen
//! `aws-sdk-worklink` is built with its default features off (they would pull
//! the legacy hyper 0.14 stack) and receives the same HTTP client through the
//! shared config.
//!
//! Nothing here makes a network call: credentials are resolved lazily on the
//! first request, and the region comes from settings or the environment
//! (`AWS_REGION`, always set on Lambda) — never from instance metadata when a
//! region is given.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// How clients are built. Every field has a safe default.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    /// Region; `None` reads the environment's default chain.
    pub region: Option<String>,
    /// Endpoint override for every service (the emulator, moto). `None` uses
    /// the environment (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`) or
    /// the real AWS endpoints.
    pub endpoint_url: Option<String>,
    /// Attempts per call, the first included (standard retry mode, with
    /// exponential backoff and jitter; throttling and 5xx are retried).
    pub max_attempts: u32,
    /// First retry backoff.
    pub initial_backoff: Duration,
    /// Longest backoff between attempts.
    pub max_backoff: Duration,
    /// Limit for one attempt.
    pub attempt_timeout: Duration,
    /// Limit for a whole call including retries.
    pub operation_timeout: Duration,
    /// Fixed credentials instead of the default provider chain. Only for
    /// local stand-ins (emulator, moto), which check the signature's shape but
    /// not its secret.
    pub static_credentials: Option<(String, String)>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region: None,
            endpoint_url: None,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            static_credentials: None,
        }
    }
}

impl AwsSettings {
    /// Settings for a local stand-in at `endpoint_url`: fixed region and
    /// test credentials, so nothing consults the real credential chain.
    pub fn local(endpoint_url: impl Into<String>) -> Self {
        AwsSettings {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint_url.into()),
            static_credentials: Some(("AKIDLOCALTEST".into(), "local-test-secret".into())),
            ..AwsSettings::default()
        }
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }
}

/// Loads the shared SDK config from settings and the environment.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(settings.retry_config())
        .timeout_config(settings.timeout_config());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    if let Some((key, secret)) = &settings.static_credentials {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            key.clone(),
            secret.clone(),
            None,
            None,
            "warden-local",
        ));
    }
    loader.load().await
}

/// The clients every function may use, built once from one config.
#[derive(Debug, Clone)]
pub struct Clients {
    pub worklink: aws_sdk_worklink::Client,
    pub wsi: aws_sdk_workspacesinstances::Client,
    /// WorkSpaces Secure Browser (`AWS_ENDPOINT_URL_WORKSPACES_WEB` points
    /// it elsewhere, like every service's own variable).
    pub web: aws_sdk_workspacesweb::Client,
    pub kinesis: aws_sdk_kinesis::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// Clients for a local stand-in at `endpoint_url` (the emulator, moto):
    /// [`AwsSettings::local`] with `max_attempts` attempts per call and
    /// retries that back off in milliseconds, so tests of throttling and
    /// server errors run fast. The one place tests and benchmarks build them.
    pub async fn local(endpoint_url: &str, max_attempts: u32) -> Clients {
        let settings = AwsSettings {
            max_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..AwsSettings::local(endpoint_url)
        };
        Clients::new(&load_sdk_config(&settings).await)
    }

    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            worklink: aws_sdk_worklink::Client::new(config),
            wsi: aws_sdk_workspacesinstances::Client::new(config),
            web: aws_sdk_workspacesweb::Client::new(config),
            kinesis: aws_sdk_kinesis::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }
}
pub mod deadline;

pub mod emf;
pub mod executor;
pub mod logline;
pub mod notify;
