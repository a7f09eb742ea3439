//! The raw limit for `scripts/bench/controller`: one client PUTs `status.loadBalancer` of every
//! Service in namespace `bench`, one request after another, as fast as the API server takes
//! them (what a single-worker controller could at best do). Uses $KUBECONFIG (admin).
//! Prints `puts=N seconds=S`.

use std::time::Instant;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Service};
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_default().await?;
    let api: Api<Service> = Api::namespaced(client, "bench");
    let services = api.list(&ListParams::default()).await?.items;
    let t = Instant::now();
    for (i, mut svc) in services.into_iter().enumerate() {
        let ip = format!("2001:db8:1::{:x}", i + 1);
        let status = svc.status.get_or_insert_with(Default::default);
        status.load_balancer =
            Some(LoadBalancerStatus { ingress: Some(vec![LoadBalancerIngress { ip: Some(ip), ..Default::default() }]) });
        api.replace_status(&svc.name_any(), &PostParams::default(), &svc).await?;
    }
    println!("puts={} seconds={:.2}", api.list(&ListParams::default()).await?.items.len(), t.elapsed().as_secs_f64());
    Ok(())
}
