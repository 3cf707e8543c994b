/// Checks on `spec.switches` and `spec.links` (containerlab-style cabling): switch names,
/// endpoints that name a machine or switch, one NIC (`eth0`) per node and host cabled exactly
/// once, switch ports cabled once and named like Linux interfaces, crossover cables only
/// between the only two machines, and no loop among switches (they run no STP, like a Linux
/// bridge with `stp_state 0`, so a broadcast in a loop would circulate forever).

import Engine

extension TopologyValidation {
    private enum EndpointKind { case node, host, `switch` }

    /// The switches and links, or empty arrays when the file has neither; nil after errors.
    static func checkLinks(_ t: TopologyDraft, _ r: DocumentReader) -> (switches: [SwitchSpec], links: [LinkSpec])? {
        guard t.switches != nil || t.links != nil else { return ([], []) }
        var complete = true
        let nodeNames = t.nodes.compactMap { $0.name?.value }
        let hostNames = t.hosts.compactMap { $0.name?.value }
        let machineCount = t.nodes.count + t.hosts.count

        let allNames = nodeNames + hostNames + (t.switches ?? []).compactMap { $0.name?.value }
        var switches: [SwitchSpec] = []
        for sw in t.switches ?? [] {
            guard let name = sw.name else { complete = false; continue }
            if let first = switches.first(where: { $0.name == name.value }) {
                r.report(at: name.location, sw.path + ".name", "duplicate switch name \(String(reflecting: name.value)); it is already used on line \(first.location.line)",
                         hint: "give every switch its own name, e.g. `\(unused("sw", taken: allNames))`")
                complete = false
            } else if nodeNames.contains(name.value) || hostNames.contains(name.value) {
                r.report(at: name.location, sw.path + ".name",
                         "switch name \(String(reflecting: name.value)) is already the name of a \(nodeNames.contains(name.value) ? "node" : "host"); nodes, hosts and switches share one name space",
                         hint: "rename the switch, e.g. `\(unused("sw", taken: allNames))`")
                complete = false
            } else {
                switches.append(SwitchSpec(name: name.value, location: sw.location))
            }
        }
        let switchNames = switches.map(\.name)
        let namesKnown = !t.nodes.contains { $0.name == nil } && !t.hosts.contains { $0.name == nil }
            && !(t.switches ?? []).contains { $0.name == nil }

        guard let linkDrafts = t.links else {
            r.report(at: t.switchesLocation ?? t.location, "spec.switches", "spec.switches needs spec.links: a switch without cables connects nothing",
                     hint: "add `links:` with one `- endpoints: [\"pi-1:eth0\", \"\(switchNames.first ?? "sw1"):p1\"]` per machine, or remove `switches` for the default single LAN switch")
            return nil
        }

        func kind(_ machine: String) -> EndpointKind? {
            if nodeNames.contains(machine) { return .node }
            if hostNames.contains(machine) { return .host }
            if switchNames.contains(machine) { return .switch }
            return nil
        }

        var links: [LinkSpec] = []
        var allResolved = true
        var cabled: [String: (line: Int, path: String)] = [:]       // node or host → its link
        var ports: [String: Int] = [:]                              // "switch:port" → line
        var forest: [String: [(neighbour: String, line: Int)]] = [:] // switch-to-switch links kept so far
        func usedPorts(of sw: String) -> [String] {
            ports.keys.filter { $0.hasPrefix(sw + ":") }.map { String($0.dropFirst(sw.count + 1)) }
        }
        for link in linkDrafts {
            guard let ends = link.endpoints else { complete = false; allResolved = false; continue }
            var ok = link.valuesValid
            var kinds: [EndpointKind] = []
            for end in ends {
                let e = end.endpoint
                guard let k = kind(e.machine) else {
                    allResolved = false
                    ok = false
                    guard namesKnown else { continue }
                    let all = nodeNames + hostNames + switchNames
                    var hint = Suggestions.didYouMean(e.machine, in: all)
                    if hint == nil {
                        hint = t.switches == nil
                            ? "cable machines to a switch declared in `switches: [{name: \(e.machine)}]`, or use a node or host name"
                            : "use a node, host or switch name, or add `{name: \(e.machine)}` to spec.switches"
                    }
                    let known = "nodes: \(nodeNames.joined(separator: ", "))" + (hostNames.isEmpty ? "" : "; hosts: \(hostNames.joined(separator: ", "))")
                        + (switchNames.isEmpty ? "; no switches" : "; switches: \(switchNames.joined(separator: ", "))")
                    r.report(at: end.location, end.path, "endpoint \"\(e)\" names no node, host or switch; \(known)", hint: hint)
                    continue
                }
                kinds.append(k)
                switch k {
                case .node, .host:
                    // A cable on a wrong interface name still counts as the machine's cable.
                    if e.interface != "eth0" {
                        r.report(at: end.location, end.path, "podwire models one NIC per machine, eth0; got \"\(e)\"",
                                 hint: "write \"\(e.machine):eth0\"")
                        ok = false
                    }
                    if let first = cabled[e.machine] {
                        r.report(at: end.location, end.path, "\(e.machine) is cabled twice: its eth0 is already in the link on line \(first.line) (\(first.path))",
                                 hint: "remove one of the two links; podwire models one NIC per machine")
                        ok = false
                    } else {
                        cabled[e.machine] = (end.location.line, link.path)
                    }
                case .switch:
                    if !NameSyntax.isInterfaceName(e.interface) {
                        r.report(at: end.location, end.path,
                                 "expected a Linux interface name for the switch port (1-15 characters, not \".\" or \"..\", no '/', ':' or spaces); got \(String(reflecting: e.interface))",
                                 hint: "use a short port name such as `p1` or `eth1`")
                        ok = false
                    } else if let line = ports[e.description] {
                        r.report(at: end.location, end.path, "switch port \(e) is already cabled (line \(line))",
                                 hint: "use another port of \(e.machine), e.g. \"\(e.machine):\(unused("p", taken: usedPorts(of: e.machine)))\"")
                        ok = false
                    } else {
                        ports[e.description] = end.location.line
                    }
                }
            }
            guard kinds.count == 2 else { complete = false; continue }
            let (a, b) = (ends[0].endpoint, ends[1].endpoint)
            if a.machine == b.machine {
                r.report(at: ends[1].location, ends[1].path, "this link joins \(a.machine) to itself",
                         hint: "connect \(a.machine) to another machine or switch")
                ok = false
            } else if kinds[0] != .switch && kinds[1] != .switch {
                if machineCount != 2 {
                    let others = (nodeNames + hostNames).filter { $0 != a.machine && $0 != b.machine }
                    r.report(at: link.location, link.path,
                             "a crossover cable between \(a.machine) and \(b.machine) (no switch) works only when they are the only two machines: each has one NIC, so \(others.joined(separator: ", ")) could not reach them",
                             hint: "cable every machine to a switch declared in spec.switches")
                    ok = false
                }
            } else if kinds[0] == .switch && kinds[1] == .switch {
                if let path = pathBetween(b.machine, a.machine, in: forest) {
                    let loop = (path.map(\.switch) + [b.machine]).joined(separator: " → ")
                    let lines = (path.compactMap(\.line) + [link.location.line]).map(String.init).joined(separator: ", ")
                    r.report(at: link.location, link.path,
                             "this link closes a loop \(loop) (links on lines \(lines)); podwire's switches run no STP, so a broadcast would circulate forever",
                             hint: "remove one link of the loop")
                    ok = false
                } else {
                    forest[a.machine, default: []].append((b.machine, link.location.line))
                    forest[b.machine, default: []].append((a.machine, link.location.line))
                }
            }
            if ok {
                links.append(LinkSpec(endpoints: (a, b), rateBitsPerSecond: link.rate, delay: link.delay, location: link.location))
            } else {
                complete = false
            }
        }
        // Every node and host has its one cable.
        if allResolved && namesKnown {
            let linksAt = t.linksLocation ?? t.location
            for (what, names) in [("node", nodeNames), ("host", hostNames)] {
                for name in names where cabled[name] == nil {
                    let sw = switchNames.first ?? "sw1"
                    let port = unused("p", taken: usedPorts(of: sw))
                    ports["\(sw):\(port)"] = 0   // the next hint suggests another port
                    r.report(at: linksAt, "spec.links", "\(what) \(name) is in no link; when spec.links is given, every node and host needs exactly one cable to its eth0",
                             hint: "add `- endpoints: [\"\(name):eth0\", \"\(sw):\(port)\"]`")
                    complete = false
                }
            }
        }
        return complete ? (switches, links) : nil
    }

    /// The first of prefix1, prefix2, … not in `taken`, for hints.
    private static func unused(_ prefix: String, taken: [String]) -> String {
        var n = 1
        while taken.contains("\(prefix)\(n)") { n += 1 }
        return "\(prefix)\(n)"
    }

    /// The switches from `start` to `goal` along the links kept so far (each with the line of
    /// the link that reached it; nil for `start`), or nil when they are not connected.
    private static func pathBetween(_ start: String, _ goal: String,
                                    in forest: [String: [(neighbour: String, line: Int)]]) -> [(switch: String, line: Int?)]? {
        var previous: [String: (from: String, line: Int)] = [:]
        var queue = [start]
        var visited: Set<String> = [start]
        var i = 0
        while i < queue.count {
            let here = queue[i]
            i += 1
            if here == goal {
                var path: [(switch: String, line: Int?)] = []
                var at = goal
                while let p = previous[at] {
                    path.append((at, p.line))
                    at = p.from
                }
                path.append((start, nil))
                return path.reversed()
            }
            for edge in forest[here] ?? [] where !visited.contains(edge.neighbour) {
                visited.insert(edge.neighbour)
                previous[edge.neighbour] = (here, edge.line)
                queue.append(edge.neighbour)
            }
        }
        return nil
    }
}
