/// Reads `v1 Service` documents with the API server's own rules for one object
/// (`ValidateService` in pkg/apis/core/validation/validation.go, defaults from
/// pkg/apis/core/v1/defaults.go): type, ports (names, numbers, protocols, target ports,
/// node ports), ClusterIP syntax, external traffic policy and session affinity. Checks that
/// span documents (names per namespace, ClusterIPs inside the service subnet and unique,
/// node ports inside the range and unique, allocation) are in
/// `TopologyValidation+Services.swift`.
///
/// podwire models ClusterIP and NodePort Services in kube-proxy's iptables mode over IPv4.
/// LoadBalancer, ExternalName, headless Services, external IPs, SCTP, dual stack and
/// `internalTrafficPolicy: Local` are refused with a "not modelled" error rather than
/// silently behaving differently.

import Wire
import Yams

/// One Service port after field-level checks; `spec.nodePort` is as written.
struct ServicePortDraft {
    var spec: ServicePortSpec
    var nodePortLocation: SourceLocation?
    var location: SourceLocation
    var path: String
}

/// A Service after field-level checks. nil fields were invalid (already reported).
struct ServiceDraft {
    var location: SourceLocation
    var name: Located<String>?
    var namespace = "default"
    var type: ServiceTypeSpec? = .clusterIP
    /// As written; nil when absent (allocated later) or invalid (`clusterIPInvalid`).
    var clusterIP: Located<IPv4Address>?
    /// `spec.clusterIP`, or `spec.clusterIPs[0]` when only that was written.
    var clusterIPPath = "spec.clusterIP"
    var clusterIPInvalid = false
    var selector: [(key: String, value: String)]? = []
    var ports: [ServicePortDraft]?
    var externalTrafficPolicy: String? = "Cluster"
    var sessionAffinity: String? = "None"
    var sessionAffinityTimeoutSeconds: Int? = 10800
    /// Something else was invalid or refused (already reported).
    var invalid = false
}

enum ServiceManifest {
    static let supportedTypes = ServiceTypeSpec.allCases.map(\.rawValue)
    static let kubernetesTypes = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
    /// kube-apiserver's `MaxClientIPServiceAffinitySeconds` (one day) and its default
    /// `DefaultClientIPServiceAffinitySeconds` (3 hours).
    static let maxAffinitySeconds = 86400
    static let defaultAffinitySeconds = 10800

    static func read(_ node: Node, _ r: DocumentReader) -> ServiceDraft {
        var draft = ServiceDraft(location: r.location(of: node))
        guard let doc = r.fields(node, "", .object("Service")) else {
            draft.invalid = true
            return draft
        }
        if let v = r.required(doc, "apiVersion", expected: "apiVersion v1", hint: "add `apiVersion: v1`"),
           let text = r.string(v, "apiVersion"), text != "v1" {
            r.report(v, "apiVersion", "expected apiVersion v1 for kind Service; got \(DocumentReader.describe(v))",
                     hint: "write `apiVersion: v1`")
        }
        if let m = r.required(doc, "metadata", expected: "object metadata with a name", hint: "add `metadata: {name: web}`"),
           let meta = r.fields(m, "metadata", .objectMeta(explain: "service.metadata")) {
            if let n = r.required(meta, "name", expected: "the Service's name",
                                  hint: meta.entries["generateName"] != nil ? "podwire needs a fixed `name`; replace `generateName` with `name`" : "add `name:` under metadata"),
               let name = r.string(n, "metadata.name") {
                if NameSyntax.isDNS1035Label(name) {
                    draft.name = Located(value: name, location: r.location(of: n))
                } else {
                    let hint = NameSyntax.isDNS1123Label(name)
                        ? "a Service name must start with a letter (it becomes a DNS label, RFC 1035), e.g. `svc-\(name)`"
                        : "use a name such as `web`"
                    r.report(n, "metadata.name", "expected a DNS-1035 label (1-63 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit); got \(DocumentReader.describe(n))",
                             hint: hint)
                    draft.invalid = true
                }
            }
            if let n = meta["namespace"], let ns = r.string(n, "metadata.namespace") {
                if NameSyntax.isDNS1123Label(ns) {
                    draft.namespace = ns
                } else {
                    r.report(n, "metadata.namespace", "expected a DNS-1123 label (lowercase letters, digits and '-'); got \(DocumentReader.describe(n))",
                             hint: "use a namespace such as `default`")
                    draft.invalid = true
                }
            }
            if let n = meta["labels"] {
                if r.stringMap(n, "metadata.labels", what: "label", validKey: NameSyntax.isLabelKey, validValue: NameSyntax.isLabelValue) == nil {
                    draft.invalid = true
                }
            }
        } else {
            draft.invalid = true
        }
        guard let s = r.required(doc, "spec", expected: "the Service's spec with ports", hint: "add `spec: {selector: {app: web}, ports: [{port: 80}]}`"),
              let spec = r.fields(s, "spec", .serviceSpec) else {
            draft.invalid = true
            return draft
        }
        readSpec(spec, r, into: &draft)
        return draft
    }

    private static func readSpec(_ spec: Fields, _ r: DocumentReader, into draft: inout ServiceDraft) {
        if let n = spec["type"], let text = r.string(n, spec.path("type")) {
            switch text {
            case "ClusterIP": draft.type = .clusterIP
            case "NodePort": draft.type = .nodePort
            case "LoadBalancer":
                r.report(n, spec.path("type"), "type LoadBalancer is not modelled: podwire has no cloud load balancer to program",
                         hint: "use `type: NodePort` (a LoadBalancer Service is a NodePort Service plus an external balancer) and send to node/NAME:NODEPORT")
                draft.type = nil
            case "ExternalName":
                r.report(n, spec.path("type"), "type ExternalName is not modelled: it is only a DNS CNAME, with no ClusterIP and no kube-proxy rules, and podwire has no DNS",
                         hint: "remove this Service, or make it `type: ClusterIP` with a selector")
                draft.type = nil
            default:
                r.report(n, spec.path("type"), "expected type ClusterIP or NodePort (Kubernetes also has LoadBalancer and ExternalName, which podwire does not model); got \(DocumentReader.describe(n))",
                         hint: Suggestions.didYouMean(text, in: kubernetesTypes) ?? "write `type: ClusterIP` (the default) or `type: NodePort`")
                draft.type = nil
            }
        } else if spec["type"] != nil {
            draft.type = nil
        }
        if draft.type == nil { draft.invalid = true }

        readClusterIP(spec, r, into: &draft)
        if let n = spec["selector"] {
            draft.selector = r.stringMap(n, spec.path("selector"), what: "label", validKey: NameSyntax.isLabelKey, validValue: NameSyntax.isLabelValue)
            if draft.selector == nil { draft.invalid = true }
        }
        readPorts(spec, r, into: &draft)
        readPolicies(spec, r, into: &draft)
        readUnmodelled(spec, r, into: &draft)
    }

    // MARK: clusterIP, clusterIPs

    private static func readClusterIP(_ spec: Fields, _ r: DocumentReader, into draft: inout ServiceDraft) {
        let headlessHint = "remove `clusterIP: None` to get a ClusterIP, or target the pods directly (pod/NAME)"
        let headless = "a headless Service (clusterIP: None) is not modelled: kube-proxy installs no rules for it and it only exists in DNS, which podwire has no model of"
        var written: (text: String, node: Node)?
        if let n = spec["clusterIP"], let text = r.string(n, spec.path("clusterIP"), expected: "an IPv4 address, \"None\" or \"\"") {
            written = (text, n)
        } else if spec["clusterIP"] != nil {
            draft.clusterIPInvalid = true
        }
        if let n = spec["clusterIPs"],
           let items = r.sequence(n, spec.path("clusterIPs"), expected: "a list with one IPv4 address, like [10.96.0.20]", hint: "write `clusterIPs: [10.96.0.20]`, or use `clusterIP`") {
            if items.count > 1 {
                r.report(items[1], "\(spec.path("clusterIPs"))[1]", "a second ClusterIP means a dual-stack Service, which is not modelled: podwire's cluster is IPv4 single-stack",
                         hint: "keep only the IPv4 address")
                draft.clusterIPInvalid = true
            }
            if let first = items.first, let text = r.string(first, "\(spec.path("clusterIPs"))[0]", expected: "an IPv4 address") {
                if let w = written {
                    if w.text != text {
                        r.report(first, "\(spec.path("clusterIPs"))[0]", "clusterIPs[0] must match clusterIP (\(DocumentReader.describe(w.node))); got \(DocumentReader.describe(first))",
                                 hint: "write the same address in both, or keep only `clusterIP`")
                        draft.clusterIPInvalid = true
                    }
                } else {
                    written = (text, first)
                }
            } else if !items.isEmpty {
                draft.clusterIPInvalid = true
            }
        } else if spec["clusterIPs"] != nil {
            draft.clusterIPInvalid = true
        }
        guard let (text, node) = written, !text.isEmpty else { return }
        let path = spec.entries["clusterIP"] != nil ? spec.path("clusterIP") : "\(spec.path("clusterIPs"))[0]"
        if text == "None" {
            r.report(node, path, headless, hint: headlessHint)
            draft.clusterIPInvalid = true
        } else if let address = IPv4Address(text) {
            draft.clusterIP = Located(value: address, location: r.location(of: node))
            draft.clusterIPPath = path
        } else {
            let ipv6 = text.contains(":")
            r.report(node, path, ipv6 ? "an IPv6 ClusterIP is not modelled: podwire's cluster is IPv4 single-stack; got \(DocumentReader.describe(node))"
                                      : "expected an IPv4 address inside spec.cluster.serviceSubnet, \"None\" or \"\"; got \(DocumentReader.describe(node))",
                     hint: ipv6 ? "write an IPv4 address inside the service subnet, or remove clusterIP to have one allocated"
                                : "write e.g. `clusterIP: 10.96.0.20`, or remove clusterIP to have one allocated")
            draft.clusterIPInvalid = true
        }
    }

    // MARK: ports

    private static func readPorts(_ spec: Fields, _ r: DocumentReader, into draft: inout ServiceDraft) {
        guard let n = r.required(spec, "ports", expected: "a list of ports, like [{port: 80}]",
                                 hint: "add `ports: [{name: http, port: 80, targetPort: 8080, protocol: UDP}]` (the API server requires ports)"),
              let items = r.sequence(n, spec.path("ports"), expected: "a list of ports", hint: "start each port with `- `, e.g. `- {port: 80}`") else {
            draft.invalid = true
            return
        }
        if items.isEmpty {
            r.report(n, spec.path("ports"), "expected at least one port; got an empty list (the API server requires ports)",
                     hint: "add `- {port: 80, targetPort: 8080}`")
            draft.invalid = true
            return
        }
        var ports: [ServicePortDraft] = []
        var ok = true
        for (i, item) in items.enumerated() {
            let p = "\(spec.path("ports"))[\(i)]"
            if let port = readPort(item, p, requireName: items.count > 1, r) {
                if let name = port.spec.name, let first = ports.first(where: { $0.spec.name == name }) {
                    r.report(at: port.location, DocumentReader.join(p, "name"), "duplicate port name \(String(reflecting: name)); port \(first.path) has it already",
                             hint: "give each port of a Service its own name")
                    ok = false
                }
                if let first = ports.first(where: { $0.spec.port == port.spec.port && $0.spec.protocol == port.spec.protocol }) {
                    r.report(at: port.location, DocumentReader.join(p, "port"), "duplicate port \(port.spec.port)/\(port.spec.protocol); \(first.path) has it already",
                             hint: "a Service may repeat a port number only with another protocol (e.g. 53/UDP and 53/TCP)")
                    ok = false
                }
                if let nodePort = port.spec.nodePort, let location = port.nodePortLocation {
                    if draft.type == .clusterIP {
                        r.report(at: location, DocumentReader.join(p, "nodePort"), "nodePort may not be used when `type` is 'ClusterIP'",
                                 hint: "add `type: NodePort` to the spec, or remove nodePort")
                        ok = false
                    } else if let first = ports.first(where: { $0.spec.nodePort == nodePort && $0.spec.protocol == port.spec.protocol }) {
                        r.report(at: location, DocumentReader.join(p, "nodePort"), "duplicate nodePort \(nodePort)/\(port.spec.protocol); \(first.path) has it already",
                                 hint: "give each port its own nodePort, or remove nodePort to have one allocated")
                        ok = false
                    } else if let first = ports.first(where: { $0.spec.nodePort == nodePort && $0.spec.port != port.spec.port }) {
                        r.report(at: location, DocumentReader.join(p, "nodePort"), "nodePort \(nodePort) is already used by \(first.path) (port \(first.spec.port)); only ports with the same number may share a nodePort",
                                 hint: "give this port its own nodePort, or remove nodePort to have one allocated")
                        ok = false
                    }
                }
                ports.append(port)
            } else {
                ok = false
            }
        }
        if ok { draft.ports = ports } else { draft.invalid = true }
    }

    private static func readPort(_ node: Node, _ path: String, requireName: Bool, _ r: DocumentReader) -> ServicePortDraft? {
        guard let f = r.fields(node, path, .servicePort, expected: "a service port (a mapping with port, like {port: 80})") else { return nil }
        var ok = true
        var name: String?
        if let n = f["name"] {
            if let s = r.string(n, f.path("name")) {
                if NameSyntax.isDNS1123Label(s) { name = s } else {
                    r.report(n, f.path("name"), "expected a DNS-1123 label (1-63 lowercase letters, digits or '-', starting and ending with a letter or digit); got \(DocumentReader.describe(n))",
                             hint: "use a name such as `http`")
                    ok = false
                }
            } else { ok = false }
        } else if requireName && !f.misspelt.contains("name") {
            r.report(at: f.location, f.path("name"), "missing required field `name`: a Service with more than one port needs a name on each",
                     hint: "add e.g. `name: http`; targets may then say svc/NAME:http")
            ok = false
        }
        let port = r.required(f, "port", expected: "the port on the ClusterIP", hint: "add `port: 80`")
            .flatMap { r.integer($0, f.path("port"), in: 1...65535, expected: "a port number") }
        var proto: String? = "TCP"
        if let n = f["protocol"] {
            proto = nil
            if let s = r.string(n, f.path("protocol")) {
                switch s {
                case "TCP", "UDP": proto = s
                case "SCTP":
                    r.report(n, f.path("protocol"), "protocol SCTP is not modelled: podwire carries UDP (and TCP ports, for completeness) only",
                             hint: "write `protocol: UDP`")
                default:
                    r.report(n, f.path("protocol"), "expected TCP, UDP or SCTP; got \(DocumentReader.describe(n))",
                             hint: ["TCP", "UDP", "SCTP"].contains(s.uppercased()) ? "write it in capitals: `protocol: \(s.uppercased())`" : "write `protocol: UDP` or leave it out for TCP")
                }
            }
        }
        var targetPort: TargetPortSpec?
        if let n = f["targetPort"] {
            targetPort = readTargetPort(n, f.path("targetPort"), r)
            if targetPort == nil { ok = false }
        }
        var nodePort: Int?
        var nodePortLocation: SourceLocation?
        if let n = f["nodePort"] {
            if let v = r.integer(n, f.path("nodePort"), in: 0...65535, expected: "a node port") {
                // 0 asks for an allocated port, as when absent.
                if v != 0 {
                    nodePort = v
                    nodePortLocation = r.location(of: n)
                }
            } else { ok = false }
        }
        guard ok, let port, let proto else { return nil }
        // targetPort 0 or "" defaults to `port` (SetDefaults_Service).
        let target: TargetPortSpec
        switch targetPort {
        case .number(0)?, .name("")?, nil: target = .number(port)
        case let t?: target = t
        }
        return ServicePortDraft(spec: ServicePortSpec(name: name, protocol: proto, port: port, targetPort: target, nodePort: nodePort),
                                nodePortLocation: nodePortLocation, location: f.location, path: path)
    }

    /// An int-or-string: 0…65535 (0 means "same as port", as the API server defaults it) or an
    /// IANA service name (IsValidPortName).
    private static func readTargetPort(_ node: Node, _ path: String, _ r: DocumentReader) -> TargetPortSpec? {
        if let text = DocumentReader.plainText(node), DocumentReader.isDecimalInteger(text) {
            return r.integer(node, path, in: 0...65535, expected: "a target port number").map { .number($0) }
        }
        guard let text = r.string(node, path, expected: "a port number or a container port name") else { return nil }
        if text.isEmpty { return .name("") }
        if NameSyntax.isPortName(text) { return .name(text) }
        if DocumentReader.isDecimalInteger(text) {
            r.report(node, path, "expected a port number or a container port name; got the string \(DocumentReader.describe(node)), which Kubernetes reads as a port name, and a port name needs a letter",
                     hint: "remove the quotes: `targetPort: \(text)`")
        } else {
            r.report(node, path, "expected a port number or a container port name (1-15 lowercase letters, digits or '-', with a letter, no '--'); got \(DocumentReader.describe(node))",
                     hint: "use the `name` of a container port, such as `http`, or its number")
        }
        return nil
    }

    // MARK: traffic policies, session affinity

    private static func readPolicies(_ spec: Fields, _ r: DocumentReader, into draft: inout ServiceDraft) {
        if let n = spec["externalTrafficPolicy"] {
            draft.externalTrafficPolicy = nil
            if let text = r.string(n, spec.path("externalTrafficPolicy")) {
                if !["Cluster", "Local"].contains(text) {
                    r.report(n, spec.path("externalTrafficPolicy"), "expected Cluster or Local; got \(DocumentReader.describe(n))",
                             hint: Suggestions.didYouMean(text, in: ["Cluster", "Local"]) ?? "write `externalTrafficPolicy: Local` to keep client source addresses, or leave it out")
                } else if draft.type == .clusterIP {
                    r.report(n, spec.path("externalTrafficPolicy"), "externalTrafficPolicy may only be set for externally-accessible services (type NodePort here); this one is type ClusterIP",
                             hint: "remove externalTrafficPolicy, or add `type: NodePort`")
                } else {
                    draft.externalTrafficPolicy = text
                }
            }
            if draft.externalTrafficPolicy == nil { draft.invalid = true }
        }
        if let n = spec["internalTrafficPolicy"], let text = r.string(n, spec.path("internalTrafficPolicy")) {
            switch text {
            case "Cluster": break
            case "Local":
                r.report(n, spec.path("internalTrafficPolicy"), "internalTrafficPolicy Local is not modelled: podwire's kube-proxy sends in-cluster traffic to every endpoint",
                         hint: "remove internalTrafficPolicy (Cluster is the default)")
                draft.invalid = true
            default:
                r.report(n, spec.path("internalTrafficPolicy"), "expected Cluster or Local; got \(DocumentReader.describe(n))",
                         hint: Suggestions.didYouMean(text, in: ["Cluster", "Local"]) ?? "remove internalTrafficPolicy (Cluster is the default)")
                draft.invalid = true
            }
        }
        var affinityNode: Node?
        if let n = spec["sessionAffinity"] {
            draft.sessionAffinity = nil
            if let text = r.string(n, spec.path("sessionAffinity")) {
                if ["None", "ClientIP"].contains(text) {
                    draft.sessionAffinity = text
                    affinityNode = n
                } else {
                    r.report(n, spec.path("sessionAffinity"), "expected None or ClientIP; got \(DocumentReader.describe(n))",
                             hint: Suggestions.didYouMean(text, in: ["None", "ClientIP"]) ?? "write `sessionAffinity: ClientIP` to pin each client to one endpoint, or leave it out")
                }
            }
            if draft.sessionAffinity == nil { draft.invalid = true }
        }
        if let n = spec["sessionAffinityConfig"] {
            guard let affinity = draft.sessionAffinity else { return }
            guard affinity == "ClientIP" else {
                r.report(n, spec.path("sessionAffinityConfig"), "sessionAffinityConfig must not be set when session affinity is None",
                         hint: affinityNode == nil ? "add `sessionAffinity: ClientIP`, or remove sessionAffinityConfig" : "write `sessionAffinity: ClientIP`, or remove sessionAffinityConfig")
                draft.invalid = true
                return
            }
            let p = spec.path("sessionAffinityConfig")
            guard let config = r.fields(n, p, .sessionAffinityConfig) else { draft.invalid = true; return }
            if let c = config["clientIP"], let clientIP = r.fields(c, DocumentReader.join(p, "clientIP"), .clientIPConfig) {
                if let t = clientIP["timeoutSeconds"] {
                    draft.sessionAffinityTimeoutSeconds = r.integer(t, clientIP.path("timeoutSeconds"), in: 1...maxAffinitySeconds, expected: "a timeout in seconds")
                    if draft.sessionAffinityTimeoutSeconds == nil { draft.invalid = true }
                }
            } else if config["clientIP"] != nil {
                draft.invalid = true
            }
        }
    }

    // MARK: fields of other types and features

    private static func readUnmodelled(_ spec: Fields, _ r: DocumentReader, into draft: inout ServiceDraft) {
        if let n = spec["externalIPs"] {
            if case .sequence(let items) = n, items.isEmpty {
                // An empty list is the same as none.
            } else {
                r.report(n, spec.path("externalIPs"), "externalIPs are not modelled: podwire's kube-proxy only answers on the ClusterIP and node ports",
                         hint: "remove externalIPs; use `type: NodePort` to reach the Service from outside the cluster")
                draft.invalid = true
            }
        }
        for key in ["loadBalancerSourceRanges", "loadBalancerClass", "allocateLoadBalancerNodePorts"] {
            if let n = spec[key] {
                if case .sequence(let items) = n, items.isEmpty { continue }
                r.report(n, spec.path(key), "\(key) may only be used when `type` is 'LoadBalancer', which podwire does not model",
                         hint: "remove \(key)")
                draft.invalid = true
            }
        }
        if let n = spec["healthCheckNodePort"] {
            r.report(n, spec.path("healthCheckNodePort"), "healthCheckNodePort may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'; podwire does not model LoadBalancer",
                     hint: "remove healthCheckNodePort")
            draft.invalid = true
        }
        if let n = spec["ipFamilies"], let items = r.sequence(n, spec.path("ipFamilies"), expected: "a list of IP families, like [IPv4]", hint: "write `ipFamilies: [IPv4]`, or leave it out") {
            for (i, item) in items.enumerated() {
                let p = "\(spec.path("ipFamilies"))[\(i)]"
                guard let text = r.string(item, p) else { draft.invalid = true; continue }
                if i > 0 {
                    r.report(item, p, "a second IP family means a dual-stack Service, which is not modelled: podwire's cluster is IPv4 single-stack",
                             hint: "write `ipFamilies: [IPv4]`, or leave it out")
                    draft.invalid = true
                } else if text == "IPv6" {
                    r.report(item, p, "IPv6 is not modelled: podwire's cluster is IPv4 single-stack", hint: "write `ipFamilies: [IPv4]`, or leave it out")
                    draft.invalid = true
                } else if text != "IPv4" {
                    r.report(item, p, "expected IPv4 or IPv6; got \(DocumentReader.describe(item))",
                             hint: Suggestions.didYouMean(text, in: ["IPv4", "IPv6"]) ?? "write `ipFamilies: [IPv4]`, or leave it out")
                    draft.invalid = true
                }
            }
        } else if spec["ipFamilies"] != nil {
            draft.invalid = true
        }
        if let n = spec["ipFamilyPolicy"], let text = r.string(n, spec.path("ipFamilyPolicy")) {
            switch text {
            case "SingleStack", "PreferDualStack": break
            case "RequireDualStack":
                r.report(n, spec.path("ipFamilyPolicy"), "ipFamilyPolicy RequireDualStack needs a dual-stack cluster; podwire's cluster is IPv4 single-stack",
                         hint: "write `ipFamilyPolicy: SingleStack` (or PreferDualStack), or leave it out")
                draft.invalid = true
            default:
                r.report(n, spec.path("ipFamilyPolicy"), "expected SingleStack, PreferDualStack or RequireDualStack; got \(DocumentReader.describe(n))",
                         hint: Suggestions.didYouMean(text, in: ["SingleStack", "PreferDualStack", "RequireDualStack"]) ?? "leave ipFamilyPolicy out")
                draft.invalid = true
            }
        }
    }
}
