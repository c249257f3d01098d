//! A stand-in for a metrics endpoint (a Prometheus query API, a web JSON
//! endpoint): answers every request with one JSON body, and keeps each
//! request's target so a test can check what was asked.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

pub struct JsonServer {
    pub addr: SocketAddr,
    body: Arc<Mutex<String>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl JsonServer {
    pub fn start(body: &str) -> JsonServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let body = Arc::new(Mutex::new(body.to_string()));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (answer, seen) = (body.clone(), asked.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // The headers, up to the blank line.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let target = line.split_whitespace().nth(1).unwrap_or_default();
                seen.lock().expect("asked").push(target.to_string());
                let body = answer.lock().expect("body").clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JsonServer { addr, body, asked }
    }

    /// What it answers from now on.
    pub fn answer(&self, body: &str) {
        *self.body.lock().expect("body") = body.to_string();
    }

    /// Every request target so far (path and query).
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("asked").clone()
    }
}
