/// Checks on Services that span documents, the way the API server and its allocators check
/// them when the Services are created in file order: names unique per namespace, written
/// ClusterIPs inside `cluster.serviceSubnet` and unique, written node ports inside the node
/// port range and unique across Services; then the missing ClusterIPs and node ports are
/// allocated (`ServiceAllocation.swift`). Also resolves scenario targets that name a Service
/// (`svc/NAME:PORT`) or a node port (`node/NAME:NODEPORT`).

import Engine
import Wire

extension TopologyValidation {
    struct CheckedServices {
        /// One entry per Service document, in file order; nil when that Service was invalid.
        var services: [ServiceSpec?]
        var complete: Bool

        var all: [ServiceSpec]? { complete ? services.compactMap { $0 } : nil }
    }

    static func checkServices(_ drafts: [ServiceDraft], serviceSubnet: IPv4Network?, nodePortRange: ClosedRange<Int>?,
                              seed: UInt64?, _ r: DocumentReader) -> CheckedServices {
        var complete = !drafts.contains { $0.invalid || $0.clusterIPInvalid || $0.name == nil || $0.type == nil || $0.ports == nil }
        // Names are unique per namespace.
        var seen: [(namespace: String, name: String, line: Int)] = []
        for d in drafts {
            guard let name = d.name else { continue }
            if let first = seen.first(where: { $0.namespace == d.namespace && $0.name == name.value }) {
                r.report(at: name.location, "metadata.name",
                         "duplicate Service name \(String(reflecting: name.value)) in namespace \(d.namespace); the first is on line \(first.line)",
                         hint: "rename one of them; names are unique per kind within a namespace")
                complete = false
            } else {
                seen.append((d.namespace, name.value, name.location.line))
            }
        }
        func label(_ i: Int) -> String { drafts[i].name.map { "Service \($0.value)" } ?? "the Service on line \(drafts[i].location.line)" }

        // ClusterIPs: written ones first, then the others in file order.
        var clusterIPs: [IPv4Address?] = drafts.map { $0.clusterIP?.value }
        if let subnet = serviceSubnet {
            var ips = ServiceAllocation.clusterIPs(subnet)
            var owners: [Int: Int] = [:]
            for (i, d) in drafts.enumerated() {
                guard let written = d.clusterIP else { continue }
                let a = written.value
                let path = d.clusterIPPath
                guard let offset = ServiceAllocation.offset(of: a, in: subnet) else {
                    if subnet.contains(a) {
                        r.report(at: written.location, path, "clusterIP \(a) is the \(a == subnet.network ? "network" : "broadcast") address of serviceSubnet \(subnet), which the API server never hands out",
                                 hint: "pick a host address such as \(ServiceAllocation.address(at: 19, in: subnet)), or remove clusterIP to have one allocated")
                    } else {
                        r.report(at: written.location, path, "clusterIP \(a) is outside serviceSubnet \(subnet) (the API server answers \"provided IP is not in the valid range\")",
                                 hint: "pick an address inside \(subnet) (spec.cluster.serviceSubnet), or remove clusterIP to have one allocated")
                    }
                    complete = false
                    clusterIPs[i] = nil
                    continue
                }
                if let owner = owners[offset] {
                    r.report(at: written.location, path, "clusterIP \(a) is already used by \(label(owner)) (line \(drafts[owner].location.line)); the API server answers \"provided IP is already allocated\"",
                             hint: "give each Service its own clusterIP, or remove clusterIP to have one allocated")
                    complete = false
                    clusterIPs[i] = nil
                    continue
                }
                _ = ips.allocate(offset)
                owners[offset] = i
            }
            if let seed {
                var random = SeededGenerator(seed: seed).stream("clusterip")
                for (i, d) in drafts.enumerated() where d.clusterIP == nil && !d.clusterIPInvalid {
                    if let offset = ips.allocateNext(using: &random) {
                        clusterIPs[i] = ServiceAllocation.address(at: offset, in: subnet)
                    } else {
                        r.report(at: d.location, "spec.clusterIP", "serviceSubnet \(subnet) has no free ClusterIP left for \(label(i))",
                                 hint: "use a larger spec.cluster.serviceSubnet, or fewer Services")
                        complete = false
                    }
                }
            }
        }

        // Node ports: written ones first, then the others in file order.
        var nodePorts: [[Int?]] = drafts.map { d in (d.ports ?? []).map(\.spec.nodePort) }
        if let range = nodePortRange {
            var ports = ServiceAllocation.nodePorts(range)
            var owners: [Int: Int] = [:]
            let rangeText = "\(range.lowerBound)-\(range.upperBound)"
            for (i, d) in drafts.enumerated() where d.type == .nodePort {
                for (j, port) in (d.ports ?? []).enumerated() {
                    guard let nodePort = port.spec.nodePort, let location = port.nodePortLocation else { continue }
                    let path = DocumentReader.join(port.path, "nodePort")
                    if !range.contains(nodePort) {
                        r.report(at: location, path, "nodePort \(nodePort) is outside the node port range \(rangeText) (spec.cluster.serviceNodePortRange)",
                                 hint: "pick a port from \(range.lowerBound) to \(range.upperBound), or remove nodePort to have one allocated")
                        complete = false
                        nodePorts[i][j] = nil
                    } else if let owner = owners[nodePort], owner != i {
                        r.report(at: location, path, "nodePort \(nodePort) is already used by \(label(owner)) (line \(drafts[owner].location.line)); node ports are unique across the cluster",
                                 hint: "give each Service its own nodePort, or remove nodePort to have one allocated")
                        complete = false
                        nodePorts[i][j] = nil
                    } else {
                        _ = ports.allocate(nodePort - range.lowerBound)
                        owners[nodePort] = i
                    }
                }
            }
            if let seed {
                var random = SeededGenerator(seed: seed).stream("nodeport")
                for (i, d) in drafts.enumerated() where d.type == .nodePort {
                    let servicePorts = d.ports ?? []
                    for (j, port) in servicePorts.enumerated() where port.spec.nodePort == nil {
                        // Ports of one number (53/UDP and 53/TCP) share a node port, as
                        // kube-apiserver's `initNodePorts` does: a sibling's written one first.
                        let siblings = servicePorts.indices.filter { servicePorts[$0].spec.port == port.spec.port && $0 != j }
                        if let shared = siblings.compactMap({ servicePorts[$0].spec.nodePort }).first
                            ?? siblings.filter({ $0 < j }).compactMap({ nodePorts[i][$0] }).first {
                            nodePorts[i][j] = shared
                        } else if let offset = ports.allocateNext(using: &random) {
                            nodePorts[i][j] = range.lowerBound + offset
                        } else {
                            r.report(at: port.location, DocumentReader.join(port.path, "nodePort"),
                                     "the node port range \(rangeText) has no free port left for \(label(i))",
                                     hint: "widen spec.cluster.serviceNodePortRange, or use fewer NodePort Services")
                            complete = false
                        }
                    }
                }
            }
        }

        var services: [ServiceSpec?] = []
        for (i, d) in drafts.enumerated() {
            guard !d.invalid, let name = d.name?.value, let type = d.type, let clusterIP = clusterIPs[i], let selector = d.selector,
                  let portDrafts = d.ports, let etp = d.externalTrafficPolicy, let affinity = d.sessionAffinity,
                  let timeout = d.sessionAffinityTimeoutSeconds else {
                services.append(nil)
                continue
            }
            var ports: [ServicePortSpec] = []
            for (j, p) in portDrafts.enumerated() {
                var spec = p.spec
                spec.nodePort = type == .nodePort ? nodePorts[i][j] : nil
                ports.append(spec)
            }
            if type == .nodePort && ports.contains(where: { $0.nodePort == nil }) {
                services.append(nil)
                continue
            }
            services.append(ServiceSpec(name: name, namespace: d.namespace, type: type, clusterIP: clusterIP, selector: selector,
                                        ports: ports, externalTrafficPolicy: etp, sessionAffinity: affinity,
                                        sessionAffinityTimeoutSeconds: timeout, location: d.location))
        }
        if services.contains(where: { $0 == nil }) { complete = false }
        return CheckedServices(services: services, complete: complete)
    }

    // MARK: Targets

    /// How a port reads in lists: "80/UDP (http)".
    private static func describe(_ p: ServicePortSpec) -> String {
        "\(p.port)/\(p.protocol)" + (p.name.map { " (\($0))" } ?? "")
    }

    /// What became of a target that needs the Services.
    enum TargetCheck {
        case resolved(Target)
        /// The reference is wrong (reported).
        case failed
        /// Not checked: the Service it names is itself invalid (already reported).
        case skipped
    }

    /// Resolves `svc/NAME[:PORT]` to the Service port number a UDP client sends to.
    static func resolveService(_ ref: TargetReference, name: String, drafts: [ServiceDraft], checked: CheckedServices,
                               workloads: [WorkloadDraft], _ r: DocumentReader) -> TargetCheck {
        guard !drafts.contains(where: { $0.name == nil }) else { return .skipped }
        let indices = drafts.indices.filter { drafts[$0].name?.value == name }
        guard let index = indices.first else {
            let names = drafts.compactMap { $0.name?.value }
            let known = names.isEmpty ? "the file has no Service documents" : "services: " + names.joined(separator: ", ")
            var hint = Suggestions.didYouMean(name, in: names) ?? "add a Service document named \(name) after the Topology, or target an existing one"
            if let w = workloads.first(where: { $0.name?.value == name }) {
                hint = "\(name) is a \(w.kind.rawValue): write `\(w.kind == .pod ? "pod" : "deploy")/\(name)` and set the step's `port:`"
            }
            r.report(at: ref.location, ref.path, "target svc/\(name) names no Service in the file; \(known)", hint: hint)
            return .failed
        }
        if indices.count > 1 {
            r.report(at: ref.location, ref.path, "target svc/\(name) is ambiguous: Services of that name exist in namespaces \(indices.map { drafts[$0].namespace }.joined(separator: ", "))",
                     hint: "rename one of them; targets do not carry a namespace yet")
            return .failed
        }
        guard let service = checked.services[index] else { return .skipped }
        let ports = service.ports
        let list = ports.map(describe).joined(separator: ", ")
        let chosen: ServicePortSpec
        switch ref.servicePort ?? .only {
        case .only:
            guard ports.count == 1 else {
                let example = ports.first.map { "svc/\(name):\($0.name ?? String($0.port))" } ?? "svc/\(name):PORT"
                r.report(at: ref.location, ref.path, "Service \(name) has \(ports.count) ports (\(list)); the target must say which",
                         hint: "write e.g. `\(example)` (a port number or name)")
                return .failed
            }
            chosen = ports[0]
        case .number(let n):
            let matches = ports.filter { $0.port == n }
            guard let match = matches.first(where: { $0.protocol == "UDP" }) ?? matches.first else {
                r.report(at: ref.location, ref.path, "Service \(name) has no port \(n); its ports: \(list)",
                         hint: "write the Service's `port` (not its targetPort or nodePort), e.g. `svc/\(name):\(ports[0].port)`")
                return .failed
            }
            chosen = match
        case .name(let portName):
            guard let match = ports.first(where: { $0.name == portName }) else {
                let names = ports.compactMap(\.name)
                r.report(at: ref.location, ref.path, "Service \(name) has no port named \(String(reflecting: portName)); its ports: \(list)",
                         hint: Suggestions.didYouMean(portName, in: names) ?? "write a port number or one of the port names")
                return .failed
            }
            chosen = match
        }
        guard chosen.protocol == "UDP" else {
            r.report(at: ref.location, ref.path, "Service \(name) port \(chosen.port) is \(chosen.protocol), but udp and iperf3 steps send UDP, which kube-proxy would not forward to it",
                     hint: "set `protocol: UDP` on that port of Service \(name) (line \(service.location.line)); podwire models UDP traffic only")
            return .failed
        }
        return .resolved(.service(name: name, port: chosen.port))
    }

    /// Checks that `node/NAME:PORT`'s port is a UDP node port of some Service.
    static func checkNodePort(_ ref: TargetReference, port: Int, checked: CheckedServices, _ r: DocumentReader) -> TargetCheck {
        guard checked.complete else { return .skipped }
        let services = checked.services.compactMap { $0 }.filter { $0.type == .nodePort }
        let entries = services.flatMap { s in s.ports.compactMap { p in p.nodePort.map { (service: s, port: p, nodePort: $0) } } }
        guard let match = entries.first(where: { $0.nodePort == port && $0.port.protocol == "UDP" }) ?? entries.first(where: { $0.nodePort == port }) else {
            if entries.isEmpty {
                r.report(at: ref.location, ref.path, "\(port) is not a node port: the file has no Service of type NodePort",
                         hint: "add `type: NodePort` to a Service (and `nodePort: \(port)` to its port), or send to svc/NAME:PORT")
            } else {
                let list = entries.map { "\($0.nodePort) (Service \($0.service.name) port \($0.port.name ?? String($0.port.port)))" }
                r.report(at: ref.location, ref.path, "\(port) is not a node port of any Service; node ports: \(list.joined(separator: ", "))",
                         hint: "use one of those node ports, or add `nodePort: \(port)` to a port of a `type: NodePort` Service")
            }
            return .failed
        }
        if match.port.protocol != "UDP" {
            r.report(at: ref.location, ref.path, "node port \(port) belongs to Service \(match.service.name) port \(match.port.port), which is \(match.port.protocol), but udp and iperf3 steps send UDP",
                     hint: "set `protocol: UDP` on that port of Service \(match.service.name) (line \(match.service.location.line)); podwire models UDP traffic only")
            return .failed
        }
        return .resolved(ref.target)
    }
}
