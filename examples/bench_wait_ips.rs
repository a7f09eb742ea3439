//! For `scripts/bench/controller`: watches the Services of namespace `bench` and exits when
//! `N` (argv[1]) of them show an ingress IP, printing the wall-clock time of that moment as
//! `done_epoch=SECONDS`. It prints `ready` once its watch is established, so the caller can
//! start the controller after that. A watch costs the API server far less than polling a
//! list of thousands of Services, and it sees the last write at once. Uses $KUBECONFIG.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};

fn has_ip(s: &Service) -> bool {
    s.status.as_ref().and_then(|st| st.load_balancer.as_ref()).and_then(|lb| lb.ingress.as_ref()).is_some_and(|i| !i.is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).ok_or("usage: bench_wait_ips N")?.parse()?;
    let api: Api<Service> = Api::namespaced(Client::try_default().await?, "bench");
    let mut with_ip = HashSet::new();
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    while let Some(ev) = stream.next().await {
        match ev? {
            Event::InitDone => println!("ready"),
            Event::Apply(s) | Event::InitApply(s) => {
                if has_ip(&s) {
                    with_ip.insert(s.name_any());
                } else {
                    with_ip.remove(&s.name_any());
                }
            }
            Event::Delete(s) => {
                with_ip.remove(&s.name_any());
            }
            Event::Init => {}
        }
        if with_ip.len() >= n {
            let t = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
            println!("done_epoch={t:.3}");
            return Ok(());
        }
    }
    Err("watch ended".into())
}
