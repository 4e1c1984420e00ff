//! What one configuration of the plugin fixes for the requests that run
//! under it: the compiled configuration and the identity of this proxy.
//! A request keeps the settings it started with, also across a
//! reconfiguration, until its record is built.

use crate::config::FilterConfig;
use crate::host::Host;

/// Identity of this proxy and of the workload it fronts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub proxy_id: String,
    pub workload: String,
    pub namespace: String,
}

impl Node {
    /// The configured overrides, else the Envoy node's id and metadata.
    pub fn read<H: Host>(host: &H, config: &FilterConfig) -> Node {
        Node {
            proxy_id: config
                .proxy_id
                .clone()
                .or_else(|| host.node_property(&["id"]))
                .unwrap_or_else(|| "unknown".to_string()),
            workload: config
                .destination
                .workload
                .clone()
                .or_else(|| host.node_property(&["metadata", "WORKLOAD_NAME"]))
                .unwrap_or_default(),
            namespace: config
                .destination
                .namespace
                .clone()
                .or_else(|| host.node_property(&["metadata", "NAMESPACE"]))
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
pub struct Settings {
    pub config: FilterConfig,
    pub node: Node,
}
