//! Alice contacts Bob through the core on in-memory adapters, and both sides print what their
//! socket would receive.
//!
//! Run: `cargo run -p misakey-box-examples --example in_memory_contact`

use futures::StreamExt as _;
use misakey_box_testkit::TestBed;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bed = TestBed::new();
    let bus = &bed.service.ports().bus;
    let mut alice_socket = bus.subscribe(bed.alice.id).await?;
    let mut bob_socket = bus.subscribe(bed.bob.id).await?;

    let alice = bed.alice_caller().await;
    let body = bed.request_to_bob().title("Alice & Bob").build();
    println!(
        "1. Alice posts a contact request:\n{}\n",
        serde_json::to_string_pretty(&body)?
    );

    let created = bed.service.contact(&alice, &body).await?;
    println!(
        "2. The server answers 201 with the new box:\n{}\n",
        serde_json::to_string_pretty(&created)?
    );

    for step in ["3. Alice's socket receives", "4. Alice's socket receives"] {
        let frame = alice_socket
            .next()
            .await
            .ok_or("Alice's subscription ended")??;
        println!(
            "{step}:\n{}\n",
            serde_json::to_string_pretty(&frame.to_json())?
        );
    }
    let frame = bob_socket
        .next()
        .await
        .ok_or("Bob's subscription ended")??;
    println!(
        "5. Bob's socket receives:\n{}",
        serde_json::to_string_pretty(&frame.to_json())?
    );
    Ok(())
}
