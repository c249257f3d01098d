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

/// A webhook receiver: keeps every request's body and delivery id, and
/// answers 500 while told to fail.
pub struct Hook {
    pub addr: SocketAddr,
    failing: Arc<Mutex<u32>>,
    /// (answered status, delivery id, body) of each request.
    seen: Arc<Mutex<Vec<(u16, String, String)>>>,
}

impl Hook {
    /// Fails the first `failures` requests (`u32::MAX`: until told otherwise).
    pub fn start(failures: u32) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let failing = Arc::new(Mutex::new(failures));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (fail, log) = (failing.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let (mut length, mut delivery) = (0usize, String::new());
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    let lower = header.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if let Some(v) = lower.strip_prefix("x-deployflow-delivery:") {
                        delivery = v.trim().to_string();
                    }
                    header.clear();
                }
                let mut body = vec![0; length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let status = {
                    let mut failing = fail.lock().expect("failing");
                    if *failing > 0 {
                        if *failing != u32::MAX {
                            *failing -= 1;
                        }
                        500
                    } else {
                        200
                    }
                };
                log.lock().expect("seen").push((
                    status,
                    delivery,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Hook {
            addr,
            failing,
            seen,
        }
    }

    pub fn heal(&self) {
        *self.failing.lock().expect("failing") = 0;
    }

    /// The bodies it accepted (answered 200), parsed.
    pub fn delivered(&self) -> Vec<(String, serde_json::Value)> {
        self.seen
            .lock()
            .expect("seen")
            .iter()
            .filter(|(status, _, _)| *status == 200)
            .map(|(_, id, body)| (id.clone(), serde_json::from_str(body).unwrap_or_default()))
            .collect()
    }

    /// Every request it got, refused ones included.
    pub fn requests(&self) -> usize {
        self.seen.lock().expect("seen").len()
    }
}
