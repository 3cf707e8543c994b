/// The `v1 Service` objects podwire reads from a topology file, reduced to what kube-proxy
/// turns into rules: type, ClusterIP, selector, ports (with node ports), external traffic
/// policy and session affinity. Everything is resolved: defaults applied as the API server
/// applies them (`pkg/apis/core/v1/defaults.go`), ClusterIPs and node ports allocated the
/// way kube-apiserver allocates them (`ServiceAllocation.swift`). Endpoints are not resolved
/// here: which pods back a Service is decided later, from the selector.

import Wire

/// `spec.type`. LoadBalancer and ExternalName are refused while reading (not modelled).
public enum ServiceTypeSpec: String, Sendable, CaseIterable {
    case clusterIP = "ClusterIP"
    case nodePort = "NodePort"
}

/// `spec.ports[].targetPort`: a number, or the name of a container port of the selected
/// pods (resolved per endpoint later; a name no pod declares just gives no endpoint).
public enum TargetPortSpec: Sendable, Equatable, CustomStringConvertible {
    case number(Int)
    case name(String)

    public var description: String {
        switch self {
        case .number(let n): "\(n)"
        case .name(let s): s
        }
    }
}

/// One entry of a Service's `spec.ports`.
public struct ServicePortSpec: Sendable, Equatable {
    /// Required (a DNS-1123 label) when the Service has more than one port.
    public var name: String?
    /// "TCP" (Kubernetes' default) or "UDP"; SCTP is refused while reading.
    public var `protocol`: String
    /// The port on the ClusterIP, 1…65535.
    public var port: Int
    /// Where the endpoints listen; defaults to the same number as `port`.
    public var targetPort: TargetPortSpec
    /// The port opened on every node for a NodePort Service (as written or allocated);
    /// nil for a ClusterIP Service.
    public var nodePort: Int?

    public init(name: String?, protocol: String, port: Int, targetPort: TargetPortSpec, nodePort: Int?) {
        self.name = name
        self.protocol = `protocol`
        self.port = port
        self.targetPort = targetPort
        self.nodePort = nodePort
    }
}

/// A `v1 Service` document.
public struct ServiceSpec: Sendable {
    /// A DNS-1035 label (Service names must start with a letter), unique in its namespace.
    public var name: String
    /// `metadata.namespace`, "default" when absent.
    public var namespace: String
    public var type: ServiceTypeSpec
    /// As written, or allocated from `cluster.serviceSubnet` (see `ServiceAllocation.swift`).
    public var clusterIP: IPv4Address
    /// `spec.selector` in file order; empty selects nothing (a Service without a selector
    /// has only manually managed endpoints, which podwire does not read).
    public var selector: [(key: String, value: String)]
    /// At least one port.
    public var ports: [ServicePortSpec]
    /// "Cluster" (the default) or "Local" (NodePort only, as the API server requires).
    public var externalTrafficPolicy: String
    /// "None" (the default) or "ClientIP".
    public var sessionAffinity: String
    /// `sessionAffinityConfig.clientIP.timeoutSeconds`, 1…86400, default 10800 (3 hours);
    /// only used with `sessionAffinity: ClientIP`.
    public var sessionAffinityTimeoutSeconds: Int
    /// Start of the Service's document.
    public var location: SourceLocation

    public init(name: String, namespace: String, type: ServiceTypeSpec, clusterIP: IPv4Address,
                selector: [(key: String, value: String)], ports: [ServicePortSpec],
                externalTrafficPolicy: String = "Cluster", sessionAffinity: String = "None",
                sessionAffinityTimeoutSeconds: Int = 10800, location: SourceLocation) {
        self.name = name
        self.namespace = namespace
        self.type = type
        self.clusterIP = clusterIP
        self.selector = selector
        self.ports = ports
        self.externalTrafficPolicy = externalTrafficPolicy
        self.sessionAffinity = sessionAffinity
        self.sessionAffinityTimeoutSeconds = sessionAffinityTimeoutSeconds
        self.location = location
    }
}
