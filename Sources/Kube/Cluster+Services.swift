import Datapath
import Wire

/// Services and the node-level programs that make them work: kube-proxy (iptables mode) and
/// flanneld's masquerade rules, loaded into each node's netfilter with a conntrack table.
extension Cluster {
    /// kube-proxy's `conntrack.maxPerCore` default.
    public static let conntrackMaxPerCore = 32_768
    /// kube-proxy's `conntrack.min` default.
    public static let conntrackMin = 131_072
    /// The upper bound current kube-proxy applies (`pkg/proxy/conntrack`, `maxLimit`).
    public static let conntrackMaxLimit = 1_048_576

    /// `nf_conntrack_max` as kube-proxy sets it on a node with `cores` CPUs:
    /// max(32768 × cores, 131072), capped at 1048576 (k8s-datapath.md §7.3).
    public static func kubeProxyConntrackMax(cores: Int) -> Int {
        min(max(conntrackMaxPerCore * cores, conntrackMin), conntrackMaxLimit)
    }

    /// Adds a Service (its endpoints are resolved when the rules are programmed).
    public func addService(_ s: ServiceDefinition) {
        services.append(s)
    }

    /// Each Service with its endpoints: running pods matching its selector.
    public func serviceEndpoints() -> [ServiceEndpoints] {
        let running: [(definition: PodDefinition, ip: IPv4Address, nodeName: String, ready: Bool)] = pods.compactMap { p in
            guard p.phase == .running, let ip = p.ip, let node = p.nodeName else { return nil }
            return (p.definition, ip, node, true)
        }
        return services.map { Endpoints.resolve($0, pods: running) }
    }

    /// The rules node `node` runs: flanneld's (when the CNI is flannel), then kube-proxy's,
    /// which inserts its jumps at the top of the built-in chains — so its FORWARD jumps come
    /// before FLANNEL-FWD, as on a freshly booted node (REFERENCE.md §5.9 i1).
    public func ruleset(for node: Node, services: [ServiceEndpoints]? = nil) -> NetfilterRuleset {
        var rules = NetfilterRuleset()
        if configuration.network != .bridge {
            FlannelMasquerade.program(&rules, clusterCIDR: configuration.podSubnet, podCIDR: node.definition.podCIDR)
        }
        if configuration.kubeProxy {
            KubeProxy.program(&rules, services: services ?? serviceEndpoints(), nodeName: node.name,
                              configuration: KubeProxyConfiguration(clusterCIDR: configuration.podSubnet,
                                                                    nodeIPs: [node.definition.address.address]))
        }
        return rules
    }

    /// Programs every node: its ruleset, a conntrack table sized as kube-proxy sizes it (or,
    /// without kube-proxy, as the kernel sizes it for the board's memory), and br_netfilter on
    /// (`bridge-nf-call-iptables = 1`, which kube-proxy needs).
    public func programNodeNetfilter() throws(NetfilterError) {
        let services = serviceEndpoints()
        for n in nodes {
            let profile = n.definition.profile
            let max = configuration.conntrackMax
                ?? (configuration.kubeProxy ? profile.kubeProxyConntrackMax : profile.kernelConntrackMax)
            try world.enableNetfilter(n.netns, ruleset: ruleset(for: n, services: services), conntrackMax: max)
        }
    }
}
