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

    /// Each Service with its endpoints: running pods matching its selector. Pods are found
    /// through an index of (namespace, label) rather than by scanning every pod per Service.
    public func serviceEndpoints() -> [ServiceEndpoints] {
        typealias Candidate = (definition: PodDefinition, ip: IPv4Address, nodeName: String, ready: Bool)
        var running: [Candidate] = []
        var byLabel: [LabelKey: [Int]] = [:]
        for p in pods {
            guard p.phase == .running, let ip = p.ip, let node = p.nodeName else { continue }
            for label in p.definition.labels {
                byLabel[LabelKey(namespace: p.definition.namespace, label: label), default: []].append(running.count)
            }
            running.append((p.definition, ip, node, true))
        }
        return services.map { service in
            // Candidates carry the selector's first label; `resolve` checks the rest. Pod
            // order is kept (indices ascend), though `resolve` sorts endpoints anyway.
            guard let first = service.selector.first else { return Endpoints.resolve(service, pods: []) }
            let candidates = byLabel[LabelKey(namespace: service.namespace, label: first)] ?? []
            return Endpoints.resolve(service, pods: candidates.map { running[$0] })
        }
    }

    private struct LabelKey: Hashable {
        var namespace: String
        var key: String
        var value: String
        init(namespace: String, label: Label) {
            self.namespace = namespace
            key = label.key
            value = label.value
        }
    }

    /// The rules node `node` runs: flanneld's (when the CNI is flannel), then kube-proxy's,
    /// which inserts its jumps at the top of the built-in chains — so its FORWARD jumps come
    /// before FLANNEL-FWD, as on a freshly booted node (REFERENCE.md §5.9 i1).
    public func ruleset(for node: Node, services: [ServiceEndpoints]? = nil) -> NetfilterRuleset {
        ruleset(for: node, kubeProxy: configuration.kubeProxy ? kubeProxySync(services ?? serviceEndpoints()) : nil)
    }

    private func kubeProxySync(_ services: [ServiceEndpoints]) -> KubeProxySync {
        KubeProxySync(services: services, configuration: KubeProxyConfiguration(clusterCIDR: configuration.podSubnet))
    }

    private func ruleset(for node: Node, kubeProxy: KubeProxySync?) -> NetfilterRuleset {
        var rules = NetfilterRuleset()
        if configuration.network != .bridge {
            FlannelMasquerade.program(&rules, clusterCIDR: configuration.podSubnet, podCIDR: node.definition.podCIDR)
        }
        kubeProxy?.program(&rules, nodeName: node.name, nodeIPs: [node.definition.address.address])
        return rules
    }

    /// Programs every node: its ruleset, a conntrack table sized as kube-proxy sizes it (or,
    /// without kube-proxy, as the kernel sizes it for the board's memory), and br_netfilter on
    /// (`bridge-nf-call-iptables = 1`, which kube-proxy needs).
    ///
    /// At scale (1,000 Services: ~17,000 nat rules per node) the nodes' rulesets are alike but
    /// for flanneld's pod-CIDR rule, so the work is shared: endpoints are resolved and
    /// kube-proxy's rules generated once (`KubeProxySync`, nodes share the rule arrays), and
    /// each ruleset is checked and compiled by patching the previous node's
    /// (`NetfilterRuleset.compile(reusing:)`).
    public func programNodeNetfilter() throws(NetfilterError) {
        let kubeProxy = configuration.kubeProxy ? kubeProxySync(serviceEndpoints()) : nil
        var previous: NetfilterRuleset?
        for n in nodes {
            let profile = n.definition.profile
            let max = configuration.conntrackMax
                ?? (configuration.kubeProxy ? profile.kubeProxyConntrackMax : profile.kernelConntrackMax)
            var rules = ruleset(for: n, kubeProxy: kubeProxy)
            try rules.compile(reusing: previous)
            try world.enableNetfilter(n.netns, ruleset: rules, conntrackMax: max)
            previous = rules
        }
    }
}
