//! The controller passes run at the niceness asked for, while requests are still served at the
//! priority of the rest of the process.

use std::time::Duration;

use kube_sim::server::{SimCluster, SimOptions};

/// The niceness of every thread of this process, from `/proc/self/task/*/stat` (field 19).
fn thread_niceness() -> Vec<i32> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("the process's threads are listed");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .filter_map(|stat| {
            let rest = &stat[stat.rfind(')')? + 2..];
            rest.split(' ').nth(16)?.parse().ok()
        })
        .collect()
}

fn own_niceness() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("this thread's stat is readable");
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    rest.split(' ')
        .nth(16)
        .and_then(|n| n.parse().ok())
        .expect("stat has a niceness")
}

/// The status line of a plain GET of `path`.
async fn get_status(cluster: &SimCluster, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = cluster.addr().to_string();
    let mut stream = tokio::net::TcpStream::connect(cluster.addr())
        .await
        .expect("the API server listens");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("the request is sent");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("the answer is read");
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_passes_give_way_and_requests_do_not() {
    let start = own_niceness();
    let wanted = (start + 7).min(19);
    let options = SimOptions {
        controller_niceness: wanted,
        ..SimOptions::named("niceness")
    };
    let cluster = SimCluster::start(options).await.expect("the simulated cluster starts");
    // The fast profile ticks every 25 ms: a few passes have run after a quarter of a second.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let status = get_status(&cluster, "/api/v1/namespaces/default/pods").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "the API server answers");
    let niceness = thread_niceness();
    assert!(
        niceness.contains(&wanted),
        "no thread runs at niceness {wanted}: {niceness:?}"
    );
    assert!(
        niceness.iter().filter(|n| **n == start).count() >= 2,
        "the other threads keep the process's niceness {start}: {niceness:?}"
    );
    assert_eq!(own_niceness(), start);
    cluster.shutdown().await;
}
