/// Reads the plain Kubernetes workload documents after the Topology: `v1 Pod` and
/// `apps/v1 Deployment`, with the API server's own rules where podwire relies on them
/// (names, selector matching the template, container and port fields). Valid Kubernetes
/// fields that podwire does not model are accepted and dropped (`KubernetesFieldNames.swift`).
/// `v1 Service` documents are read by `ServiceManifest`. Kinds that arrive later
/// (NetworkPolicy) and unknown kinds are refused clearly.

import Yams

/// A Pod or Deployment after field-level checks, with the positions cross-checks need.
struct WorkloadDraft {
    enum Kind: String { case pod = "Pod", deployment = "Deployment" }
    var kind: Kind
    var location: SourceLocation
    var name: Located<String>?
    var namespace = "default"
    var replicas: Int? = 1
    /// nil when some part of the template was invalid (already reported).
    var template: PodTemplate?
    var nodeName: Located<String>?
    var nodeSelector: Located<[(key: String, value: String)]>?
}

enum KubernetesManifest {
    /// Kinds recognised but not modelled yet, with the issue that brings them.
    static let laterKinds: [String: String] = ["NetworkPolicy": "the network policy issue"]
    static let supportedKinds = ["Pod", "Deployment", "Service"]

    /// Reads one document whose `kind` is already known; returns nil for kinds that are not
    /// read (after reporting why).
    static func read(_ node: Node, kind: String, kindNode: Node, _ r: DocumentReader) -> WorkloadDraft? {
        let workloadKind: WorkloadDraft.Kind
        switch kind {
        case "Pod": workloadKind = .pod
        case "Deployment": workloadKind = .deployment
        case "NetworkPolicy":
            r.report(kindNode, "kind", "\(kind) is not supported yet (it arrives with \(laterKinds[kind] ?? "a later release")); remove the document",
                     hint: "delete this document (from its `---` to the next) for now")
            return nil
        default:
            let suggestion = Suggestions.didYouMean(kind, in: supportedKinds + ["Topology"])
            r.report(kindNode, "kind", "expected kind Pod, Deployment or Service (after the first document, which is the Topology); got \(DocumentReader.describe(kindNode))",
                     hint: suggestion ?? "remove this document; podwire reads only Pods, Deployments and Services for now")
            return nil
        }
        let explain = workloadKind.rawValue.lowercased()
        var draft = WorkloadDraft(kind: workloadKind, location: r.location(of: node))
        guard let doc = r.fields(node, "", .object(workloadKind.rawValue)) else { return draft }
        let wantVersion = workloadKind == .pod ? "v1" : "apps/v1"
        if let v = r.required(doc, "apiVersion", expected: "apiVersion \(wantVersion)", hint: "add `apiVersion: \(wantVersion)`"),
           let text = r.string(v, "apiVersion"), text != wantVersion {
            r.report(v, "apiVersion", "expected apiVersion \(wantVersion) for kind \(workloadKind.rawValue); got \(DocumentReader.describe(v))",
                     hint: "write `apiVersion: \(wantVersion)`")
        }

        var labels: [(key: String, value: String)]? = []
        if let m = r.required(doc, "metadata", expected: "object metadata with a name", hint: "add `metadata: {name: my-\(explain)}`"),
           let meta = r.fields(m, "metadata", .objectMeta(explain: "\(explain).metadata")) {
            if let n = r.required(meta, "name", expected: "the object's name",
                                  hint: meta.entries["generateName"] != nil ? "podwire needs a fixed `name`; replace `generateName` with `name`" : "add `name:` under metadata") {
                draft.name = objectName(n, "metadata.name", r).map { Located(value: $0, location: r.location(of: n)) }
            }
            if let n = meta["namespace"], let ns = r.string(n, "metadata.namespace") {
                if NameSyntax.isDNS1123Label(ns) {
                    draft.namespace = ns
                } else {
                    r.report(n, "metadata.namespace", "expected a DNS-1123 label (lowercase letters, digits and '-'); got \(DocumentReader.describe(n))",
                             hint: "use a namespace such as `default`")
                }
            }
            if let n = meta["labels"] {
                labels = r.stringMap(n, "metadata.labels", what: "label", validKey: NameSyntax.isLabelKey, validValue: NameSyntax.isLabelValue)
            }
        }
        guard let s = r.required(doc, "spec", expected: "the \(workloadKind.rawValue)'s spec", hint: "add a `spec:` with `containers:`") else { return draft }

        switch workloadKind {
        case .pod:
            if let labels { readPodSpec(s, "spec", labels: labels, explain: "pod.spec", r, into: &draft) }
            else { _ = r.fields(s, "spec", .podSpec(explain: "pod.spec")) }
        case .deployment:
            readDeploymentSpec(s, r, into: &draft)
        }
        return draft
    }

    private static func readDeploymentSpec(_ node: Node, _ r: DocumentReader, into draft: inout WorkloadDraft) {
        guard let spec = r.fields(node, "spec", .deploymentSpec) else { return }
        if let n = spec["replicas"] {
            draft.replicas = r.integer(n, "spec.replicas", in: 0...Int(Int32.max), expected: "a replica count")
        }
        var matchLabels: [(key: String, value: String)]?
        var selectorNode: Node?
        if let n = r.required(spec, "selector", expected: "a label selector with matchLabels, like {matchLabels: {app: web}}",
                              hint: "add `selector: {matchLabels: {app: web}}` matching the template's labels (apps/v1 requires it)"),
           let sel = r.fields(n, "spec.selector", .labelSelector) {
            selectorNode = n
            if let m = sel["matchLabels"] {
                matchLabels = r.stringMap(m, "spec.selector.matchLabels", what: "label", validKey: NameSyntax.isLabelKey, validValue: NameSyntax.isLabelValue)
                if let ml = matchLabels, ml.isEmpty {
                    r.report(m, "spec.selector.matchLabels", "expected at least one label; got an empty mapping",
                             hint: "select the template's labels, e.g. `matchLabels: {app: web}`")
                    matchLabels = nil
                }
            } else if sel.entries["matchExpressions"] == nil {
                r.report(at: sel.location, "spec.selector", "missing required field `matchLabels` (an empty selector is refused by apps/v1)",
                         hint: "add `matchLabels: {app: web}` matching the template's labels")
            }
        }
        guard let t = r.required(spec, "template", expected: "a pod template with metadata.labels and spec",
                                 hint: "add `template:` with `metadata: {labels: {app: web}}` and a pod `spec:`"),
              let template = r.fields(t, "spec.template", .podTemplateSpec) else { return }
        var labels: [(key: String, value: String)]? = []
        if let m = template["metadata"], let meta = r.fields(m, "spec.template.metadata", .objectMeta(explain: "deployment.spec.template.metadata")) {
            if let n = meta["labels"] {
                labels = r.stringMap(n, "spec.template.metadata.labels", what: "label", validKey: NameSyntax.isLabelKey, validValue: NameSyntax.isLabelValue)
            }
        }
        if let labels, let matchLabels, let selectorNode {
            let missing = matchLabels.filter { sel in !labels.contains { $0.key == sel.key && $0.value == sel.value } }
            if !missing.isEmpty {
                let text = missing.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                r.report(selectorNode, "spec.selector.matchLabels",
                         "selector does not match the template's labels: {\(text)} is not in spec.template.metadata.labels (the API server refuses this Deployment)",
                         hint: "add {\(text)} to spec.template.metadata.labels, or change the selector to select them")
            }
        }
        guard let s = r.required(template, "spec", expected: "the pod spec with containers", hint: "add `spec: {containers: [{name: web, image: nginx}]}` under template") else { return }
        if let labels {
            readPodSpec(s, "spec.template.spec", labels: labels, explain: "deployment.spec.template.spec", r, into: &draft)
        } else {
            _ = r.fields(s, "spec.template.spec", .podSpec(explain: "deployment.spec.template.spec"))
        }
    }

    private static func readPodSpec(_ node: Node, _ path: String, labels: [(key: String, value: String)], explain: String,
                                    _ r: DocumentReader, into draft: inout WorkloadDraft) {
        guard let spec = r.fields(node, path, .podSpec(explain: explain)) else { return }
        var ok = true
        var nodeSelector: [(key: String, value: String)] = []
        if let n = spec["nodeName"] {
            if let name = r.string(n, spec.path("nodeName")) {
                draft.nodeName = Located(value: name, location: r.location(of: n))
            } else { ok = false }
        }
        if let n = spec["nodeSelector"] {
            if let sel = r.stringMap(n, spec.path("nodeSelector"), what: "node label", validKey: NameSyntax.isLabelKey, validValue: NameSyntax.isLabelValue) {
                nodeSelector = sel
                draft.nodeSelector = Located(value: sel, location: r.location(of: n))
            } else { ok = false }
        }
        // Read so that it can be refused: ignored, it would give the pod an address and a veth
        // of its own, which is not what the manifest asks for.
        if let n = spec["hostNetwork"] {
            if let on = r.bool(n, spec.path("hostNetwork"), hint: "write `hostNetwork: false` or leave it out") {
                if on {
                    r.report(n, spec.path("hostNetwork"), "hostNetwork: true is not modelled yet: podwire gives every pod its own network namespace, an address from its node's pod CIDR and a veth on cni0",
                             hint: "remove hostNetwork to give the pod a pod IP, or send to and from the node itself with `node/NAME` in scenario steps")
                    ok = false
                }
            } else { ok = false }
        }
        var containers: [ContainerSpec] = []
        if let n = r.required(spec, "containers", expected: "a list of containers", hint: "add `containers: [{name: app, image: busybox}]`"),
           let items = r.sequence(n, spec.path("containers"), expected: "a list of containers",
                                  hint: "start each container with `- `, e.g. `- {name: app, image: busybox}`") {
            if items.isEmpty {
                r.report(n, spec.path("containers"), "expected at least one container; got an empty list",
                         hint: "add `- {name: app, image: busybox}`")
                ok = false
            }
            for (i, item) in items.enumerated() {
                let p = "\(spec.path("containers"))[\(i)]"
                if let c = readContainer(item, p, explain: explain + ".containers", r) {
                    if let first = containers.first(where: { $0.name == c.name }) {
                        r.report(item, DocumentReader.join(p, "name"), "duplicate container name \(String(reflecting: first.name)) in this pod",
                                 hint: "give each container of a pod its own name")
                        ok = false
                    }
                    containers.append(c)
                } else { ok = false }
            }
        } else { ok = false }
        if ok { draft.template = PodTemplate(labels: labels, nodeName: draft.nodeName?.value, nodeSelector: nodeSelector, containers: containers) }
    }

    private static func readContainer(_ node: Node, _ path: String, explain: String, _ r: DocumentReader) -> ContainerSpec? {
        guard let f = r.fields(node, path, .container(explain: explain), expected: "a container (a mapping with name and image)") else { return nil }
        var name: String?
        if let n = r.required(f, "name", expected: "the container's name", hint: "add `name: app`"), let s = r.string(n, f.path("name")) {
            if NameSyntax.isDNS1123Label(s) { name = s } else {
                r.report(n, f.path("name"), "expected a DNS-1123 label (1-63 lowercase letters, digits or '-'); got \(DocumentReader.describe(n))",
                         hint: "use a name such as `web`")
            }
        }
        let image = r.required(f, "image", expected: "a container image (podwire only displays it)", hint: "add `image: busybox`")
            .flatMap { r.string($0, f.path("image")) }
        var ports: [ContainerPortSpec]? = []
        if let n = f["ports"] {
            ports = nil
            if let items = r.sequence(n, f.path("ports"), expected: "a list of container ports", hint: "write `ports: [{containerPort: 8080}]`") {
                var result: [ContainerPortSpec] = []
                var ok = true
                for (i, item) in items.enumerated() {
                    if let p = readPort(item, "\(f.path("ports"))[\(i)]", explain: explain + ".ports", r) { result.append(p) } else { ok = false }
                }
                if ok { ports = result }
            }
        }
        guard let name, let image, let ports else { return nil }
        return ContainerSpec(name: name, image: image, ports: ports)
    }

    private static func readPort(_ node: Node, _ path: String, explain: String, _ r: DocumentReader) -> ContainerPortSpec? {
        guard let f = r.fields(node, path, .containerPort(explain: explain), expected: "a container port (a mapping with containerPort)") else { return nil }
        var ok = true
        var name: String?
        if let n = f["name"], let s = r.string(n, f.path("name")) {
            if NameSyntax.isPortName(s) { name = s } else {
                r.report(n, f.path("name"), "expected a port name of 1-15 lowercase letters, digits or '-' with at least one letter; got \(DocumentReader.describe(n))",
                         hint: "use a name such as `http`")
                ok = false
            }
        }
        let port = r.required(f, "containerPort", expected: "the port number", hint: "add `containerPort: 8080`")
            .flatMap { r.integer($0, f.path("containerPort"), in: 1...65535, expected: "a port number") }
        var proto: String? = "TCP"
        if let n = f["protocol"] {
            proto = nil
            if let s = r.string(n, f.path("protocol")) {
                if ["TCP", "UDP", "SCTP"].contains(s) { proto = s } else {
                    r.report(n, f.path("protocol"), "expected TCP, UDP or SCTP; got \(DocumentReader.describe(n))",
                             hint: ["TCP", "UDP", "SCTP"].contains(s.uppercased()) ? "write it in capitals: `protocol: \(s.uppercased())`" : "write `protocol: UDP` or leave it out for TCP")
                }
            }
        }
        if let n = f["hostPort"] {
            // The portmap CNI plugin's DNAT from the node's port to the pod: ignoring it would
            // leave the node's port closed while the manifest says it is open.
            r.report(n, f.path("hostPort"), "hostPort is not modelled: podwire does not program the portmap plugin's DNAT from the node's port to the pod",
                     hint: "remove hostPort, and reach the pod from outside the cluster through a `type: NodePort` Service")
            ok = false
        }
        guard ok, let port, let proto else { return nil }
        return ContainerPortSpec(name: name, containerPort: port, protocol: proto)
    }

    private static func objectName(_ node: Node, _ path: String, _ r: DocumentReader) -> String? {
        guard let name = r.string(node, path) else { return nil }
        guard NameSyntax.isDNS1123Subdomain(name) else {
            r.report(node, path, "expected a DNS-1123 name (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit); got \(DocumentReader.describe(node))",
                     hint: "use a name such as `web-0`")
            return nil
        }
        return name
    }
}
