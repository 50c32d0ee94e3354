//! moto server starts on a free loopback port and serves Kinesis and SQS to
//! the real SDK crates; dropping it stops the process.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_types::sdk_config::SharedCredentialsProvider;
use warden_emulator::moto::MotoServer;

fn config(endpoint: String) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(
            aws_sdk_kinesis::config::Credentials::new("AKIDTEST", "secret", None, None, "test"),
        ))
        .build()
}

#[tokio::test]
async fn moto_serves_kinesis_and_sqs_and_stops_on_drop() {
    let moto = MotoServer::start().expect("moto starts (scripts/tools.sh installs it)");
    let addr = moto.addr();
    assert!(addr.ip().is_loopback());
    let cfg = config(moto.endpoint_url());

    let kinesis = aws_sdk_kinesis::Client::new(&cfg);
    kinesis
        .create_stream()
        .stream_name("AmazonWorkLink-test")
        .shard_count(2)
        .send()
        .await
        .expect("create stream");
    let shards = kinesis
        .list_shards()
        .stream_name("AmazonWorkLink-test")
        .send()
        .await
        .expect("list shards");
    assert_eq!(shards.shards().len(), 2);

    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let q = sqs
        .create_queue()
        .queue_name("warden-dlq")
        .send()
        .await
        .expect("create queue");
    let url = q.queue_url().expect("queue url").to_string();
    sqs.send_message()
        .queue_url(&url)
        .message_body("{\"hello\":1}")
        .send()
        .await
        .expect("send");
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    assert_eq!(got.messages().len(), 1);
    assert_eq!(got.messages()[0].body(), Some("{\"hello\":1}"));

    drop(moto);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "moto stopped with its handle"
    );
}
