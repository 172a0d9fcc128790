//! Connects to a running server's socket with a token and prints every update, reconnecting
//! with exponential backoff when the connection drops (the small tool an operator keeps at
//! hand).
//!
//! Run: `cargo run -p misakey-box-examples --example socket_listener -- ws://127.0.0.1:8080/box-users/ID/ws TOKEN`

use misakey_box_examples::listener::{Event, listen};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, token] = args.as_slice() else {
        eprintln!("usage: socket_listener ws://HOST:PORT/box-users/IDENTITY_ID/ws ACCESS_TOKEN");
        std::process::exit(2);
    };
    let print = |event| match event {
        Event::Connected => eprintln!("connected to {url}"),
        Event::Update(update) => println!(
            "{}",
            serde_json::to_string_pretty(&update).unwrap_or_default()
        ),
        Event::Ended(why) => eprintln!("{why}"),
        Event::Reconnecting(after) => eprintln!("reconnecting in {after:?}"),
    };
    tokio::select! {
        () = listen(url, token, None, print) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
