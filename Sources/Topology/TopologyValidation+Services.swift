/// Checks on Services that span documents, the way the API server and its allocators check
/// them when the Services are created in file order: names unique per namespace, written
/// ClusterIPs inside `cluster.serviceSubnet` and unique, written node ports inside the node
/// port range and unique across Services; then the missing ClusterIPs and node ports are
/// allocated (`ServiceAllocation.swift`).

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
}
