import Datapath
import Wire

/// kube-proxy in iptables mode, as data: the filter and nat rules one node's kube-proxy (and,
/// for the few chains it owns, the kubelet) programs for a set of Services and endpoints.
///
/// Source for every rule: `kubernetes/kubernetes:pkg/proxy/iptables/proxier.go`, v1.28
/// generation (read at `kevinhehc/k8s-1.28@804fd5ef`; the v1.30-era copy at
/// `danwinship/kubernetes@07c76c3a` writes the same rules), with k8s-datapath.md §6 and the
/// kernel reference's `pi-N.iptables-save.after.txt` as the check. Quoted names below
/// (`syncProxyRules`, `writeServiceToEndpointRules`, `CategorizeEndpoints`, …) are that code's.
///
/// What is modelled of kube-proxy's inputs: ClusterIP and NodePort Services, the Cluster and
/// Local external traffic policies, ClientIP session affinity, endpoint readiness. Not
/// modelled (the Service model has no field for them): externalIPs, LoadBalancer IPs and
/// `loadBalancerSourceRanges` (`KUBE-FW-`, `KUBE-PROXY-FIREWALL` stays empty),
/// `healthCheckNodePort`, `internalTrafficPolicy: Local`, topology hints, serving-but-
/// terminating endpoints, headless Services, the mangle table (`KUBE-IPTABLES-HINT` and the
/// mangle canaries), partial syncs and the conntrack cleanup that follows a sync.
public struct KubeProxyConfiguration: Sendable {
    /// `--cluster-cidr`: enables the local-traffic detector (`LocalTrafficDetector` by
    /// cluster CIDR), hence `! -s clusterCIDR -j KUBE-MARK-MASQ` in each `KUBE-SVC-` chain and
    /// the "pod traffic" short-circuit in Local-policy `KUBE-EXT-` chains.
    public var clusterCIDR: IPv4Network?
    /// `--iptables-masquerade-bit`: the mark is `1 << bit` (0x4000 for 14).
    public var masqueradeBit: Int = 14
    /// `--masquerade-all`: mark every ClusterIP connection for SNAT.
    public var masqueradeAll: Bool = false
    /// `--nodeport-addresses`. Empty: NodePorts on every local address
    /// (`-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`); otherwise one `-d <ip>/32` rule per
    /// address of `nodeIPs` inside these networks (proxier.go: `nodePortAddresses.GetNodeIPs`).
    public var nodePortAddresses: [IPv4Network] = []
    /// The node's own interface addresses, which kube-proxy reads from the kernel to expand
    /// `nodePortAddresses`; unused when that is empty.
    public var nodeIPs: [IPv4Address] = []
    /// Above this many endpoints in total, comments are left out of `KUBE-SEP-` rules and of
    /// the per-endpoint `KUBE-SVC-`/`KUBE-SVL-` rules (`largeClusterMode`).
    public var largeClusterEndpointsThreshold = 1000
    /// `iptables.HasRandomFully()`: `MASQUERADE --random-fully` in `KUBE-POSTROUTING`
    /// (iptables ≥ 1.6.2; the reference's 1.8.9 has it).
    public var randomFully: Bool = true

    public init(clusterCIDR: IPv4Network? = nil, masqueradeBit: Int = 14, masqueradeAll: Bool = false,
                nodePortAddresses: [IPv4Network] = [], nodeIPs: [IPv4Address] = [],
                largeClusterEndpointsThreshold: Int = 1000, randomFully: Bool = true) {
        precondition((0...31).contains(masqueradeBit), "masquerade bit \(masqueradeBit) out of 0...31")
        self.clusterCIDR = clusterCIDR
        self.masqueradeBit = masqueradeBit
        self.masqueradeAll = masqueradeAll
        self.nodePortAddresses = nodePortAddresses
        self.nodeIPs = nodeIPs
        self.largeClusterEndpointsThreshold = largeClusterEndpointsThreshold
        self.randomFully = randomFully
    }

    /// `masqueradeValue := 1 << uint(masqueradeBit)`.
    public var masqueradeMark: UInt32 { UInt32(1) << UInt32(masqueradeBit) }

    /// `localhostNodePorts` (default true) survives only if the NodePort addresses include
    /// IPv4 loopback (`NewProxier`: `if !nodePortAddresses.ContainsIPv4Loopback() {
    /// localhostNodePorts = false }`); an empty list matches all addresses, loopback included.
    var localhostNodePorts: Bool {
        nodePortAddresses.isEmpty
            || nodePortAddresses.contains { $0.network.isLoopback || $0.contains(IPv4Address(127, 0, 0, 0)) }
    }
}

public enum KubeProxy {
    public static let servicesChain = "KUBE-SERVICES"
    public static let externalServicesChain = "KUBE-EXTERNAL-SERVICES"
    public static let nodePortsChain = "KUBE-NODEPORTS"
    public static let postroutingChain = "KUBE-POSTROUTING"
    public static let markMasqueradeChain = "KUBE-MARK-MASQ"
    public static let forwardChain = "KUBE-FORWARD"
    public static let proxyFirewallChain = "KUBE-PROXY-FIREWALL"
    /// Created by `iptables.Monitor` to notice a flush of the tables (kube-proxy's canary).
    public static let proxyCanaryChain = "KUBE-PROXY-CANARY"
    /// The kubelet's anti-martian chain (kube-proxy writes an identical copy of its rule).
    public static let firewallChain = "KUBE-FIREWALL"
    /// The kubelet's own canary (`pkg/kubelet/kubelet_network_linux.go`, `initNetworkUtil`).
    public static let kubeletCanaryChain = "KUBE-KUBELET-CANARY"

    /// Programs everything `syncProxyRules` (a full sync) writes for this node into `ruleset`,
    /// after the kubelet's own chains, since the kubelet starts first on a node:
    ///
    /// 1. kubelet (`syncIPTablesRules`): `KUBE-FIREWALL` with its localnet DROP rule and the
    ///    INPUT/OUTPUT jumps, `KUBE-KUBELET-CANARY`.
    /// 2. kube-proxy's jumps from the built-in chains, each *prepended* unless already present
    ///    (`EnsureRule(utiliptables.Prepend, …)` over `iptablesJumpChains`), so they end up
    ///    in reverse list order above whatever was there; `KUBE-PROXY-CANARY`.
    /// 3. The `iptables-restore --noflush` payload: every chain it declares is created or
    ///    flushed and refilled; `KUBE-SVC/SVL/EXT/FW/SEP-` chains in nat that this sync did
    ///    not write are deleted. Running `program` again with the same input is a no-op.
    ///
    /// Services are handled in `services` order, ports in spec order (kube-proxy walks a Go
    /// map, so a real node's order of `KUBE-SERVICES` rules between Services is arbitrary).
    /// Endpoints are re-sorted by `"ip:port"` and de-duplicated as kube-proxy's endpoint
    /// cache does, whatever order `services` gives them in.
    public static func program(_ ruleset: inout NetfilterRuleset, services: [ServiceEndpoints], nodeName: String,
                               configuration: KubeProxyConfiguration) {
        KubeProxySync(services: services, configuration: configuration)
            .program(&ruleset, nodeName: nodeName, nodeIPs: configuration.nodeIPs)
    }

    /// `computeProbability(n)`: `fmt.Sprintf("%0.10f", 1.0/float64(n))` — the value kube-proxy
    /// hands iptables, rounded to 10 decimals (1/3 → 0.3333333333; ties to even as Go's exact
    /// formatting does, 1/2048 → 0.0004882812). The kernel then stores `lround(p × 2³¹)`,
    /// which iptables-save prints with `%.11f`.
    public static func probability(_ n: Int) -> Double {
        (1.0 / Double(n) * 1e10).rounded(.toNearestOrEven) / 1e10
    }
}

/// kube-proxy's sync for one set of Services, prepared once for every node of a cluster
/// (`KubeProxy.program` for one node is `KubeProxySync(…).program(…)`).
///
/// What a node's sync writes depends on the node only through `externalTrafficPolicy:
/// Local` (a `KUBE-SVL-` chain lists that node's endpoints) and `nodePortAddresses` (one
/// `KUBE-NODEPORTS` jump per node address). Everything else — the Service ports' plans, their
/// chain names (SHA-256 hashes), the `iptables-restore` payload — is computed once here, and
/// nodes that get the same payload share it, rule arrays included: with 1,000 Services the
/// payload has ~17,000 nat rules, and 250 nodes would otherwise each build (and keep) a copy.
public final class KubeProxySync {
    let configuration: KubeProxyConfiguration
    let ports: [ServicePortPlan]
    let largeCluster: Bool
    /// Some port has `externalTrafficPolicy: Local`: the payload depends on the node's name.
    let dependsOnNodeName: Bool
    /// The last payload made, with what it depended on (nodes arrive one after the other,
    /// so one entry is enough to share it between every node that gets the same).
    private var last: (nodeName: String?, nodeIPs: [IPv4Address]?, restore: KubeProxy.Restore)?
    /// The last payload's last load per table: the table before and after.
    private var loaded: [(before: NetfilterTable, after: NetfilterTable)?] = [nil, nil]

    /// `configuration.nodeIPs` is ignored: `program` takes each node's.
    public init(services: [ServiceEndpoints], configuration: KubeProxyConfiguration) {
        self.configuration = configuration
        ports = services.flatMap { ServicePortPlan.plans(for: $0) }
        let totalEndpoints = ports.reduce(0) { $0 + $1.allEndpoints.count }
        largeCluster = totalEndpoints > configuration.largeClusterEndpointsThreshold
        dependsOnNodeName = ports.contains { $0.externalPolicyLocal }
    }

    /// Programs what `syncProxyRules` writes on node `nodeName` (addresses `nodeIPs`) into
    /// `ruleset`; see `KubeProxy.program`.
    public func program(_ ruleset: inout NetfilterRuleset, nodeName: String, nodeIPs: [IPv4Address]) {
        KubeProxy.ensureKubeletChains(&ruleset)
        KubeProxy.ensureJumpChains(&ruleset)
        let restore = restore(nodeName: nodeName, nodeIPs: nodeIPs)
        ruleset.filter = load(restore, .filter, into: ruleset.filter)
        ruleset.nat = load(restore, .nat, into: ruleset.nat)
    }

    /// `restore.apply` for one table, replayed from the previous node's load when this node's
    /// table has the same chains: restoring rebuilds a table of thousands of chains, while the
    /// tables of two nodes differ in a chain or two (flanneld's `FLANNEL-POSTRTG` names the
    /// node's pod CIDR).
    private func load(_ restore: KubeProxy.Restore, _ table: NetfilterTableName, into before: NetfilterTable) -> NetfilterTable {
        let t = table == .filter ? 0 : 1
        if let memo = loaded[t], let after = Self.replay(memo, on: before, payload: table == .filter ? restore.filter : restore.nat) {
            return after
        }
        var ruleset = NetfilterRuleset()
        ruleset[table] = before
        if table == .filter { restore.applyFilter(to: &ruleset) } else { restore.applyNAT(to: &ruleset) }
        loaded[t] = (before, ruleset[table])
        return ruleset[table]
    }

    /// What loading the payload into `before` gives, from `memo` (the same payload loaded
    /// into `memo.before`), when `before` has the same chains in the same order with the
    /// same policies: the chains the payload leaves alone take `before`'s rules. Nil when the
    /// chains differ otherwise.
    private static func replay(_ memo: (before: NetfilterTable, after: NetfilterTable), on before: NetfilterTable,
                               payload: KubeProxy.RestoreTable) -> NetfilterTable? {
        guard before.chains.count == memo.before.chains.count else { return nil }
        var after = memo.after
        for c in before.chains.indices {
            let old = memo.before.chains[c], new = before.chains[c]
            guard old.name == new.name, old.policy == new.policy else { return nil }
            // Rewritten by the payload, deleted as stale, or unchanged: as in `memo.after`.
            if old.rules == new.rules || payload.isDeclared(new.name) || after.chainIndex(named: new.name) == nil { continue }
            after.setRules(new.rules, of: new.name)
        }
        return after
    }

    func restore(nodeName: String, nodeIPs: [IPv4Address]) -> KubeProxy.Restore {
        let nameKey = dependsOnNodeName ? nodeName : nil
        let ipsKey = configuration.nodePortAddresses.isEmpty ? nil : nodeIPs
        if let last, last.nodeName == nameKey, last.nodeIPs == ipsKey { return last.restore }
        loaded = [nil, nil]
        var configuration = self.configuration
        configuration.nodeIPs = nodeIPs
        var restore = KubeProxy.Restore()
        KubeProxy.writeFixedChains(&restore, configuration)
        for plan in ports {
            let onNode = plan.externalPolicyLocal ? plan.on(node: nodeName) : plan
            KubeProxy.writeServicePort(onNode, into: &restore, configuration, largeCluster: largeCluster)
        }
        KubeProxy.writeNodePortsJump(&restore, configuration)
        KubeProxy.writeForwardChain(&restore, configuration)
        last = (nameKey, ipsKey, restore)
        return restore
    }
}

// MARK: - Built-in chain jumps

extension KubeProxy {
    /// One `iptablesJumpChain`: `-A <source> [ctstate NEW] [-m comment] -j <destination>`.
    struct JumpChain {
        let table: NetfilterTableName
        let destination: String
        let source: NetfilterHook
        let comment: String?
        let newOnly: Bool

        var rule: NetfilterRule {
            var matches: [NetfilterMatch] = newOnly ? [.conntrackState(.new, negated: false)] : []
            if let comment { matches.append(.comment(comment)) }
            return NetfilterRule(matches: matches, target: .jump(destination))
        }
    }

    /// `iptablesJumpChains`, in proxier.go's order (which decides the final order: each is
    /// prepended). One deliberate difference: proxier.go's comment is "kubernetes
    /// externally-visible service portals" (hyphen, v1.28 and v1.30 alike); the kernel
    /// reference's rules — podwire's oracle — say "externally visible", and so do we.
    static let jumpChains: [JumpChain] = [
        JumpChain(table: .filter, destination: externalServicesChain, source: .input,
                  comment: "kubernetes externally visible service portals", newOnly: true),
        JumpChain(table: .filter, destination: externalServicesChain, source: .forward,
                  comment: "kubernetes externally visible service portals", newOnly: true),
        JumpChain(table: .filter, destination: nodePortsChain, source: .input,
                  comment: "kubernetes health check service ports", newOnly: false),
        JumpChain(table: .filter, destination: servicesChain, source: .forward,
                  comment: "kubernetes service portals", newOnly: true),
        JumpChain(table: .filter, destination: servicesChain, source: .output,
                  comment: "kubernetes service portals", newOnly: true),
        JumpChain(table: .filter, destination: forwardChain, source: .forward,
                  comment: "kubernetes forwarding rules", newOnly: false),
        JumpChain(table: .filter, destination: proxyFirewallChain, source: .input,
                  comment: "kubernetes load balancer firewall", newOnly: true),
        JumpChain(table: .filter, destination: proxyFirewallChain, source: .output,
                  comment: "kubernetes load balancer firewall", newOnly: true),
        JumpChain(table: .filter, destination: proxyFirewallChain, source: .forward,
                  comment: "kubernetes load balancer firewall", newOnly: true),
        JumpChain(table: .nat, destination: servicesChain, source: .output,
                  comment: "kubernetes service portals", newOnly: false),
        JumpChain(table: .nat, destination: servicesChain, source: .prerouting,
                  comment: "kubernetes service portals", newOnly: false),
        JumpChain(table: .nat, destination: postroutingChain, source: .postrouting,
                  comment: "kubernetes postrouting rules", newOnly: false),
    ]

    /// `iptablesKubeletJumpChains`: kube-proxy re-ensures the kubelet's two jumps, uncommented.
    static let kubeletJumpChains: [JumpChain] = [
        JumpChain(table: .filter, destination: firewallChain, source: .input, comment: nil, newOnly: false),
        JumpChain(table: .filter, destination: firewallChain, source: .output, comment: nil, newOnly: false),
    ]

    /// `EnsureChain` + `EnsureRule(Prepend, …)`: insert at the top unless the rule exists.
    static func ensurePrepended(_ jump: JumpChain, in ruleset: inout NetfilterRuleset) {
        ruleset[jump.table].addChain(jump.destination)
        let rule = jump.rule
        if ruleset[jump.table].chain(named: jump.source.chainName)?.rules.contains(rule) != true {
            ruleset[jump.table].insert(rule, into: jump.source.chainName, at: 0)
        }
    }

    /// The sync's first step (`if !tryPartialSync`): the jumps, then the canary chains that
    /// `iptables.Monitor` creates in nat and filter.
    static func ensureJumpChains(_ ruleset: inout NetfilterRuleset) {
        for jump in jumpChains + kubeletJumpChains { ensurePrepended(jump, in: &ruleset) }
        ruleset.filter.addChain(proxyCanaryChain)
        ruleset.nat.addChain(proxyCanaryChain)
    }

    /// The kubelet's part (`pkg/kubelet/kubelet_network_linux.go`, `syncIPTablesRules` and
    /// `initNetworkUtil`, v1.28): `KUBE-FIREWALL`, OUTPUT then INPUT prepending a jump to it,
    /// the localnet DROP rule appended if missing, and the `KUBE-KUBELET-CANARY` chains.
    static func ensureKubeletChains(_ ruleset: inout NetfilterRuleset) {
        ruleset.filter.addChain(firewallChain)
        ensurePrepended(kubeletJumpChains[1], in: &ruleset)
        ensurePrepended(kubeletJumpChains[0], in: &ruleset)
        let drop = localnetDropRule
        if ruleset.filter.chain(named: firewallChain)?.rules.contains(drop) != true {
            ruleset.filter.append(drop, to: firewallChain)
        }
        ruleset.filter.addChain(kubeletCanaryChain)
        ruleset.nat.addChain(kubeletCanaryChain)
    }

    /// "block incoming localnet connections" (issue 90259): with `route_localnet=1`, drop
    /// packets to 127/8 from elsewhere unless they belong to a DNATed or known connection.
    static var localnetDropRule: NetfilterRule {
        let loopback = IPv4Network(address: IPv4Address(127, 0, 0, 0), prefixLength: 8)
        return NetfilterRule(source: AddressMatch(loopback, negated: true), destination: AddressMatch(loopback),
                             matches: [.comment("block incoming localnet connections"),
                                       .conntrackState([.related, .established, .dnat], negated: true)],
                             target: .drop)
    }
}

// MARK: - The restore payload: fixed chains

extension KubeProxy {
    /// The top-level chains every sync declares (so flushes) and the rules that never depend
    /// on Services: `KUBE-POSTROUTING`, `KUBE-MARK-MASQ` and, with localhost NodePorts,
    /// kube-proxy's copy of `KUBE-FIREWALL`.
    static func writeFixedChains(_ restore: inout Restore, _ configuration: KubeProxyConfiguration) {
        for chain in [servicesChain, externalServicesChain, forwardChain, nodePortsChain, proxyFirewallChain] {
            restore.filter.declare(chain)
        }
        for chain in [servicesChain, nodePortsChain, postroutingChain, markMasqueradeChain] {
            restore.nat.declare(chain)
        }
        let mark = configuration.masqueradeMark
        restore.nat.append(NetfilterRule(matches: [.mark(value: mark, mask: mark, negated: true)],
                                         target: .returnFromChain), to: postroutingChain)
        // `--xor-mark`: clear the bit so a packet that re-traverses the stack is not SNATed twice.
        restore.nat.append(NetfilterRule(target: .mark(value: mark, mask: 0)), to: postroutingChain)
        restore.nat.append(NetfilterRule(matches: [.comment("kubernetes service traffic requiring SNAT")],
                                         target: .masquerade(ports: nil, randomFully: configuration.randomFully)),
                           to: postroutingChain)
        // `--or-mark`.
        restore.nat.append(NetfilterRule(target: .mark(value: mark, mask: mark)), to: markMasqueradeChain)
        if configuration.localhostNodePorts {
            restore.filter.append(localnetDropRule, to: firewallChain)
        }
    }

    /// "Finally, tail-call to the nodePorts chain": the last rule of nat `KUBE-SERVICES`.
    static func writeNodePortsJump(_ restore: inout Restore, _ configuration: KubeProxyConfiguration) {
        let comment = NetfilterMatch.comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
        if configuration.nodePortAddresses.isEmpty {
            let loopback = IPv4Network(address: IPv4Address(127, 0, 0, 0), prefixLength: 8)
            restore.nat.append(NetfilterRule(destination: configuration.localhostNodePorts
                                                 ? nil : AddressMatch(loopback, negated: true),
                                             matches: [comment, .destinationAddressType(.local, negated: false)],
                                             target: .jump(nodePortsChain)), to: servicesChain)
            return
        }
        let nodeIPs = configuration.nodeIPs.filter { ip in
            configuration.nodePortAddresses.contains { $0.contains(ip) }
                && (!ip.isLoopback || configuration.localhostNodePorts)
        }
        for ip in nodeIPs {
            restore.nat.append(NetfilterRule(destination: AddressMatch(IPv4Network(address: ip, prefixLength: 32)),
                                             matches: [comment], target: .jump(nodePortsChain)), to: servicesChain)
        }
    }

    /// `KUBE-FORWARD`: drop conntrack-INVALID packets (issue 74839), accept what kube-proxy
    /// marked for masquerade (NodePort traffic even under a DROP FORWARD policy), and the
    /// rest of those connections.
    static func writeForwardChain(_ restore: inout Restore, _ configuration: KubeProxyConfiguration) {
        let mark = configuration.masqueradeMark
        restore.filter.append(NetfilterRule(matches: [.conntrackState(.invalid, negated: false)], target: .drop),
                              to: forwardChain)
        restore.filter.append(NetfilterRule(matches: [.comment("kubernetes forwarding rules"),
                                                      .mark(value: mark, mask: mark, negated: false)],
                                            target: .accept), to: forwardChain)
        restore.filter.append(NetfilterRule(matches: [.comment("kubernetes forwarding conntrack rule"),
                                                      .conntrackState([.related, .established], negated: false)],
                                            target: .accept), to: forwardChain)
    }
}

// MARK: - Per Service port

/// One Service port as `syncProxyRules` sees it after `CategorizeEndpoints`
/// (`pkg/proxy/topology.go`), with its chain names.
struct ServicePortPlan {
    let service: ServiceDefinition
    let port: ServicePort
    /// `svcPortNameString`: "ns/name:port".
    let name: String
    /// Lower-case protocol name (`-m udp -p udp`).
    let protocolName: String
    let clusterPolicyChain: String
    let localPolicyChain: String
    let externalChain: String
    /// Every endpoint of the port, sorted by "ip:port" (counts towards large-cluster mode).
    let allEndpoints: [Endpoint]
    /// Ready endpoints anywhere (Cluster policy). Also `allLocallyReachableEndpoints`: with
    /// neither topology nor terminating endpoints in play it is the superset.
    let clusterEndpoints: [Endpoint]
    /// `KUBE-SEP-` chain of each of `clusterEndpoints` (SHA-256 names, computed once).
    let clusterEndpointChains: [String]
    /// Ready endpoints on this node, when the Local policy is in use (`on(node:)` fills it).
    var localEndpoints: [Endpoint] = []
    /// `svcInfo.ExternallyAccessible()`: has a NodePort.
    let externallyAccessible: Bool
    /// `svcInfo.ExternalPolicyLocal()`: externally accessible and `externalTrafficPolicy: Local`.
    let externalPolicyLocal: Bool

    /// The service has a usable endpoint somewhere in the cluster.
    var hasEndpoints: Bool { !clusterEndpoints.isEmpty }
    /// External traffic has somewhere to go (any endpoint, or a local one under Local).
    var hasExternalEndpoints: Bool { hasEndpoints && (!externalPolicyLocal || !localEndpoints.isEmpty) }
    var usesLocalPolicyChain: Bool { externalPolicyLocal && !localEndpoints.isEmpty }
    var usesExternalChain: Bool { hasEndpoints && externallyAccessible }
    /// The session-affinity timeout, when `sessionAffinity: ClientIP`.
    var affinitySeconds: Int? {
        if case .clientIP(let seconds) = service.sessionAffinity { return seconds }
        return nil
    }

    func endpointChain(_ endpoint: Endpoint) -> String {
        if let i = clusterEndpoints.firstIndex(of: endpoint) { return clusterEndpointChains[i] }
        return KubeProxy.endpointChainName(servicePortName: name, protocol: protocolName,
                                           endpoint: Endpoints.endpointString(endpoint))
    }

    /// This plan as node `nodeName` sees it: under the Local policy, its own ready endpoints.
    func on(node nodeName: String) -> ServicePortPlan {
        var plan = self
        plan.localEndpoints = externalPolicyLocal ? clusterEndpoints.filter { $0.nodeName == nodeName } : []
        return plan
    }

    /// The entry's ports, for no node in particular (`on(node:)` adds the node's view).
    static func plans(for entry: ServiceEndpoints) -> [ServicePortPlan] {
        let service = entry.service
        return service.ports.indices.map { i in
            let port = service.ports[i]
            let name = KubeProxy.servicePortName(service, port)
            let proto = KubeProxy.protocolName(port.protocol)
            let all = Endpoints.sortedUnique(i < entry.endpoints.count ? entry.endpoints[i] : [])
            let accessible = (port.nodePort ?? 0) != 0
            let policyLocal = accessible && service.type == .nodePort && service.externalTrafficPolicy == .local
            let ready = all.filter(\.ready)
            return ServicePortPlan(
                service: service, port: port, name: name, protocolName: proto,
                clusterPolicyChain: KubeProxy.serviceChainName(prefix: KubeProxy.clusterPolicyChainPrefix,
                                                               servicePortName: name, protocol: proto),
                localPolicyChain: KubeProxy.serviceChainName(prefix: KubeProxy.localPolicyChainPrefix,
                                                             servicePortName: name, protocol: proto),
                externalChain: KubeProxy.serviceChainName(prefix: KubeProxy.externalChainPrefix,
                                                          servicePortName: name, protocol: proto),
                allEndpoints: all, clusterEndpoints: ready,
                clusterEndpointChains: ready.map {
                    KubeProxy.endpointChainName(servicePortName: name, protocol: proto, endpoint: Endpoints.endpointString($0))
                },
                externallyAccessible: accessible, externalPolicyLocal: policyLocal)
        }
    }
}

extension KubeProxy {
    /// The loop body of `syncProxyRules` for one Service port.
    static func writeServicePort(_ plan: ServicePortPlan, into restore: inout Restore,
                                 _ configuration: KubeProxyConfiguration, largeCluster: Bool) {
        // natChains order: EXT, (FW), SVC, SVL, then the SEPs.
        if plan.usesExternalChain { restore.nat.declare(plan.externalChain) }
        if plan.hasEndpoints { restore.nat.declare(plan.clusterPolicyChain) }
        if plan.usesLocalPolicyChain { restore.nat.declare(plan.localPolicyChain) }
        for sep in plan.clusterEndpointChains { restore.nat.declare(sep) }

        writeServiceEntryRules(plan, into: &restore)
        writeInternalMasquerade(plan, into: &restore, configuration)
        writeExternalChain(plan, into: &restore, configuration)
        if plan.hasEndpoints {
            writeEndpointDispatch(plan, chain: plan.clusterPolicyChain, endpoints: plan.clusterEndpoints,
                                  chains: plan.clusterEndpointChains, into: &restore, largeCluster: largeCluster)
        }
        if plan.usesLocalPolicyChain {
            writeEndpointDispatch(plan, chain: plan.localPolicyChain, endpoints: plan.localEndpoints,
                                  chains: plan.localEndpoints.map(plan.endpointChain), into: &restore,
                                  largeCluster: largeCluster)
        }
        writeEndpointChains(plan, into: &restore, largeCluster: largeCluster)
    }

    /// `-m <proto> --dport <port>` as iptables-save prints it after the comment.
    static func portMatch(_ plan: ServicePortPlan, destination: UInt16?) -> NetfilterMatch {
        .ports(protocol: plan.port.protocol, source: nil, destination: destination.map { PortMatch($0) })
    }

    /// Where traffic enters: nat `KUBE-SERVICES` (ClusterIP) and `KUBE-NODEPORTS` when there
    /// are endpoints; otherwise filter `KUBE-SERVICES` REJECT ("has no endpoints") and, for a
    /// NodePort, filter `KUBE-EXTERNAL-SERVICES` REJECT — or DROP "has no local endpoints"
    /// when only the Local policy leaves external traffic without a target.
    static func writeServiceEntryRules(_ plan: ServicePortPlan, into restore: inout Restore) {
        let clusterIP = AddressMatch(IPv4Network(address: plan.service.clusterIP, prefixLength: 32))
        let proto = ProtocolMatch(plan.port.protocol)
        let dport = portMatch(plan, destination: plan.port.port)
        if plan.hasEndpoints {
            restore.nat.append(NetfilterRule(destination: clusterIP, protocol: proto,
                                             matches: [.comment("\(plan.name) cluster IP"), dport],
                                             target: .jump(plan.clusterPolicyChain)), to: servicesChain)
        } else {
            // `-j REJECT` without `--reject-with`: the default, icmp-port-unreachable.
            restore.filter.append(NetfilterRule(destination: clusterIP, protocol: proto,
                                                matches: [.comment("\(plan.name) has no endpoints"), dport],
                                                target: .reject(.icmpPortUnreachable)), to: servicesChain)
        }
        guard let nodePort = plan.port.nodePort, nodePort != 0 else { return }
        let nodePortMatch = portMatch(plan, destination: nodePort)
        if plan.hasEndpoints {
            restore.nat.append(NetfilterRule(protocol: proto, matches: [.comment(plan.name), nodePortMatch],
                                             target: .jump(plan.externalChain)), to: nodePortsChain)
        }
        if !plan.hasExternalEndpoints {
            let (comment, target): (String, NetfilterTarget) = plan.hasEndpoints
                ? ("\(plan.name) has no local endpoints", .drop)
                : ("\(plan.name) has no endpoints", .reject(.icmpPortUnreachable))
            restore.filter.append(NetfilterRule(protocol: proto,
                                                matches: [.comment(comment),
                                                          .destinationAddressType(.local, negated: false),
                                                          nodePortMatch],
                                                target: target), to: externalServicesChain)
        }
    }

    /// First rule of `KUBE-SVC-`: mark ClusterIP traffic for SNAT — all of it with
    /// `masqueradeAll`, else what does not come from the cluster CIDR ("off-cluster traffic
    /// to a service VIP"), else nothing (no local-traffic detector).
    static func writeInternalMasquerade(_ plan: ServicePortPlan, into restore: inout Restore,
                                        _ configuration: KubeProxyConfiguration) {
        guard plan.hasEndpoints else { return }
        let source: AddressMatch?
        if configuration.masqueradeAll {
            source = nil
        } else if let cidr = configuration.clusterCIDR {
            source = AddressMatch(cidr, negated: true)  // `localDetector.IfNotLocal()`
        } else {
            return
        }
        restore.nat.append(NetfilterRule(source: source,
                                         destination: AddressMatch(IPv4Network(address: plan.service.clusterIP,
                                                                               prefixLength: 32)),
                                         protocol: ProtocolMatch(plan.port.protocol),
                                         matches: [.comment("\(plan.name) cluster IP"),
                                                   portMatch(plan, destination: plan.port.port)],
                                         target: .jump(markMasqueradeChain)), to: plan.clusterPolicyChain)
    }

    /// `KUBE-EXT-`: Cluster policy masquerades everything and goes on to `KUBE-SVC-`. Local
    /// policy keeps the client address: pod sources (cluster CIDR) and the node itself
    /// (masqueraded: its source is a local address) go to `KUBE-SVC-`, the rest to
    /// `KUBE-SVL-` — or nowhere when this node has no endpoint (filter then DROPs it).
    static func writeExternalChain(_ plan: ServicePortPlan, into restore: inout Restore,
                                   _ configuration: KubeProxyConfiguration) {
        guard plan.usesExternalChain else { return }
        let ext = plan.externalChain
        if !plan.externalPolicyLocal {
            restore.nat.append(NetfilterRule(matches: [.comment("masquerade traffic for \(plan.name) external destinations")],
                                             target: .jump(markMasqueradeChain)), to: ext)
        } else {
            if let cidr = configuration.clusterCIDR {
                restore.nat.append(NetfilterRule(source: AddressMatch(cidr),
                                                 matches: [.comment("pod traffic for \(plan.name) external destinations")],
                                                 target: .jump(plan.clusterPolicyChain)), to: ext)
            }
            restore.nat.append(NetfilterRule(matches: [.comment("masquerade LOCAL traffic for \(plan.name) external destinations"),
                                                       .sourceAddressType(.local, negated: false)],
                                             target: .jump(markMasqueradeChain)), to: ext)
            restore.nat.append(NetfilterRule(matches: [.comment("route LOCAL traffic for \(plan.name) external destinations"),
                                                       .sourceAddressType(.local, negated: false)],
                                             target: .jump(plan.clusterPolicyChain)), to: ext)
        }
        if plan.hasExternalEndpoints {
            let policyChain = plan.externalPolicyLocal ? plan.localPolicyChain : plan.clusterPolicyChain
            restore.nat.append(NetfilterRule(target: .jump(policyChain)), to: ext)
        }
    }

    /// `writeServiceToEndpointRules` for `KUBE-SVC-`/`KUBE-SVL-`: with ClientIP affinity, one
    /// `recent --rcheck --seconds T --reap` rule per endpoint first (a known client goes back
    /// to its endpoint); then rule i of n matches with probability 1/(n−i), the last one
    /// unconditionally — independent draws that add up to a uniform choice.
    static func writeEndpointDispatch(_ plan: ServicePortPlan, chain: String, endpoints: [Endpoint], chains: [String],
                                      into restore: inout Restore, largeCluster: Bool) {
        func comment(_ e: Endpoint) -> [NetfilterMatch] {
            largeCluster ? [] : [.comment("\(plan.name) -> \(Endpoints.endpointString(e))")]
        }
        if let seconds = plan.affinitySeconds {
            for (endpoint, sep) in zip(endpoints, chains) {
                restore.nat.append(NetfilterRule(matches: comment(endpoint)
                                                     + [.recent(.check(name: sep, seconds: seconds, reap: true))],
                                                 target: .jump(sep)), to: chain)
            }
        }
        for (i, endpoint) in endpoints.enumerated() {
            var matches = comment(endpoint)
            if i < endpoints.count - 1 {
                matches.append(.statisticRandom(probability: probability(endpoints.count - i)))
            }
            restore.nat.append(NetfilterRule(matches: matches, target: .jump(chains[i])),
                               to: chain)
        }
    }

    /// `KUBE-SEP-`: hairpin (`-s <endpoint> -j KUBE-MARK-MASQ`, so a pod reaching itself via
    /// the VIP is SNATed and the reply comes back through the node), then the DNAT — which
    /// with ClientIP affinity also records the client (`recent --set`).
    static func writeEndpointChains(_ plan: ServicePortPlan, into restore: inout Restore, largeCluster: Bool) {
        let comment: [NetfilterMatch] = largeCluster ? [] : [.comment(plan.name)]
        for (endpoint, sep) in zip(plan.clusterEndpoints, plan.clusterEndpointChains) {
            restore.nat.append(NetfilterRule(source: AddressMatch(IPv4Network(address: endpoint.address, prefixLength: 32)),
                                             matches: comment, target: .jump(markMasqueradeChain)), to: sep)
            var matches = comment
            if plan.affinitySeconds != nil { matches.append(.recent(.set(name: sep))) }
            matches.append(portMatch(plan, destination: nil))
            restore.nat.append(NetfilterRule(protocol: ProtocolMatch(plan.port.protocol), matches: matches,
                                             target: .dnat(endpoint.address, port: endpoint.port)), to: sep)
        }
    }
}

// MARK: - iptables-restore --noflush

extension KubeProxy {
    /// The payload of one `iptables-restore --noflush`: per table, the chains declared
    /// (`:NAME - [0:0]`, which creates or flushes them) with the rules appended to each.
    struct Restore {
        var filter = RestoreTable()
        var nat = RestoreTable()

        /// Loads the payload, then deletes the nat Service/endpoint chains this sync did not
        /// write (`activeNATChains`; only names with kube-proxy's prefixes, "Ignore chains
        /// that aren't ours").
        func apply(to ruleset: inout NetfilterRuleset) {
            applyFilter(to: &ruleset)
            applyNAT(to: &ruleset)
        }

        func applyFilter(to ruleset: inout NetfilterRuleset) {
            ruleset.filter = ruleset.filter.restoring(filter.chains)
        }

        func applyNAT(to ruleset: inout NetfilterRuleset) {
            let prefixes = [clusterPolicyChainPrefix, localPolicyChainPrefix, externalChainPrefix,
                            firewallChainPrefix, endpointChainPrefix]
            let stale = ruleset.nat.chains.map(\.name).filter { name in
                prefixes.contains { name.hasPrefix($0) } && !nat.isDeclared(name)
            }
            ruleset.nat = ruleset.nat.restoring(nat.chains, deleting: Set(stale))
        }
    }

    struct RestoreTable {
        /// Declared chains in declaration order, each with its rules.
        private(set) var chains: [(name: String, rules: [NetfilterRule])] = []
        private var index: [String: Int] = [:]

        func isDeclared(_ chain: String) -> Bool { index[chain] != nil }

        mutating func declare(_ chain: String) {
            guard index[chain] == nil else { return }
            index[chain] = chains.count
            chains.append((chain, []))
        }

        mutating func append(_ rule: NetfilterRule, to chain: String) {
            declare(chain)
            chains[index[chain]!].rules.append(rule)
        }
    }
}

extension NetfilterTable {
    /// This table after `iptables-restore --noflush` of `rewritten` (each chain created if
    /// missing, else flushed, then given exactly these rules) followed by `-X` of `deleting`.
    /// The frozen rule model only offers `-N/-A/-I/-P`, so flush and delete rebuild the table;
    /// chain order and built-in policies are kept, new chains come last in payload order.
    func restoring(_ rewritten: [(name: String, rules: [NetfilterRule])], deleting: Set<String> = []) -> NetfilterTable {
        var replacement: [String: Int] = [:]
        replacement.reserveCapacity(rewritten.count)
        for (i, chain) in rewritten.enumerated() { replacement[chain.name] = i }
        var table = NetfilterTable(name)
        for chain in chains where !deleting.contains(chain.name) {
            if let policy = chain.policy, let hook = NetfilterHook.allCases.first(where: { $0.chainName == chain.name }) {
                table.setPolicy(policy, of: hook)
            }
            table.setRules(replacement[chain.name].map { rewritten[$0].rules } ?? chain.rules, of: chain.name)
        }
        for (name, rules) in rewritten where table.chainIndex(named: name) == nil {
            table.setRules(rules, of: name)
        }
        return table
    }
}
