/// Reads podwire's own first document (`apiVersion: podwire/v1alpha1`, `kind: Topology`)
/// into a draft that still carries source positions: metadata, `spec.cluster`,
/// `spec.nodes`, `spec.hosts`, `spec.switches`, `spec.links`, `spec.scenario` and
/// `spec.capture`, each field type-checked with defaults applied. Checks that span fields or
/// documents (CIDR overlaps, cabling, targets) are in `TopologyValidation*.swift`.

import Engine
import Wire
import Yams

/// A value with the place it was written (or, for a default, the place of its parent).
struct Located<Value> {
    var value: Value
    var location: SourceLocation
}

/// The Topology document after field-level checks. nil marks a value that was invalid
/// (already reported), so later checks skip it instead of reporting knock-on errors.
struct TopologyDraft {
    var location: SourceLocation
    var name: String?
    var seed: UInt64? = 1
    var duration: Located<SimDuration>?
    var cluster = ClusterDraft()
    var nodes: [NodeDraft] = []
    var nodesLocation: SourceLocation
    var steps: [StepDraft] = []
    var capture: CaptureSpec? = CaptureSpec(interfaces: ["*"], snaplen: 262_144, filter: "")
    var hosts: [HostDraft] = []
    /// nil when `spec.switches` is absent; invalid entries are left out (already reported).
    var switches: [SwitchDraft]?
    var switchesLocation: SourceLocation?
    /// nil when `spec.links` is absent.
    var links: [LinkDraft]?
    var linksLocation: SourceLocation?
    /// `spec.profiles` in file order, invalid ones included (their names still count as
    /// declared, so nodes naming them are not reported again).
    var profiles: [ProfileDraft] = []
}

struct HostDraft {
    var location: SourceLocation
    var path: String
    var name: Located<String>?
    var address: Located<IPv4Interface>?
    /// The routes that were read; `routesInvalid` when some were not (already reported).
    var routes: [RouteDraft] = []
    var routesInvalid = false
}

struct RouteDraft {
    var location: SourceLocation
    var path: String
    var destination: Located<IPv4Network>
    var via: Located<IPv4Address>
}

struct SwitchDraft {
    var location: SourceLocation
    var path: String
    var name: Located<String>?
}

struct LinkEndpointDraft {
    var endpoint: LinkEndpointSpec
    var location: SourceLocation
    var path: String
}

struct LinkDraft {
    var location: SourceLocation
    var path: String
    /// Exactly two when valid; nil when `endpoints` was invalid (already reported).
    var endpoints: [LinkEndpointDraft]?
    var rate: Int64?
    var delay: SimDuration?
    /// false when `rate` or `delay` was invalid (already reported).
    var valuesValid = true
}

struct ClusterDraft {
    var location: SourceLocation?
    var podSubnet: Located<IPv4Network>?
    var nodeCIDRMaskSize: Located<Int>?
    var serviceSubnet: Located<IPv4Network>?
    var cni: CNIKind? = .bridge
    /// Where `cni` was written, if it was (several nodes need it spelt out).
    var cniLocation: SourceLocation?
    var mtu: Int? = 1500
    var serviceNodePortRange: Located<ClosedRange<Int>>?
}

struct NodeDraft {
    var location: SourceLocation
    var path: String
    var name: Located<String>?
    var profile: NodeProfileDraft?
    var address: Located<IPv4Interface>?
    /// As written; nil when absent (assigned later) or invalid (`podCIDRInvalid`).
    var podCIDR: Located<IPv4Network>?
    var podCIDRInvalid = false
    var labels: [(key: String, value: String)]? = []
    /// The kubelet's maxPods as written; nil when absent (the kubelet's default) or invalid.
    var maxPods: Int?
    var maxPodsInvalid = false
}

/// Which end of a step a target is.
enum TargetRole: Equatable {
    /// `udp.client`, `iperf3.client`.
    case client
    /// `udp.server`, `iperf3.server`.
    case server
    /// `ping.from`.
    case from
    /// `ping.to`.
    case to

    var sends: Bool { self == .client || self == .from }
}

/// A Service port as written after `svc/NAME`.
enum ServicePortReference: Equatable {
    /// `svc/NAME`: the Service's only port.
    case only
    case number(Int)
    case name(String)
}

struct TargetReference {
    var target: Target
    var location: SourceLocation
    var path: String
    var role: TargetRole
    /// For `.service` targets: the port as written (`.service`'s port is 0 until resolved).
    var servicePort: ServicePortReference?
}

struct StepDraft {
    var location: SourceLocation
    var path: String
    var at: SimDuration?
    var action: ScenarioAction?
    var targets: [TargetReference] = []
    /// `port` of a udp or iperf3 step, when written.
    var port: Located<Int>?
}

extension NodeSpec {
    /// The hardware profiles a node may name, from the smallest board to the largest.
    /// (The same list as Kube's `NodeProfile.names`, which this module cannot import;
    /// `ClusterBuilderTests` checks the two agree.) A topology may add its own in
    /// `spec.profiles` (Profiles.swift).
    public static let knownProfiles = builtinProfiles.map(\.name)
}

enum TopologyDocument {
    static let apiVersion = "podwire/v1alpha1"
    static let defaultPodSubnet = IPv4Network("10.244.0.0/16")!
    static let defaultServiceSubnet = IPv4Network("10.96.0.0/12")!
    static let defaultNodeCIDRMaskSize = 24
    /// kube-apiserver's default `--service-node-port-range`.
    static let defaultServiceNodePortRange = 30000...32767
    static let futureCNIs: [String] = []

    static let documentSchema = FieldSchema(what: "the Topology document", modelled: ["apiVersion", "kind", "metadata", "spec"])
    static let metadataSchema = FieldSchema(what: "the Topology metadata", modelled: ["name"], ignored: ["labels", "annotations"])
    static let specSchema = FieldSchema(what: "the Topology spec", modelled: ["seed", "duration", "cluster", "profiles", "nodes", "hosts", "switches", "links", "scenario", "capture"])
    static let hostSchema = FieldSchema(what: "a host", modelled: ["name", "address", "routes"])
    static let routeSchema = FieldSchema(what: "a route", modelled: ["to", "via"])
    static let switchSchema = FieldSchema(what: "a switch", modelled: ["name"])
    static let linkSchema = FieldSchema(what: "a link", modelled: ["endpoints", "rate", "delay"])
    static let clusterSchema = FieldSchema(what: "spec.cluster", modelled: ["podSubnet", "nodeCIDRMaskSize", "serviceSubnet", "serviceNodePortRange", "cni", "mtu"])
    static let nodeSchema = FieldSchema(what: "a node", modelled: ["name", "profile", "address", "podCIDR", "labels", "maxPods"])
    static let stepSchema = FieldSchema(what: "a scenario step", modelled: ["at", "iperf3", "ping", "udp"])
    static let udpSchema = FieldSchema(what: "a udp step", modelled: ["client", "server", "port", "count", "interval", "length", "echo", "dontFragment"])
    static let iperf3Schema = FieldSchema(what: "an iperf3 step", modelled: ["client", "server", "port", "udp", "bitrate", "length", "time"])
    static let pingSchema = FieldSchema(what: "a ping step", modelled: ["from", "to", "count", "interval", "size"])
    static let captureSchema = FieldSchema(what: "spec.capture", modelled: ["interfaces", "snaplen", "filter"])

    static func read(_ node: Node, _ r: DocumentReader) -> TopologyDraft {
        let docLocation = r.location(of: node)
        var draft = TopologyDraft(location: docLocation, nodesLocation: docLocation)
        guard let doc = r.fields(node, "", documentSchema, expected: "the Topology document (a mapping with apiVersion, kind, metadata and spec)") else {
            return draft
        }
        if let v = r.required(doc, "apiVersion", expected: "apiVersion \(apiVersion)", hint: "add `apiVersion: \(apiVersion)` as the first line"),
           let text = r.string(v, "apiVersion"), text != apiVersion {
            r.report(v, "apiVersion", "expected \(apiVersion) for kind Topology; got \(DocumentReader.describe(v))",
                     hint: "write `apiVersion: \(apiVersion)`")
        }
        // `kind` was checked by the caller to be Topology.
        if let m = r.required(doc, "metadata", expected: "a mapping with the topology's name", hint: "add `metadata: {name: my-lab}`"),
           let meta = r.fields(m, "metadata", metadataSchema),
           let n = r.required(meta, "name", expected: "the topology's name", hint: "add `name: my-lab` under metadata; it prefixes output file names"),
           let name = r.string(n, "metadata.name") {
            if NameSyntax.isDNS1123Subdomain(name) {
                draft.name = name
            } else {
                r.report(n, "metadata.name", "expected a DNS-1123 name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit); got \(DocumentReader.describe(n))",
                         hint: "use a name such as `pi-lab`")
            }
        }
        guard let s = r.required(doc, "spec", expected: "the topology spec (cluster, nodes, scenario, capture)", hint: "add a `spec:` with at least `nodes:`"),
              let spec = r.fields(s, "spec", specSchema) else { return draft }

        if let v = spec["seed"] { draft.seed = r.unsigned64(v, spec.path("seed"), expected: "a random seed") }
        if let v = spec["duration"], let d = r.duration(v, spec.path("duration"), minimum: .positive) {
            draft.duration = Located(value: d, location: r.location(of: v))
        }
        readCluster(spec, r, into: &draft)
        if let v = spec["profiles"] { draft.profiles = readProfiles(v, spec.path("profiles"), r) }
        if let v = r.required(spec, "nodes", expected: "a list of nodes", hint: "add `nodes:` with at least one `- {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}`") {
            draft.nodesLocation = r.location(of: v)
            if let items = r.sequence(v, spec.path("nodes"), expected: "a list of nodes",
                                      hint: "start each node with `- `, e.g. `- {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}`") {
                if items.isEmpty {
                    r.report(v, spec.path("nodes"), "expected at least one node; got an empty list",
                             hint: "add `- {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}`")
                }
                for (i, item) in items.enumerated() {
                    draft.nodes.append(readNode(item, "\(spec.path("nodes"))[\(i)]", r))
                }
            }
        }
        if let v = spec["hosts"], let items = r.sequence(v, spec.path("hosts"), expected: "a list of hosts",
                                                          hint: "start each host with `- `, e.g. `- {name: ext, address: 192.168.50.100/24}`") {
            for (i, item) in items.enumerated() {
                let path = "\(spec.path("hosts"))[\(i)]"
                var host = HostDraft(location: r.location(of: item), path: path)
                if let f = r.fields(item, path, hostSchema, expected: "a host (a mapping with name and address)") {
                    if let n = r.required(f, "name", expected: "the host's name", hint: "add `name: ext`"),
                       let name = r.string(n, f.path("name")) {
                        if NameSyntax.isDNS1123Label(name) {
                            host.name = Located(value: name, location: r.location(of: n))
                        } else {
                            r.report(n, f.path("name"), "expected a DNS-1123 label (lowercase letters, digits and '-'); got \(DocumentReader.describe(n))",
                                     hint: "use a name such as `ext`")
                        }
                    }
                    if let n = r.required(f, "address", expected: "the host's LAN address with prefix length",
                                          hint: "add `address: 192.168.50.100/24`"),
                       let text = r.string(n, f.path("address")) {
                        if let a = IPv4Interface(text) {
                            host.address = Located(value: a, location: r.location(of: n))
                        } else {
                            r.report(n, f.path("address"), "expected an IPv4 address with a prefix length, like 192.168.50.100/24; got \(DocumentReader.describe(n))",
                                     hint: "write the host's LAN address with its prefix length")
                        }
                    }
                    if let n = f["routes"] {
                        (host.routes, host.routesInvalid) = readRoutes(n, f.path("routes"), r)
                    }
                }
                draft.hosts.append(host)
            }
        }
        if let v = spec["switches"] {
            draft.switchesLocation = r.location(of: v)
            draft.switches = readSwitches(v, spec.path("switches"), r)
        }
        if let v = spec["links"] {
            draft.linksLocation = r.location(of: v)
            draft.links = readLinks(v, spec.path("links"), r)
        }
        if let v = spec["scenario"], let items = r.sequence(v, spec.path("scenario"), expected: "a list of steps",
                                                             hint: "start each step with `- at: 0s`") {
            for (i, item) in items.enumerated() {
                if let step = readStep(item, "\(spec.path("scenario"))[\(i)]", r) { draft.steps.append(step) }
            }
        }
        if let v = spec["capture"] { draft.capture = readCapture(v, spec.path("capture"), r) }
        return draft
    }

    // MARK: spec.cluster

    private static func readCluster(_ spec: Fields, _ r: DocumentReader, into draft: inout TopologyDraft) {
        let fallback = spec.location
        draft.cluster.podSubnet = Located(value: defaultPodSubnet, location: fallback)
        draft.cluster.serviceSubnet = Located(value: defaultServiceSubnet, location: fallback)
        draft.cluster.nodeCIDRMaskSize = Located(value: defaultNodeCIDRMaskSize, location: fallback)
        draft.cluster.serviceNodePortRange = Located(value: defaultServiceNodePortRange, location: fallback)
        guard let v = spec["cluster"], let cluster = r.fields(v, spec.path("cluster"), clusterSchema) else {
            if spec["cluster"] != nil { draft.cluster = ClusterDraft(location: fallback, cni: nil, mtu: nil, serviceNodePortRange: nil) }
            return
        }
        draft.cluster.location = cluster.location
        if let n = cluster["podSubnet"] {
            draft.cluster.podSubnet = network(n, cluster.path("podSubnet"), example: "10.244.0.0/16", r)
                .map { Located(value: $0, location: r.location(of: n)) }
        }
        if let n = cluster["serviceSubnet"] {
            draft.cluster.serviceSubnet = network(n, cluster.path("serviceSubnet"), example: "10.96.0.0/12", r)
                .map { Located(value: $0, location: r.location(of: n)) }
        }
        if let n = cluster["nodeCIDRMaskSize"] {
            draft.cluster.nodeCIDRMaskSize = r.integer(n, cluster.path("nodeCIDRMaskSize"), in: 1...30, expected: "a prefix length")
                .map { Located(value: $0, location: r.location(of: n)) }
        }
        if let n = cluster["cni"] {
            draft.cluster.cni = nil
            if let text = r.string(n, cluster.path("cni")) {
                if let kind = CNIKind(rawValue: text) {
                    draft.cluster.cni = kind
                    draft.cluster.cniLocation = r.location(of: n)
                } else if futureCNIs.contains(text) {
                    r.report(n, cluster.path("cni"), "cni \(text) is not supported yet; `bridge` and `flannel-host-gw` are (VXLAN arrives in a later release)",
                             hint: "write `cni: flannel-host-gw` for now: the same pod network without encapsulation")
                } else {
                    let known = CNIKind.allCases.map(\.rawValue) + futureCNIs
                    r.report(n, cluster.path("cni"), "expected a CNI plugin name (`bridge`, `flannel-vxlan` or `flannel-host-gw`); got \(DocumentReader.describe(n))",
                             hint: Suggestions.didYouMean(text, in: known) ?? "write `cni: flannel-vxlan` (several nodes) or `cni: bridge` (one node)")
                }
            }
        }
        if let n = cluster["mtu"] {
            draft.cluster.mtu = r.integer(n, cluster.path("mtu"), in: 576...9000, expected: "an MTU in bytes")
        }
        if let n = cluster["serviceNodePortRange"] {
            draft.cluster.serviceNodePortRange = nil
            if let text = r.string(n, cluster.path("serviceNodePortRange"), expected: "a port range like 30000-32767") {
                if let range = PortRangeSyntax.parse(text) {
                    draft.cluster.serviceNodePortRange = Located(value: range, location: r.location(of: n))
                } else {
                    r.report(n, cluster.path("serviceNodePortRange"),
                             "expected a port range like kube-apiserver's --service-node-port-range, FIRST-LAST with 1 <= FIRST <= LAST <= 65535 (e.g. 30000-32767); got \(DocumentReader.describe(n))",
                             hint: "write `serviceNodePortRange: 30000-32767` (the Kubernetes default), or remove it")
                }
            }
        }
    }

    // MARK: spec.nodes

    private static func readNode(_ node: Node, _ path: String, _ r: DocumentReader) -> NodeDraft {
        var draft = NodeDraft(location: r.location(of: node), path: path)
        guard let f = r.fields(node, path, nodeSchema, expected: "a node (a mapping with name, profile and address)") else {
            draft.labels = nil
            return draft
        }
        if let n = r.required(f, "name", expected: "the node's name", hint: "add `name: pi-1`"),
           let name = r.string(n, f.path("name")) {
            if NameSyntax.isDNS1123Label(name) {
                draft.name = Located(value: name, location: r.location(of: n))
            } else {
                r.report(n, f.path("name"), "expected a DNS-1123 label (1-63 lowercase letters, digits or '-', starting and ending with a letter or digit); got \(DocumentReader.describe(n))",
                         hint: "use a name such as `pi-1`")
            }
        }
        if let n = r.required(f, "profile", expected: "a hardware profile: a built-in name (" + NodeSpec.knownProfiles.joined(separator: ", ") + "), one of spec.profiles, or {base: …, field: value}",
                              hint: "add `profile: raspberry-pi-4b`") {
            draft.profile = readNodeProfile(n, f.path("profile"), r)
        }
        if let n = r.required(f, "address", expected: "the node's LAN address with a prefix length, like 192.168.50.11/24",
                              hint: "add `address: 192.168.50.11/24`") {
            draft.address = interface(n, f.path("address"), r).map { Located(value: $0, location: r.location(of: n)) }
        }
        if let n = f["podCIDR"] {
            if let net = network(n, f.path("podCIDR"), example: "10.244.1.0/24", r) {
                draft.podCIDR = Located(value: net, location: r.location(of: n))
            } else {
                draft.podCIDRInvalid = true
            }
        }
        if let n = f["labels"] {
            draft.labels = r.stringMap(n, f.path("labels"), what: "label",
                                       validKey: NameSyntax.isLabelKey, validValue: NameSyntax.isLabelValue)
        }
        if let n = f["maxPods"] {
            draft.maxPods = r.integer(n, f.path("maxPods"), in: 1...1_000_000, expected: "the pods the node's kubelet takes (--max-pods)")
            draft.maxPodsInvalid = draft.maxPods == nil
        }
        return draft
    }

    // MARK: spec.hosts[].routes, spec.switches, spec.links

    /// The routes that were read, and whether some were not (already reported).
    private static func readRoutes(_ node: Node, _ path: String, _ r: DocumentReader) -> ([RouteDraft], Bool) {
        guard let items = r.sequence(node, path, expected: "a list of routes",
                                     hint: "start each route with `- `, e.g. `- {to: 10.244.1.0/24, via: 192.168.50.12}`") else { return ([], true) }
        var routes: [RouteDraft] = []
        var ok = true
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            guard let f = r.fields(item, p, routeSchema, expected: "a route (a mapping with `to` and `via`)") else { ok = false; continue }
            var destination: Located<IPv4Network>?
            if let n = r.required(f, "to", expected: "the destination network, like 10.244.1.0/24 or `default`",
                                  hint: "add `to: 10.244.1.0/24` (or `to: default`)") {
                if DocumentReader.plainText(n) == "default" || DocumentReader.quotedText(n) == "default" {
                    destination = Located(value: IPv4Network(address: .any, prefixLength: 0), location: r.location(of: n))
                } else if let net = network(n, f.path("to"), example: "10.244.1.0/24 or `default`", r) {
                    destination = Located(value: net, location: r.location(of: n))
                }
            }
            var via: Located<IPv4Address>?
            if let n = r.required(f, "via", expected: "the next hop's address, like 192.168.50.12", hint: "add `via: 192.168.50.12` (a node or host on this host's subnet)"),
               let text = r.string(n, f.path("via"), expected: "an IPv4 address like 192.168.50.12") {
                if let a = IPv4Address(text) {
                    via = Located(value: a, location: r.location(of: n))
                } else if let iface = IPv4Interface(text) {
                    r.report(n, f.path("via"), "expected a next-hop address without a prefix length, like 192.168.50.12; got \(DocumentReader.describe(n))",
                             hint: "write `via: \(iface.address)`")
                } else {
                    r.report(n, f.path("via"), "expected an IPv4 address like 192.168.50.12; got \(DocumentReader.describe(n))",
                             hint: "write four numbers 0-255 separated by dots")
                }
            }
            if let destination, let via {
                routes.append(RouteDraft(location: f.location, path: p, destination: destination, via: via))
            } else {
                ok = false
            }
        }
        return (routes, !ok)
    }

    private static func readSwitches(_ node: Node, _ path: String, _ r: DocumentReader) -> [SwitchDraft] {
        guard let items = r.sequence(node, path, expected: "a list of switches", hint: "write `switches: [{name: sw1}]`") else { return [] }
        var switches: [SwitchDraft] = []
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            var draft = SwitchDraft(location: r.location(of: item), path: p)
            if let f = r.fields(item, p, switchSchema, expected: "a switch (a mapping with a name, like {name: sw1})"),
               let n = r.required(f, "name", expected: "the switch's name", hint: "add `name: sw1`"),
               let name = r.string(n, f.path("name")) {
                if NameSyntax.isDNS1123Label(name) {
                    draft.name = Located(value: name, location: r.location(of: n))
                } else {
                    r.report(n, f.path("name"), "expected a DNS-1123 label (1-63 lowercase letters, digits or '-', starting and ending with a letter or digit); got \(DocumentReader.describe(n))",
                             hint: "use a name such as `sw1`")
                }
            }
            switches.append(draft)
        }
        return switches
    }

    private static func readLinks(_ node: Node, _ path: String, _ r: DocumentReader) -> [LinkDraft] {
        guard let items = r.sequence(node, path, expected: "a list of links",
                                     hint: "start each link with `- `, e.g. `- endpoints: [\"pi-1:eth0\", \"sw1:p1\"]`") else { return [] }
        var links: [LinkDraft] = []
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            var link = LinkDraft(location: r.location(of: item), path: p)
            guard let f = r.fields(item, p, linkSchema, expected: "a link (a mapping with `endpoints`, like {endpoints: [\"pi-1:eth0\", \"sw1:p1\"]})") else {
                link.valuesValid = false
                links.append(link)
                continue
            }
            if let n = r.required(f, "endpoints", expected: "the cable's two ends, like [\"pi-1:eth0\", \"sw1:p1\"]",
                                  hint: "add `endpoints: [\"pi-1:eth0\", \"sw1:p1\"]` (containerlab's syntax)"),
               let ends = r.sequence(n, f.path("endpoints"), expected: "a list of two \"machine:interface\" strings, like [\"pi-1:eth0\", \"sw1:p1\"]",
                                     hint: "write `endpoints: [\"pi-1:eth0\", \"sw1:p1\"]`") {
                if ends.count != 2 {
                    r.report(n, f.path("endpoints"), "expected exactly two endpoints (a cable has two ends); got \(ends.count)",
                             hint: ends.count > 2 ? "write one link per cable; to join several machines, cable each to a switch" : "add the other end, e.g. `\"sw1:p1\"`")
                }
                var endpoints: [LinkEndpointDraft] = []
                for (j, end) in ends.enumerated() {
                    let ep = "\(f.path("endpoints"))[\(j)]"
                    guard let text = r.string(end, ep, expected: "an endpoint \"machine:interface\", like \"pi-1:eth0\"") else { continue }
                    let pieces = text.split(separator: ":", omittingEmptySubsequences: false)
                    guard pieces.count == 2, !pieces[0].isEmpty, !pieces[1].isEmpty else {
                        r.report(end, ep, "expected an endpoint \"machine:interface\" (one ':' between a node, host or switch name and an interface name), like \"pi-1:eth0\"; got \(DocumentReader.describe(end))",
                                 hint: pieces.count == 1 ? "add the interface: \"\(text):eth0\" for a node or host, \"\(text):p1\" for a switch" : "write e.g. \"pi-1:eth0\" or \"sw1:p1\"")
                        continue
                    }
                    endpoints.append(LinkEndpointDraft(endpoint: LinkEndpointSpec(machine: String(pieces[0]), interface: String(pieces[1])),
                                                       location: r.location(of: end), path: ep))
                }
                if ends.count == 2, endpoints.count == 2 { link.endpoints = endpoints }
            }
            if let n = f["rate"] {
                link.rate = rate(n, f.path("rate"), r)
                if link.rate == nil { link.valuesValid = false }
            }
            if let n = f["delay"] {
                link.delay = r.duration(n, f.path("delay"), minimum: .zero)
                if link.delay == nil { link.valuesValid = false }
            }
            links.append(link)
        }
        return links
    }

    /// A rate in tc's syntax ("100Mbit", "1Gbit", "500kbit"): a link's `rate`, a profile's
    /// `lineRate` and `busCap`. `alternative` names another accepted spelling for messages
    /// (", or `none`").
    static func rate(_ node: Node, _ path: String, _ r: DocumentReader, alternative: String? = nil) -> Int64? {
        let key = DocumentReader.lastComponent(path)
        let or = alternative.map { " " + $0 } ?? ""
        let expected = "a rate with a tc unit, like 100Mbit, 1Gbit or 500kbit\(or)"
        guard case .scalar(let s) = node, !DocumentReader.isNull(node) else {
            r.mismatch(node, path, expected: expected, hint: "write e.g. `\(key): 100Mbit`")
            return nil
        }
        if s.string.hasPrefix("-") {
            r.report(node, path, "expected a positive rate\(or); got \(s.string), which is negative",
                     hint: "rates cannot be negative; write e.g. `\(key): \(s.string.dropFirst())`")
            return nil
        }
        switch TCRateSyntax.parse(s.string) {
        case .success(let bits): return bits
        case .failure(.missingUnit):
            r.report(node, path, "expected \(expected); got the bare number \(s.string)",
                     hint: "add a unit, e.g. \(s.string)Mbit (tc reads a bare number as bit/s, which is rarely meant)")
        case .failure(.unknownUnit(let unit)):
            let iperf: [String: String] = ["k": "kbit", "m": "Mbit", "g": "Gbit", "t": "Tbit"]
            let suggestion = iperf[unit.lowercased()].map { "did you mean `\(s.string.dropLast(unit.count))\($0)`? " }
                ?? Suggestions.closest(to: unit, in: TCRateSyntax.units.map(\.name), maxDistance: 1).map { "did you mean `\($0)`? " } ?? ""
            r.report(node, path, "expected \(expected); got \(DocumentReader.describe(node)), whose unit `\(unit)` is not one of tc's",
                     hint: suggestion + "tc's units are bit, kbit, mbit, gbit, tbit (and kibit…, bps for bytes/s), in any case")
        case .failure(.malformed):
            r.report(node, path, "expected \(expected); got \(DocumentReader.describe(node))", hint: "write a number followed by a unit, e.g. `\(key): 100Mbit`")
        case .failure(.outOfRange):
            r.report(node, path, "expected a rate of at least 1bit and below 9.2e18 bit/s; got \(s.string)", hint: "write e.g. `\(key): 1Gbit`")
        }
        return nil
    }

    // MARK: spec.scenario

    private static func readStep(_ node: Node, _ path: String, _ r: DocumentReader) -> StepDraft? {
        guard let f = r.fields(node, path, stepSchema, expected: "a step (a mapping with `at` and one of `iperf3` or `ping`)") else { return nil }
        var step = StepDraft(location: f.location, path: path)
        if let n = r.required(f, "at", expected: "the step's start time, such as 0s or 1.5s", hint: "add `at: 0s`") {
            step.at = r.duration(n, f.path("at"), minimum: .zero)
        }
        let actions = ["iperf3", "ping", "udp"].filter { f[$0] != nil }
        guard actions.count == 1, let kind = actions.first, let n = f[kind] else {
            if actions.isEmpty {
                r.report(at: f.location, path, "missing the step's action: expected one of `iperf3`, `ping` or `udp`",
                         hint: "add e.g. `ping: {from: pod/client, to: pod/web-0}`")
            } else {
                r.report(at: f.location, path,
                         "expected exactly one action per step; got \(actions.map { "`\($0)`" }.joined(separator: " and "))",
                         hint: "split them into separate steps with the same `at`")
            }
            return step
        }
        switch kind {
        case "iperf3": step.action = readIperf3(n, f.path("iperf3"), r, &step)
        case "ping": step.action = readPing(n, f.path("ping"), r, &step)
        default: step.action = readUDP(n, f.path("udp"), r, &step)
        }
        return step
    }

    private static func readIperf3(_ node: Node, _ path: String, _ r: DocumentReader, _ step: inout StepDraft) -> ScenarioAction? {
        guard let f = r.fields(node, path, iperf3Schema, expected: "iperf3 options (a mapping with client, server, udp: true, …)") else { return nil }
        let client = r.required(f, "client", expected: "the sending endpoint, like pod/client", hint: "add `client: pod/client`")
            .flatMap { target($0, f.path("client"), .client, r, &step) }
        let server = r.required(f, "server", expected: "the receiving endpoint, like pod/web-0", hint: "add `server: pod/web-0`")
            .flatMap { target($0, f.path("server"), .server, r, &step) }
        var port: Int? = 5201
        if let n = f["port"] { port = explicitPort(n, f.path("port"), r, &step) }
        var udpOK = false
        if let n = f["udp"] {
            if let udp = r.bool(n, f.path("udp"), hint: "write `udp: true`") {
                if udp {
                    udpOK = true
                } else {
                    r.report(n, f.path("udp"), "TCP is not modelled yet; set udp: true (got udp: false)",
                             hint: "write `udp: true`; podwire's iperf3 sends UDP only for now")
                }
            }
        } else {
            r.report(at: f.location, f.path("udp"), "iperf3 without `udp: true` means TCP, and TCP is not modelled yet; set udp: true",
                     hint: "add `udp: true` to the iperf3 options")
        }
        var bitrate: Int64? = 1_000_000
        if let n = f["bitrate"] {
            bitrate = nil
            if case .scalar(let s) = n, let bps = BitrateSyntax.parse(s.string) {
                bitrate = bps
            } else {
                r.mismatch(n, f.path("bitrate"), expected: "a rate in bits per second like iperf3 -b: a number with an optional K, M or G suffix (1000-based), e.g. 100M, or 0 for unlimited",
                           hint: "write e.g. `bitrate: 100M` for 100 Mbit/s")
            }
            // -b 0 sends as fast as the sender's core allows (and, on a node, its send buffer:
            // World+SendBuffer.swift). A host has no CPU model to hold it back.
            if bitrate == 0, let client, case .host = client {
                r.report(n, f.path("bitrate"),
                         "bitrate 0 (unlimited) needs a sender on a Pi node (a pod or the node itself); \(client) is a plain host, whose CPU podwire does not model",
                         hint: "give the rate to offer, e.g. `bitrate: 1G`, or send from a pod or node")
                bitrate = nil
            }
        }
        var length: Int? = 1460
        if let n = f["length"] { length = r.integer(n, f.path("length"), in: 1...65507, expected: "a UDP payload length in bytes") }
        var time: SimDuration? = SimDuration(nanoseconds: 10_000_000_000)
        if let n = f["time"] { time = r.duration(n, f.path("time"), minimum: .positive) }
        guard let client, let server, let port, udpOK, let bitrate, let length, let time else { return nil }
        return .iperf3(Iperf3Step(client: client, server: server, port: UInt16(port), bitrate: bitrate, length: length, time: time))
    }

    private static func readPing(_ node: Node, _ path: String, _ r: DocumentReader, _ step: inout StepDraft) -> ScenarioAction? {
        guard let f = r.fields(node, path, pingSchema, expected: "ping options (a mapping with from, to, count, interval, size)") else { return nil }
        let from = r.required(f, "from", expected: "the pinging endpoint, like pod/client", hint: "add `from: pod/client`")
            .flatMap { target($0, f.path("from"), .from, r, &step) }
        let to = r.required(f, "to", expected: "the pinged endpoint, like pod/web-0", hint: "add `to: pod/web-0`")
            .flatMap { target($0, f.path("to"), .to, r, &step) }
        var count: Int? = 3
        if let n = f["count"] { count = r.integer(n, f.path("count"), in: 1...1_000_000, expected: "a number of echo requests") }
        var interval: SimDuration? = SimDuration(nanoseconds: 1_000_000_000)
        if let n = f["interval"] {
            interval = r.duration(n, f.path("interval"), minimum: .atLeast(.milliseconds(1), "like ping's flood limit for users"))
        }
        var size: Int? = 56
        if let n = f["size"] { size = r.integer(n, f.path("size"), in: 0...65507, expected: "an ICMP payload size in bytes") }
        guard let from, let to, let count, let interval, let size else { return nil }
        return .ping(PingStep(from: from, to: to, count: count, interval: interval, size: size))
    }

    private static func readUDP(_ node: Node, _ path: String, _ r: DocumentReader, _ step: inout StepDraft) -> ScenarioAction? {
        guard let f = r.fields(node, path, udpSchema, expected: "udp options (a mapping with client, server, port, count, interval, length)") else { return nil }
        let client = r.required(f, "client", expected: "the sending endpoint, like pod/client", hint: "add `client: pod/client`")
            .flatMap { target($0, f.path("client"), .client, r, &step) }
        let server = r.required(f, "server", expected: "the echoing endpoint, like pod/web-0", hint: "add `server: pod/web-0`")
            .flatMap { target($0, f.path("server"), .server, r, &step) }
        var port: Int? = 8080
        if let n = f["port"] { port = explicitPort(n, f.path("port"), r, &step) }
        var count: Int? = 3
        if let n = f["count"] { count = r.integer(n, f.path("count"), in: 1...1_000_000, expected: "a number of datagrams") }
        var interval: SimDuration? = SimDuration(nanoseconds: 50_000_000)
        if let n = f["interval"] { interval = r.duration(n, f.path("interval"), minimum: .positive) }
        var length: Int? = 64
        if let n = f["length"] { length = r.integer(n, f.path("length"), in: 0...65507, expected: "a UDP payload length in bytes") }
        var echo: Bool? = true
        if let n = f["echo"] { echo = r.bool(n, f.path("echo"), hint: "write `echo: true` or `echo: false`") }
        var dontFragment: Bool? = false
        if let n = f["dontFragment"] {
            dontFragment = r.bool(n, f.path("dontFragment"), hint: "write `dontFragment: true` (IP_PMTUDISC_DO) or false")
        }
        guard let client, let server, let port, let count, let interval, let length, let echo, let dontFragment else { return nil }
        return .udp(UDPEchoStep(client: client, server: server, port: UInt16(port), count: count, interval: interval,
                                length: length, echo: echo, dontFragment: dontFragment))
    }

    /// A step's `port`, remembered with its place so that a Service target can check it.
    private static func explicitPort(_ node: Node, _ path: String, _ r: DocumentReader, _ step: inout StepDraft) -> Int? {
        let port = r.integer(node, path, in: 1...65535, expected: "a UDP port")
        if let port { step.port = Located(value: port, location: r.location(of: node)) }
        return port
    }

    static let targetForms = "pod/NAME, node/NAME or deploy/NAME (also host/NAME, and for servers svc/NAME:PORT or node/NAME:NODEPORT)"

    /// "pod/NAME", "node/NAME", "deploy/NAME", "host/NAME" (kubectl's short and long type
    /// names), "svc/NAME[:PORT]" and "node/NAME:NODEPORT". Checks what the step's `role`
    /// allows; names are checked against the file in `TopologyValidation`.
    private static func target(_ node: Node, _ path: String, _ role: TargetRole, _ r: DocumentReader, _ step: inout StepDraft) -> Target? {
        guard let text = r.string(node, path, expected: "a target like \(targetForms)") else { return nil }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let example = "write `pod/NAME`, `node/NAME` or `deploy/NAME`"
        guard parts.count == 2, !parts[1].isEmpty, !parts[1].contains("/") else {
            r.report(node, path, "expected a target like \(targetForms); got \(DocumentReader.describe(node))",
                     hint: example + " — the type comes first, then a slash")
            return nil
        }
        let type = parts[0]
        var name = parts[1]
        var portText: String?
        if let colon = name.firstIndex(of: ":") {
            portText = String(name[name.index(after: colon)...])
            name = String(name[..<colon])
        }
        let got = DocumentReader.describe(node)
        if name.isEmpty {
            r.report(node, path, "expected a name after `\(type)/`; got \(got)", hint: "write e.g. `\(type)/web:80`")
            return nil
        }
        let result: Target
        var servicePort: ServicePortReference?
        switch type {
        case "pod", "pods", "po", "deploy", "deployment", "deployments", "host", "hosts":
            if portText != nil {
                let plain = "\(type)/\(name)"
                let hint = role == .to || role == .from
                    ? "ping has no ports: write `\(plain)`"
                    : "write `\(plain)` and set the step's `port:` (the port the server listens on)"
                r.report(node, path, "a \(type) target takes no port; got \(got)", hint: hint)
                return nil
            }
            switch type {
            case "pod", "pods", "po": result = .pod(name)
            case "host", "hosts": result = .host(name)
            default: result = .deployment(name)
            }
        case "node", "nodes", "no":
            guard let portText else {
                result = .node(name)
                break
            }
            guard let port = portNumber(portText) else {
                r.report(node, path, "expected a node port number after `node/\(name):`, like node/\(name):30080; got \(got)",
                         hint: "a node port is a number from a NodePort Service's `nodePort`")
                return nil
            }
            guard !role.sends else {
                r.report(node, path, "a node port cannot be a \(role == .client ? "client" : "ping source"): it is where traffic arrives; got \(got)",
                         hint: "write `node/\(name)` to send from the node itself")
                return nil
            }
            guard role == .server else {
                r.report(node, path, "ping has no ports, and node/\(name):\(port) is a NodePort; got \(got)",
                         hint: "write `to: node/\(name)` to ping the node, or send UDP to the node port with a `udp` step")
                return nil
            }
            result = .nodePort(node: name, port: port)
        case "svc", "service", "services":
            guard !role.sends else {
                r.report(node, path, "a Service cannot be a \(role == .client ? "client" : "ping source"): it is a virtual IP with no sockets; got \(got)",
                         hint: "send from a pod, node or host, e.g. `pod/client`")
                return nil
            }
            guard role == .server else {
                r.report(node, path, "a ClusterIP does not answer ping in kube-proxy's iptables mode (nothing DNATs ICMP); ping a pod instead",
                         hint: "write `to: pod/NAME` with one of the Service's pods, or send to the Service with a `udp` step (`server: svc/\(name):PORT`)")
                return nil
            }
            switch portText {
            case nil:
                servicePort = .only
            case let text? where text.isEmpty:
                r.report(node, path, "expected a port number or name after `svc/\(name):`; got \(got)",
                         hint: "write e.g. `svc/\(name):80` or `svc/\(name):http`, or `svc/\(name)` for a Service with one port")
                return nil
            case let text? where text.allSatisfy({ $0.isASCII && $0.isNumber }):
                guard let port = portNumber(text) else {
                    r.report(node, path, "expected a Service port from 1 to 65535 after `svc/\(name):`; got \(got)",
                             hint: "write the Service's `port` (e.g. 80) or the port's name")
                    return nil
                }
                servicePort = .number(port)
            case let text?:
                servicePort = .name(text)
            }
            if case .number(let port) = servicePort {
                result = .service(name: name, port: port)
            } else {
                result = .service(name: name, port: 0)
            }
        default:
            let known = ["pod", "node", "deploy", "host", "svc"]
            r.report(node, path, "expected a target of type pod, node, deploy, host or svc; got \(got)",
                     hint: Suggestions.didYouMean(type, in: known).map { "\($0) (\(example))" } ?? example)
            return nil
        }
        step.targets.append(TargetReference(target: result, location: r.location(of: node), path: path, role: role, servicePort: servicePort))
        return result
    }

    /// 1…65535 written in decimal digits only.
    private static func portNumber(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(text), (1...65535).contains(v) else { return nil }
        return v
    }

    // MARK: spec.capture

    private static func readCapture(_ node: Node, _ path: String, _ r: DocumentReader) -> CaptureSpec? {
        guard let f = r.fields(node, path, captureSchema) else { return nil }
        var capture = CaptureSpec(interfaces: ["*"], snaplen: 262_144, filter: "")
        var ok = true
        if let n = f["interfaces"] {
            capture.interfacesLocation = r.location(of: n)
            if let items = r.sequence(n, f.path("interfaces"), expected: "a list of interface name patterns, like [\"*\"]",
                                      hint: "write `interfaces: [\"*\"]` or e.g. `interfaces: [\"pi-1/*\"]`") {
                var patterns: [String] = []
                for (i, item) in items.enumerated() {
                    let p = "\(f.path("interfaces"))[\(i)]"
                    if let s = r.string(item, p, expected: "an interface name pattern") {
                        if s.isEmpty {
                            r.report(item, p, "expected an interface name pattern; got an empty string", hint: "write \"*\" for every interface")
                            ok = false
                        } else {
                            patterns.append(s)
                        }
                    } else {
                        ok = false
                    }
                }
                if items.isEmpty {
                    r.report(n, f.path("interfaces"), "expected at least one interface pattern; got an empty list",
                             hint: "write `interfaces: [\"*\"]`, or remove `capture` to record everything")
                    ok = false
                }
                capture.interfaces = patterns
            } else {
                ok = false
            }
        }
        if let n = f["snaplen"] {
            if let v = r.integer(n, f.path("snaplen"), in: 64...262_144, expected: "a snapshot length in bytes") { capture.snaplen = v } else { ok = false }
        }
        if let n = f["filter"] {
            capture.filterLocation = r.location(of: n)
            if let v = r.string(n, f.path("filter"), expected: "a BPF filter expression in tcpdump syntax") { capture.filter = v } else { ok = false }
        }
        return ok ? capture : nil
    }

    // MARK: Addresses

    static func network(_ node: Node, _ path: String, example: String, _ r: DocumentReader) -> IPv4Network? {
        guard let text = r.string(node, path, expected: "an IPv4 network in CIDR notation, like \(example)") else { return nil }
        if let net = IPv4Network(text) { return net }
        if let iface = IPv4Interface(text) {
            r.report(node, path, "expected a network address with the host bits clear, like \(example); got \(DocumentReader.describe(node))",
                     hint: "did you mean \(iface.network)?")
        } else if let address = IPv4Address(text) {
            r.report(node, path, "expected an IPv4 network with a prefix length, like \(example); got \(DocumentReader.describe(node))",
                     hint: "add the prefix length, e.g. \(address)/24")
        } else {
            r.report(node, path, "expected an IPv4 network in CIDR notation, like \(example); got \(DocumentReader.describe(node))",
                     hint: "write four numbers 0-255 separated by dots, a slash and a prefix length 0-32")
        }
        return nil
    }

    static func interface(_ node: Node, _ path: String, _ r: DocumentReader) -> IPv4Interface? {
        let expected = "an IPv4 address with a prefix length, like 192.168.50.11/24"
        guard let text = r.string(node, path, expected: expected) else { return nil }
        if let iface = IPv4Interface(text) { return iface }
        if let address = IPv4Address(text) {
            r.report(node, path, "expected \(expected); got \(DocumentReader.describe(node))",
                     hint: "add the prefix length of the node's LAN, e.g. \(address)/24")
        } else {
            r.report(node, path, "expected \(expected); got \(DocumentReader.describe(node))",
                     hint: "write four numbers 0-255 separated by dots, a slash and a prefix length 0-32")
        }
        return nil
    }
}
