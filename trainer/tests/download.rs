//! `download` against a local HTTP server on 127.0.0.1 serving a small archive made here.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::thread;

use md5::Md5;
use sha2::{Digest, Sha256};

/// Serves `body` at `/cifar.tar.gz` (404 elsewhere) for exactly `requests` requests.
fn serve(body: Vec<u8>, requests: usize) -> (String, thread::JoinHandle<()>) {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let address = format!("http://{}", server.server_addr().to_ip().unwrap());
    let handle = thread::spawn(move || {
        for _ in 0..requests {
            let Ok(Some(request)) = server.recv_timeout(std::time::Duration::from_secs(60)) else {
                return;
            };
            let response = if request.url() == "/cifar.tar.gz" {
                tiny_http::Response::from_data(body.clone())
            } else {
                tiny_http::Response::from_data(b"no such file".to_vec()).with_status_code(404)
            };
            let _ = request.respond(response);
        }
    });
    (address, handle)
}

fn download(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("download")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn downloads_verifies_and_unpacks() {
    let temp = tempfile::tempdir().unwrap();
    let archive = common::write_archive(temp.path(), 3, 4);
    let body = std::fs::read(&archive).unwrap();
    let sha256 = hex::encode(Sha256::digest(&body));
    let md5 = hex::encode(Md5::digest(&body));
    let (address, server) = serve(body, 4);
    let url = format!("{address}/cifar.tar.gz");

    // Wrong checksum: an error, and nothing appears in the target folder.
    let bad_to = temp.path().join("bad");
    let output = download(&[
        "--to",
        bad_to.to_str().unwrap(),
        "--url",
        &url,
        "--sha256",
        &"0".repeat(64),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("SHA-256") && stderr.contains(&sha256),
        "{stderr}"
    );
    assert!(!bad_to.join("cifar-10-batches-bin").exists());
    assert!(!bad_to.join("cifar-10-binary.tar.gz").exists());

    // Right SHA-256, then right MD5.
    for (flag, digest, folder) in [("--sha256", &sha256, "good"), ("--md5", &md5, "good-md5")] {
        let to = temp.path().join(folder);
        let output = download(&["--to", to.to_str().unwrap(), "--url", &url, flag, digest]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let data = cifar_trainer::data::Cifar10::load(&to, Default::default()).unwrap();
        assert_eq!((data.train.len(), data.test.len()), (15, 4));
    }

    // A missing file on the server.
    let output = download(&[
        "--to",
        temp.path().join("404").to_str().unwrap(),
        "--url",
        &format!("{address}/other"),
        "--no-verify",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("/other"), "{stderr}");
    server.join().unwrap();
}

/// Answers one request with the headers of the whole `body` but only its first half, then hangs
/// up: a connection lost mid-download.
fn serve_cut_short(body: Vec<u8>) -> (String, thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body[..body.len() / 2]);
        let _ = stream.flush();
    });
    (address, handle)
}

#[test]
fn a_download_cut_short_is_an_error_and_leaves_nothing_behind() {
    let temp = tempfile::tempdir().unwrap();
    let archive = common::write_archive(temp.path(), 30, 40);
    let body = std::fs::read(&archive).unwrap();
    assert!(body.len() > 2_000, "big enough to cut: {}", body.len());
    let (address, server) = serve_cut_short(body);
    let to = temp.path().join("data");
    let output = download(&[
        "--to",
        to.to_str().unwrap(),
        "--url",
        &format!("{address}/cifar.tar.gz"),
        "--no-verify",
    ]);
    server.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("cifar.tar.gz"),
        "names the download: {stderr}"
    );
    // No partial archive, no temporary file, no half-unpacked folder.
    let left: Vec<_> = std::fs::read_dir(&to)
        .map(|entries| entries.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}
