//! Runs `sockgate_redis::Emitter` operations against a cluster, for `e2e/cluster`:
//! `emit --redis redis://127.0.0.1:P '<json list of operations>'`, each operation
//! `{op, nsp?, to?, except?, ...}` with `op` one of `emit` (`event`, `args`, `binary`: a byte
//! list appended as a binary argument), `join` / `leave` (`rooms`), `disconnect` (`close`),
//! `sse` (`event`, `args`). Exits 0 once every operation was published. `--streams` writes to
//! the stream `socket.io` as `@socket.io/redis-streams-emitter` does, instead of publishing to
//! a classic cluster.

use bytes::Bytes;
use serde_json::Value;
use sockgate_proto::socketio::EventArg;
use sockgate_redis::{Emitter, FredConfig, FredDriver};

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let redis = args
        .iter()
        .position(|a| a == "--redis")
        .and_then(|i| args.get(i + 1))
        .ok_or("usage: emit --redis URL '<operations>'")?;
    let script: Value = serde_json::from_str(args.last().ok_or("no operations")?)?;
    let driver = FredDriver::connect(FredConfig::new(redis.as_str())).await?;
    let root = if args.iter().any(|a| a == "--streams") {
        Emitter::streams(driver.clone())
    } else {
        Emitter::new(driver.clone())
    };
    for op in script.as_array().ok_or("operations are a JSON list")? {
        let mut emitter = root.of(op["nsp"].as_str().unwrap_or("/"));
        emitter = emitter
            .to(strings(&op["to"]))
            .except(strings(&op["except"]));
        let event = op["event"].as_str().unwrap_or("event");
        match op["op"].as_str().unwrap_or_default() {
            "emit" => {
                let mut event_args: Vec<EventArg> = op["args"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(EventArg::Json)
                    .collect();
                if let Some(bytes) = op["binary"].as_array() {
                    let bytes: Vec<u8> = bytes
                        .iter()
                        .filter_map(|b| b.as_u64().map(|b| b as u8))
                        .collect();
                    event_args.push(EventArg::Binary(Bytes::from(bytes)));
                }
                emitter.emit_with_binary(event, event_args).await?;
            }
            "join" => emitter.sockets_join(strings(&op["rooms"])).await?,
            "leave" => emitter.sockets_leave(strings(&op["rooms"])).await?,
            "disconnect" => {
                emitter
                    .disconnect_sockets(op["close"].as_bool().unwrap_or(false))
                    .await?
            }
            "sse" => {
                let args = op["args"].as_array().cloned().unwrap_or_default();
                emitter.server_side_emit(event, args).await?
            }
            other => return Err(format!("unknown operation {other}").into()),
        }
    }
    driver.quit().await;
    Ok(())
}
