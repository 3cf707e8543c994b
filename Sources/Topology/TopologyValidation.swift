/// Checks that span fields and documents, then assembles the final `Topology`: cluster
/// CIDRs against each other, node names, addresses and pod CIDRs (assigning the omitted
/// ones), hosts and their routes, Pod/Deployment names and placement, Services
/// (`TopologyValidation+Services.swift`), switches and links (`TopologyValidation+Links.swift`),
/// scenario targets, and the run's duration. Each check skips values already found invalid,
/// so one mistake gives one error.

import Engine
import Wire

enum TopologyValidation {
    /// Returns the assembled topology when every value needed is present; errors go to `r`.
    /// `crossDocument` is false after a YAML syntax error, when documents are missing and
    /// references to them would be reported wrongly.
    static func check(_ t: TopologyDraft, workloads: [WorkloadDraft], services serviceDrafts: [ServiceDraft] = [],
                      crossDocument: Bool, _ r: DocumentReader) -> TopologySpec? {
        let cluster = checkCluster(t, r)
        let profiles = checkProfiles(t, r)
        let nodes = checkNodes(t, cluster: cluster, profiles: profiles, r)
        checkWorkloads(workloads, nodes: t.nodes, crossDocument: crossDocument, r)
        let services = checkServices(serviceDrafts, serviceSubnet: cluster.serviceSubnet,
                                     nodePortRange: t.cluster.serviceNodePortRange?.value, seed: t.seed, r)
        let steps = checkScenario(t, workloads: workloads, services: serviceDrafts, checked: services, crossDocument: crossDocument, r)
        if let steps, crossDocument, let all = services.all {
            checkServerPorts(t.steps, steps: steps, workloads: workloads, services: all, r)
        }
        let duration = checkDuration(t, steps: steps, r)
        let hosts = checkHosts(t, r)
        let cabling = checkLinks(t, r)

        guard let name = t.name, let seed = t.seed, let clusterSpec = cluster.spec, let nodes, let steps,
              let duration, let capture = t.capture, let writtenProfiles = profiles.written else { return nil }
        var pods: [PodSpec] = []
        var deployments: [DeploymentSpec] = []
        for w in workloads {
            guard let name = w.name?.value, let template = w.template, let replicas = w.replicas else { return nil }
            switch w.kind {
            case .pod: pods.append(PodSpec(name: name, namespace: w.namespace, template: template, location: w.location))
            case .deployment: deployments.append(DeploymentSpec(name: name, namespace: w.namespace, replicas: replicas,
                                                                template: template, location: w.location))
            }
        }
        guard let hosts, let cabling, let services = services.all else { return nil }
        return TopologySpec(name: name, seed: seed, duration: duration, cluster: clusterSpec, nodes: nodes, scenario: steps,
                            capture: capture, pods: pods, deployments: deployments, fileName: r.file, hosts: hosts,
                            services: services, switches: cabling.switches, links: cabling.links, profiles: writtenProfiles)
    }

    // MARK: Cluster

    private struct CheckedCluster {
        var podSubnet: IPv4Network?
        var serviceSubnet: IPv4Network?
        /// nil when invalid or not longer than podSubnet's prefix.
        var maskSize: Int?
        var spec: ClusterSpec?
    }

    private static func checkCluster(_ t: TopologyDraft, _ r: DocumentReader) -> CheckedCluster {
        let c = t.cluster
        var result = CheckedCluster(podSubnet: c.podSubnet?.value, serviceSubnet: c.serviceSubnet?.value, maskSize: c.nodeCIDRMaskSize?.value)
        if let pods = c.podSubnet, let services = c.serviceSubnet, pods.value.overlaps(services.value) {
            r.report(at: services.location, "spec.cluster.serviceSubnet",
                     "serviceSubnet \(services.value) overlaps podSubnet \(pods.value); ClusterIPs and pod IPs must not share addresses",
                     hint: "use separate ranges, e.g. podSubnet 10.244.0.0/16 and serviceSubnet 10.96.0.0/12")
            result.podSubnet = nil
            result.serviceSubnet = nil
        }
        if let pods = c.podSubnet, let mask = c.nodeCIDRMaskSize, mask.value <= pods.value.prefixLength {
            r.report(at: mask.location, "spec.cluster.nodeCIDRMaskSize",
                     "expected a prefix length longer than podSubnet's /\(pods.value.prefixLength), so each node gets a part of it; got \(mask.value)",
                     hint: "use e.g. `nodeCIDRMaskSize: \(min(pods.value.prefixLength + 8, 30))` (each node then gets a /\(min(pods.value.prefixLength + 8, 30)))")
            result.maskSize = nil
        }
        if let pods = result.podSubnet, let services = result.serviceSubnet, let mask = result.maskSize,
           let cni = c.cni, let mtu = c.mtu, let nodePorts = c.serviceNodePortRange?.value {
            // Unless written, the CNI is `bridge` for one node and flannel's VXLAN for several.
            let effective: CNIKind = t.cluster.cniLocation == nil && t.nodes.count > 1 ? .flannelVXLAN : cni
            result.spec = ClusterSpec(podSubnet: pods, nodeCIDRMaskSize: mask, serviceSubnet: services, cni: effective, mtu: mtu,
                                      serviceNodePortRange: nodePorts)
        }
        return result
    }

    // MARK: Nodes

    private static func checkNodes(_ t: TopologyDraft, cluster: CheckedCluster, profiles: CheckedProfiles, _ r: DocumentReader) -> [NodeSpec]? {
        var complete = true
        var seenNames: [(String, SourceLocation)] = []
        var seenAddresses: [(IPv4Address, String, SourceLocation)] = []
        var cidrs: [(cidr: IPv4Network, node: String, location: SourceLocation, path: String, explicit: Bool)] = []
        var result: [NodeSpec] = []
        var reportedExhaustion = false

        for (index, node) in t.nodes.enumerated() {
            let label = node.name.map { "node \($0.value)" } ?? "node #\(index + 1)"
            if let name = node.name {
                if let first = seenNames.first(where: { $0.0 == name.value }) {
                    r.report(at: name.location, node.path + ".name", "duplicate node name \(String(reflecting: name.value)); it is already used on line \(first.1.line)",
                             hint: "give every node its own name, e.g. `pi-\(index + 1)`")
                    complete = false
                } else {
                    seenNames.append((name.value, name.location))
                }
            }
            if let address = node.address {
                let a = address.value.address
                let lan = address.value.network
                if let first = seenAddresses.first(where: { $0.0 == a }) {
                    r.report(at: address.location, node.path + ".address", "duplicate node address \(a); \(first.1) already has it (line \(first.2.line))",
                             hint: "give every node its own LAN address")
                    complete = false
                } else {
                    seenAddresses.append((a, label, address.location))
                }
                if let pods = cluster.podSubnet, pods.contains(a) {
                    r.report(at: address.location, node.path + ".address", "node address \(a) is inside podSubnet \(pods); node and pod addresses must not overlap",
                             hint: "use a LAN address outside \(pods), e.g. 192.168.50.\(11 + index)/24, or move podSubnet")
                    complete = false
                } else if let services = cluster.serviceSubnet, services.contains(a) {
                    r.report(at: address.location, node.path + ".address", "node address \(a) is inside serviceSubnet \(services); node addresses and ClusterIPs must not overlap",
                             hint: "use a LAN address outside \(services), e.g. 192.168.50.\(11 + index)/24")
                    complete = false
                } else if address.value.prefixLength < 31, a == lan.network || a == lan.broadcast {
                    r.report(at: address.location, node.path + ".address",
                             "node address \(address.value) is the \(a == lan.network ? "network" : "broadcast") address of \(lan), not a host address",
                             hint: "pick a host address inside \(lan), e.g. \(lan.address(at: 11))/\(lan.prefixLength)")
                    complete = false
                }
            }
            // Pod CIDR: as written, or the index-th block.
            var podCIDR: IPv4Network?
            if let explicit = node.podCIDR {
                podCIDR = explicit.value
                if let pods = cluster.podSubnet, !pods.contains(explicit.value) {
                    r.report(at: explicit.location, node.path + ".podCIDR", "podCIDR \(explicit.value) is outside podSubnet \(pods)",
                             hint: "pick a block inside \(pods), or remove podCIDR to get the node's default block")
                    complete = false
                    podCIDR = nil
                }
            } else if !node.podCIDRInvalid, let pods = cluster.podSubnet, let mask = cluster.maskSize {
                podCIDR = pods.subnet(index: index, prefixLength: mask)
                if podCIDR == nil && !reportedExhaustion {
                    reportedExhaustion = true
                    let blocks = UInt64(1) << UInt64(mask - pods.prefixLength)
                    r.report(at: t.nodesLocation, "spec.nodes",
                             "\(t.nodes.count) nodes need \(t.nodes.count) pod CIDRs of /\(mask), but podSubnet \(pods) holds only \(blocks)",
                             hint: "use a larger podSubnet or a longer nodeCIDRMaskSize (e.g. /\(min(mask + 2, 30))), or fewer nodes")
                    complete = false
                }
            }
            if let cidr = podCIDR {
                let location = node.podCIDR?.location ?? node.location
                if let other = cidrs.first(where: { $0.cidr.overlaps(cidr) }) {
                    let how = node.podCIDR == nil ? " (assigned by default as block #\(index) of podSubnet)" : ""
                    r.report(at: location, node.path + ".podCIDR",
                             "pod CIDR \(cidr) of \(label)\(how) overlaps \(other.cidr) of \(other.node) (line \(other.location.line))",
                             hint: "give each node a podCIDR of its own inside podSubnet, or omit podCIDR on all nodes to get distinct blocks")
                    complete = false
                }
                cidrs.append((cidr, label, location, node.path + ".podCIDR", node.podCIDR != nil))
            }
            // Labels: every node carries kubernetes.io/hostname, as the kubelet sets it.
            var labels = node.labels
            if let name = node.name?.value, let given = labels?.first(where: { $0.key == "kubernetes.io/hostname" }) {
                if given.value != name {
                    r.report(at: node.location, node.path + ".labels", "label kubernetes.io/hostname is \(String(reflecting: given.value)), but the kubelet sets it to the node name \(String(reflecting: name))",
                             hint: "remove the label; podwire adds `kubernetes.io/hostname: \(name)` itself")
                    complete = false
                }
            } else if let name = node.name?.value {
                labels?.append((key: "kubernetes.io/hostname", value: name))
            }
            let hardware = checkNodeProfile(node, index: index, profiles: profiles, r)
            if let name = node.name?.value, let hardware, let address = node.address?.value, let podCIDR, let labels,
               !node.maxPodsInvalid {
                result.append(NodeSpec(name: name, profile: hardware.name, address: address, podCIDR: podCIDR, labels: labels,
                                       hardware: hardware, maxPods: node.maxPods))
            } else {
                complete = false
            }
        }
        return complete ? result : nil
    }

    // MARK: Pods and Deployments

    private static func checkWorkloads(_ workloads: [WorkloadDraft], nodes: [NodeDraft], crossDocument: Bool, _ r: DocumentReader) {
        var seen: [(kind: WorkloadDraft.Kind, namespace: String, name: String, line: Int)] = []
        var nodeNames: [String] = []
        for name in nodes.compactMap({ $0.name?.value }) where !nodeNames.contains(name) { nodeNames.append(name) }
        for w in workloads {
            let what = w.kind == .pod ? "pod" : "deployment"
            if let name = w.name {
                if let first = seen.first(where: { $0.kind == w.kind && $0.namespace == w.namespace && $0.name == name.value }) {
                    r.report(at: name.location, "metadata.name",
                             "duplicate \(w.kind.rawValue) name \(String(reflecting: name.value)) in namespace \(w.namespace); the first is on line \(first.line)",
                             hint: "rename one of them; names are unique per kind within a namespace")
                } else {
                    seen.append((w.kind, w.namespace, name.value, name.location.line))
                }
            }
            guard crossDocument else { continue }
            let objectName = w.name.map { "\(what) \($0.value)" } ?? what
            let pathPrefix = w.kind == .pod ? "spec" : "spec.template.spec"
            var pinned: NodeDraft?
            if let nodeName = w.nodeName {
                if let node = nodes.first(where: { $0.name?.value == nodeName.value }) {
                    pinned = node
                } else if !nodes.isEmpty {
                    let list = nodeNames.joined(separator: ", ")
                    r.report(at: nodeName.location, pathPrefix + ".nodeName",
                             "\(objectName) is assigned to node \(String(reflecting: nodeName.value)), which is not in the topology; nodes: \(list)",
                             hint: Suggestions.didYouMean(nodeName.value, in: nodeNames) ?? "use one of: \(list), or add the node to spec.nodes")
                }
            }
            if let selector = w.nodeSelector, !selector.value.isEmpty {
                func matches(_ node: NodeDraft) -> Bool {
                    guard let labels = node.labels, let name = node.name?.value else { return false }
                    let all = labels + [(key: "kubernetes.io/hostname", value: name)]
                    return selector.value.allSatisfy { want in all.contains { $0.key == want.key && $0.value == want.value } }
                }
                let text = selector.value.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                if let pinned, let pinnedName = pinned.name?.value, pinned.labels != nil, !matches(pinned) {
                    r.report(at: selector.location, pathPrefix + ".nodeSelector",
                             "\(objectName) is pinned to node \(pinnedName) by nodeName, but that node does not have the labels {\(text)}; the kubelet would reject it",
                             hint: "add the labels to the node, or remove nodeName or nodeSelector")
                } else if pinned == nil, w.nodeName == nil, !nodes.isEmpty, nodes.allSatisfy({ $0.name != nil && $0.labels != nil }),
                          !nodes.contains(where: matches) {
                    r.report(at: selector.location, pathPrefix + ".nodeSelector",
                             "no node has the labels {\(text)}, so \(objectName) could never be scheduled",
                             hint: "add the labels to a node's `labels:` in spec.nodes, or change the nodeSelector")
                }
            }
        }
    }

    // MARK: Hosts

    /// Host names are unique and are not node names; addresses are unique across nodes and
    /// hosts.
    private static func checkHosts(_ t: TopologyDraft, _ r: DocumentReader) -> [HostSpec]? {
        var out: [HostSpec] = []
        var complete = true
        var seen: [(String, Int)] = []
        var addresses: [(IPv4Address, String)] = t.nodes.compactMap { n in
            guard let a = n.address?.value.address, let name = n.name?.value else { return nil }
            return (a, "node \(name)")
        }
        for h in t.hosts {
            guard let name = h.name, let address = h.address else { complete = false; continue }
            if t.nodes.contains(where: { $0.name?.value == name.value }) || seen.contains(where: { $0.0 == name.value }) {
                r.report(at: name.location, h.path + ".name", "duplicate name \(name.value): nodes and hosts share one name space",
                         hint: "give every machine its own name")
                complete = false
            }
            seen.append((name.value, name.location.line))
            if let other = addresses.first(where: { $0.0 == address.value.address }) {
                r.report(at: address.location, h.path + ".address", "duplicate address \(address.value.address); \(other.1) already has it",
                         hint: "give every machine its own LAN address")
                complete = false
            }
            addresses.append((address.value.address, "host \(name.value)"))
            guard let routes = checkRoutes(h, address: address.value, r) else { complete = false; continue }
            out.append(HostSpec(name: name.value, address: address.value, location: h.location, routes: routes))
        }
        return complete ? out : nil
    }

    /// A host's routes as `ip route add TO via VIA` would take them: the next hop is on the
    /// host's own subnet (otherwise Linux answers "Nexthop has invalid gateway") and is not
    /// the host itself; each destination once, and not the subnet the host is already on
    /// (Linux answers "File exists" for both).
    private static func checkRoutes(_ h: HostDraft, address: IPv4Interface, _ r: DocumentReader) -> [RouteSpec]? {
        let drafts = h.routes
        let subnet = address.network
        var routes: [RouteSpec] = []
        var seen: [(IPv4Network, Int)] = []
        var complete = true
        for route in drafts {
            let to = route.destination.value
            let via = route.via.value
            let name = h.name?.value ?? "the host"
            if let first = seen.first(where: { $0.0 == to }) {
                r.report(at: route.destination.location, route.path + ".to", "duplicate route to \(to); line \(first.1) has one already (Linux answers \"File exists\")",
                         hint: "keep one route per destination")
                complete = false
            } else if to == subnet {
                r.report(at: route.destination.location, route.path + ".to", "\(name) is on \(subnet) already (its connected route); a second route to it is refused (\"File exists\")",
                         hint: "remove this route; machines on \(subnet) are reached directly")
                complete = false
            }
            seen.append((to, route.destination.location.line))
            if !subnet.contains(via) {
                r.report(at: route.via.location, route.path + ".via", "next hop \(via) is not on \(name)'s subnet \(subnet), so \(name) cannot reach it (Linux answers \"Nexthop has invalid gateway\")",
                         hint: "use the LAN address of a node or host inside \(subnet), e.g. a node's address for its pod CIDR")
                complete = false
            } else if via == address.address {
                r.report(at: route.via.location, route.path + ".via", "next hop \(via) is \(name)'s own address",
                         hint: "use the LAN address of another machine inside \(subnet)")
                complete = false
            } else if address.prefixLength < 31, via == subnet.network || via == subnet.broadcast {
                r.report(at: route.via.location, route.path + ".via", "next hop \(via) is the \(via == subnet.network ? "network" : "broadcast") address of \(subnet), not a machine",
                         hint: "use the LAN address of a node or host inside \(subnet)")
                complete = false
            }
            routes.append(RouteSpec(destination: to, via: via))
        }
        return complete && !h.routesInvalid ? routes : nil
    }

    // MARK: Scenario

    private static func checkScenario(_ t: TopologyDraft, workloads: [WorkloadDraft], services: [ServiceDraft], checked: CheckedServices,
                                      crossDocument: Bool, _ r: DocumentReader) -> [ScenarioStep]? {
        var complete = true
        var steps: [ScenarioStep] = []
        var nodeNames: [String] = []
        for name in t.nodes.compactMap({ $0.name?.value }) where !nodeNames.contains(name) { nodeNames.append(name) }
        let podNames = workloads.filter { $0.kind == .pod }.compactMap { $0.name?.value }
        let deployments = workloads.filter { $0.kind == .deployment }
        let deploymentNames = deployments.compactMap { $0.name?.value }
        for step in t.steps {
            var resolved: [(role: TargetRole, target: Target)] = []
            for ref in step.targets {
                switch ref.target {
                case .node(let name), .nodePort(node: let name, port: _):
                    if !t.nodes.contains(where: { $0.name == nil }), !nodeNames.contains(name) {
                        r.report(at: ref.location, ref.path, "target \(ref.target) names no node; nodes: \(nodeNames.joined(separator: ", "))",
                                 hint: Suggestions.didYouMean(name, in: nodeNames) ?? "use one of the nodes in spec.nodes")
                        complete = false
                    } else if case .nodePort(_, let port) = ref.target, crossDocument,
                              case .failed = checkNodePort(ref, port: port, checked: checked, r) {
                        complete = false
                    }
                case .service(let name, _):
                    guard crossDocument else { break }
                    switch resolveService(ref, name: name, drafts: services, checked: checked, workloads: workloads, r) {
                    case .resolved(let target): resolved.append((ref.role, target))
                    case .failed: complete = false
                    case .skipped: break
                    }
                case .host(let name):
                    let hostNames = t.hosts.compactMap { $0.name?.value }
                    if !t.hosts.contains(where: { $0.name == nil }), !hostNames.contains(name) {
                        r.report(at: ref.location, ref.path, "target host/\(name) names no host in spec.hosts"
                                 + (hostNames.isEmpty ? "" : "; hosts: \(hostNames.joined(separator: ", "))"),
                                 hint: Suggestions.didYouMean(name, in: hostNames) ?? "add `hosts: [{name: \(name), address: 192.168.50.100/24}]` to spec")
                        complete = false
                    }
                case .pod(let name):
                    guard crossDocument, !workloads.contains(where: { $0.kind == .pod && $0.name == nil }) else { break }
                    let matches = workloads.filter { $0.kind == .pod && $0.name?.value == name }
                    if matches.isEmpty {
                        let known = podNames.isEmpty ? "the file has no Pod documents" : "pods: " + podNames.joined(separator: ", ")
                        var hint = Suggestions.didYouMean(name, in: podNames) ?? "add a Pod document named \(name) after the Topology, or target an existing one"
                        if deploymentNames.contains(name) { hint = "\(name) is a Deployment: write `deploy/\(name)`" }
                        r.report(at: ref.location, ref.path, "target pod/\(name) names no Pod in the file; \(known)", hint: hint)
                        complete = false
                    } else if matches.count > 1 {
                        let namespaces = matches.map(\.namespace).joined(separator: ", ")
                        r.report(at: ref.location, ref.path, "target pod/\(name) is ambiguous: pods of that name exist in namespaces \(namespaces)",
                                 hint: "rename one of the pods; targets do not carry a namespace yet")
                        complete = false
                    }
                case .deployment(let name):
                    guard crossDocument, !deployments.contains(where: { $0.name == nil }) else { break }
                    let matches = deployments.filter { $0.name?.value == name }
                    if matches.isEmpty {
                        let known = deploymentNames.isEmpty ? "the file has no Deployment documents" : "deployments: " + deploymentNames.joined(separator: ", ")
                        var hint = Suggestions.didYouMean(name, in: deploymentNames) ?? "add a Deployment named \(name) after the Topology, or target an existing one"
                        if podNames.contains(name) { hint = "\(name) is a Pod: write `pod/\(name)`" }
                        r.report(at: ref.location, ref.path, "target deploy/\(name) names no Deployment in the file; \(known)", hint: hint)
                        complete = false
                    } else if matches.count > 1 {
                        r.report(at: ref.location, ref.path, "target deploy/\(name) is ambiguous: Deployments of that name exist in namespaces \(matches.map(\.namespace).joined(separator: ", "))",
                                 hint: "rename one of them; targets do not carry a namespace yet")
                        complete = false
                    } else if matches[0].replicas == 0 {
                        r.report(at: ref.location, ref.path, "target deploy/\(name) has replicas: 0, so it has no first replica to use",
                                 hint: "set spec.replicas to 1 or more in Deployment \(name) (line \(matches[0].location.line))")
                        complete = false
                    }
                }
            }
            guard let at = step.at, var action = step.action else {
                complete = false
                continue
            }
            for (role, target) in resolved { action = action.replacing(role, with: target) }
            // A Service or node-port server carries the port the client sends to.
            if let port = action.server.flatMap(\.port), port > 0 {
                if let written = step.port, written.value != port {
                    r.report(at: written.location, "\(step.path).\(action.name).port",
                             "port \(written.value) contradicts the server \(action.server!): a Service or node-port target carries its own port",
                             hint: "remove `port:`; the client sends to port \(port)")
                    complete = false
                }
                action = action.withPort(port)
            }
            let candidate = ScenarioStep(at: at, action: action, location: step.location)
            guard end(of: candidate) != nil else {
                r.report(at: step.location, step.path, "the step would end after about 292 years of simulated time",
                         hint: "use a shorter `time`, `count` or `interval`")
                complete = false
                continue
            }
            steps.append(candidate)
        }
        return complete ? steps : nil
    }

    /// `at + time` or `at + count × interval`, or nil on Int64 overflow.
    private static func end(of step: ScenarioStep) -> SimDuration? {
        let length: Int64
        switch step.action {
        case .iperf3(let s): length = s.time.nanoseconds
        case .ping(let s):
            let (product, overflow) = s.interval.nanoseconds.multipliedReportingOverflow(by: Int64(s.count))
            if overflow { return nil }
            length = product
        case .udp(let s):
            let (product, overflow) = s.interval.nanoseconds.multipliedReportingOverflow(by: Int64(s.count))
            if overflow { return nil }
            length = product
        }
        let (sum, overflow) = step.at.nanoseconds.addingReportingOverflow(length)
        return overflow ? nil : SimDuration(nanoseconds: sum)
    }

    // MARK: Duration

    private static func checkDuration(_ t: TopologyDraft, steps: [ScenarioStep]?, _ r: DocumentReader) -> SimDuration? {
        if let duration = t.duration {
            for step in steps ?? [] where step.at >= duration.value {
                r.report(at: step.location, "spec.scenario", "the step at \(step.at) starts at or after the end of the run (spec.duration \(duration.value)), so it would never run",
                         hint: "raise spec.duration above \(step.at), or remove `duration` to run until the last step ends plus 1s")
            }
            return duration.value
        }
        guard let steps else { return nil }
        let last = steps.compactMap(end(of:)).max() ?? .zero
        let (total, overflow) = last.nanoseconds.addingReportingOverflow(1_000_000_000)
        if overflow {
            r.report(at: t.location, "spec.duration", "the scenario ends too late to add the default 1s of margin", hint: "set a shorter scenario")
            return nil
        }
        return SimDuration(nanoseconds: total)
    }
}

extension Target {
    /// The port a `.service` or `.nodePort` target carries.
    var port: Int? {
        switch self {
        case .service(_, let port), .nodePort(_, let port): port
        default: nil
        }
    }
}

extension ScenarioAction {
    /// The step's kind as written: `udp`, `iperf3` or `ping`.
    var name: String {
        switch self {
        case .udp: "udp"
        case .iperf3: "iperf3"
        case .ping: "ping"
        }
    }

    /// The receiving end of a udp or iperf3 step.
    var server: Target? {
        switch self {
        case .udp(let s): s.server
        case .iperf3(let s): s.server
        case .ping: nil
        }
    }

    func replacing(_ role: TargetRole, with target: Target) -> ScenarioAction {
        switch (self, role) {
        case (.udp(var s), .client): s.client = target; return .udp(s)
        case (.udp(var s), .server): s.server = target; return .udp(s)
        case (.iperf3(var s), .client): s.client = target; return .iperf3(s)
        case (.iperf3(var s), .server): s.server = target; return .iperf3(s)
        case (.ping(var s), .from): s.from = target; return .ping(s)
        case (.ping(var s), .to): s.to = target; return .ping(s)
        default: return self
        }
    }

    func withPort(_ port: Int) -> ScenarioAction {
        switch self {
        case .udp(var s): s.port = UInt16(port); return .udp(s)
        case .iperf3(var s): s.port = UInt16(port); return .iperf3(s)
        case .ping: return self
        }
    }
}
