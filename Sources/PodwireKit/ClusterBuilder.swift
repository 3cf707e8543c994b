import Capture
import Datapath
import Engine
import Kube
import Topology
import Wire

/// Turns a validated `Topology` into a `Cluster`: nodes in file order, then pods and
/// Deployments in the order their documents appear (so host-local IPAM hands out .2, .3 …
/// as a user reading the file expects).
///
/// This lives above Kube and Topology (instead of Topology depending on Kube as STYLE.md's
/// diagram draws it) so that Kube stays buildable from code alone — benchmarks and tests
/// build clusters without YAML — and the two modules could be written in parallel.
enum ClusterBuilder {
    static func build(_ t: TopologySpec, seed: UInt64) -> Cluster {
        let nodes = t.nodes.map { n in
            NodeDefinition(name: n.name, profile: profile(n.hardware), address: n.address, podCIDR: n.podCIDR,
                           labels: n.labels.map { Label($0.key, $0.value) }, maxPods: n.maxPods ?? NodeDefinition.defaultMaxPods)
        }
        let network: PodNetwork
        switch t.cluster.cni {
        case .bridge: network = .bridge
        case .flannelHostGW: network = .flannelHostGW
        case .flannelVXLAN: network = .flannelVXLAN
        }
        var underlay: Underlay?
        if !t.switches.isEmpty || !t.links.isEmpty {
            underlay = Underlay(switches: t.switches.map(\.name), links: t.links.map { l in
                UnderlayLink(LinkEnd(machine: l.endpoints.0.machine, interface: l.endpoints.0.interface),
                             LinkEnd(machine: l.endpoints.1.machine, interface: l.endpoints.1.interface),
                             rate: l.rateBitsPerSecond, delay: l.delay)
            })
        }
        let cluster = Cluster(ClusterConfiguration(podSubnet: t.cluster.podSubnet, serviceSubnet: t.cluster.serviceSubnet,
                                                   mtu: t.cluster.mtu, seed: seed, network: network, underlay: underlay),
                              nodes: nodes, hosts: t.hosts.map { h in
                                  HostDefinition(name: h.name, address: h.address,
                                                 routes: h.routes.map { ($0.destination, $0.via) })
                              })
        enum Item { case pod(PodSpec), deployment(DeploymentSpec) }
        var items: [(SourceLocation, Item)] = t.pods.map { ($0.location, .pod($0)) }
            + t.deployments.map { ($0.location, .deployment($0)) }
        items.sort { ($0.0.line, $0.0.column) < ($1.0.line, $1.0.column) }
        for (_, item) in items {
            switch item {
            case .pod(let p):
                cluster.addPod(definition(p.template, name: p.name, namespace: p.namespace))
            case .deployment(let d):
                cluster.addDeployment(name: d.name, namespace: d.namespace, replicas: d.replicas,
                                      template: definition(d.template, name: d.name, namespace: d.namespace))
            }
        }
        for s in t.services { cluster.addService(service(s)) }
        return cluster
    }

    /// A node's validated profile: the built-in board its `base` names (or, without a base,
    /// the profile's own fields, every required one given), then each field the file sets.
    static func profile(_ s: ProfileSpec) -> NodeProfile {
        var p: NodeProfile
        if let base = s.base {
            guard let b = NodeProfile.named(base) else { preconditionFailure("profile \(s.name): base \(base) is not a built-in (Topology validates this)") }
            p = b
        } else {
            guard let cores = s.cores, let clockMHz = s.clockMHz, let memoryMB = s.memoryMB, let totalRAMMiB = s.totalRAMMiB,
                  let cpuScale = s.cpuScale, let lineRate = s.lineRate else {
                preconditionFailure("profile \(s.name) has no base and misses a required field (Topology validates this)")
            }
            p = NodeProfile(name: s.name, board: "custom board \(s.name)", cores: cores, clockMHz: clockMHz, memoryMB: memoryMB,
                            totalRAMMiB: totalRAMMiB, cpuScale: cpuScale, lineRate: lineRate)
        }
        p.name = s.name
        if let v = s.board { p.board = v }
        if let v = s.cores { p.cores = v }
        if let v = s.clockMHz { p.clockMHz = v }
        if let v = s.memoryMB { p.memoryMB = v }
        if let v = s.totalRAMMiB { p.totalRAMMiB = v }
        if let v = s.cpuScale { p.cpuScale = v }
        if let v = s.lineRate { p.lineRate = v }
        switch s.busCap {
        case nil: break
        case .none?: p.busCap = nil
        case .bitsPerSecond(let v)?: p.busCap = v
        }
        if let v = s.softirqCore { p.softirqCore = v }
        if let v = s.netdevMaxBacklog { p.netdevMaxBacklog = v }
        if let v = s.txqueuelen { p.txqueuelen = v }
        if let v = s.is64Bit { p.is64Bit = v }
        for c in s.costs { p.referenceCosts[keyPath: stageCost(c.stage)] = c.cost }
        return p
    }

    /// The `StageCosts` field a topology's `costs` key names.
    static func stageCost(_ name: StageCostName) -> WritableKeyPath<StageCosts, SimDuration> {
        switch name {
        case .nicRx: \.nicRx
        case .nicTx: \.nicTx
        case .veth: \.veth
        case .bridge: \.bridge
        case .bridgeFloodCopy: \.bridgeFloodCopy
        case .ipForward: \.ipForward
        case .localOutput: \.localOutput
        case .localDeliver: \.localDeliver
        case .netfilterHook: \.netfilterHook
        case .iptablesRule: \.iptablesRule
        case .conntrackLookup: \.conntrackLookup
        case .conntrackNew: \.conntrackNew
        case .vxlanEncap: \.vxlanEncap
        case .vxlanDecap: \.vxlanDecap
        case .loopback: \.loopback
        }
    }

    static func service(_ s: ServiceSpec) -> ServiceDefinition {
        ServiceDefinition(
            name: s.name, namespace: s.namespace, type: s.type == .nodePort ? .nodePort : .clusterIP, clusterIP: s.clusterIP,
            selector: s.selector.map { Label($0.key, $0.value) },
            ports: s.ports.map { p in
                let target: ServiceTargetPort
                switch p.targetPort {
                case .number(let n): target = .number(UInt16(n))
                case .name(let n): target = .name(n)
                }
                return ServicePort(name: p.name, protocol: p.protocol == "TCP" ? 6 : 17, port: UInt16(p.port),
                                   targetPort: target, nodePort: p.nodePort.map { UInt16($0) })
            },
            externalTrafficPolicy: s.externalTrafficPolicy == "Local" ? .local : .cluster,
            sessionAffinity: s.sessionAffinity == "ClientIP" ? .clientIP(timeoutSeconds: s.sessionAffinityTimeoutSeconds) : .none)
    }

    static func definition(_ t: PodTemplate, name: String, namespace: String) -> PodDefinition {
        PodDefinition(name: name, namespace: namespace, labels: t.labels.map { Label($0.key, $0.value) },
                      nodeName: t.nodeName, nodeSelector: t.nodeSelector.map { Label($0.key, $0.value) },
                      containers: t.containers.map { c in
                          Container(name: c.name, image: c.image, ports: c.ports.map {
                              ContainerPort(name: $0.name, containerPort: $0.containerPort, protocol: $0.protocol)
                          })
                      })
    }

    /// Capture descriptions of every device: node interfaces as `<node>-<iface>`, pod
    /// interfaces as `<node>-<pod>-<iface>` (pods outside `default` as `<node>-<ns>.<pod>-<iface>`).
    static func captureInterfaces(_ cluster: Cluster) -> [CaptureInterface] {
        let w = cluster.world
        var out: [CaptureInterface] = []
        for ns in w.namespaces {
            let pod = cluster.pods.first { $0.netns == ns.id }
            let namespaceLabel: String
            if let pod, pod.definition.namespace != "default" {
                namespaceLabel = "\(pod.definition.namespace).\(pod.name)"
            } else {
                namespaceLabel = ns.name
            }
            for d in ns.devices {
                let dev = w.device(d)
                let stem = ns.kind == .pod ? "\(ns.node)-\(namespaceLabel)-\(dev.name)" : "\(ns.node)-\(dev.name)"
                out.append(CaptureInterface(device: d, fileStem: stem, node: ns.node, namespace: namespaceLabel,
                                                interface: dev.name, mac: dev.mac.description,
                                                ipv4: dev.addresses.map(\.description)))
            }
        }
        return out
    }
}
