import Wire

/// A `v1 Service` as kube-proxy sees it, and its endpoints (what the EndpointSlice
/// controller would publish: ready pods matching the selector, with the target port
/// resolved per pod).

public enum ServiceType: String, Sendable, Equatable {
    case clusterIP = "ClusterIP"
    case nodePort = "NodePort"
}

public enum ExternalTrafficPolicy: String, Sendable, Equatable {
    case cluster = "Cluster"
    case local = "Local"
}

public enum SessionAffinity: Sendable, Equatable {
    case none
    /// `sessionAffinity: ClientIP` with `sessionAffinityConfig.clientIP.timeoutSeconds`
    /// (default 10800).
    case clientIP(timeoutSeconds: Int)
}

/// `spec.ports[].targetPort`: a number, or the name of a container port.
public enum ServiceTargetPort: Sendable, Equatable {
    case number(UInt16)
    case name(String)
}

public struct ServicePort: Sendable, Equatable {
    /// `name` (required by Kubernetes when a Service has several ports).
    public var name: String?
    /// IP protocol number: 17 (UDP) is what podwire's traffic uses; 6 (TCP) is printed in
    /// rules but carries no traffic yet.
    public var `protocol`: UInt8
    public var port: UInt16
    public var targetPort: ServiceTargetPort
    /// Allocated or written; nil for ClusterIP Services.
    public var nodePort: UInt16?

    public init(name: String? = nil, protocol: UInt8 = 17, port: UInt16, targetPort: ServiceTargetPort,
                nodePort: UInt16? = nil) {
        self.name = name
        self.protocol = `protocol`
        self.port = port
        self.targetPort = targetPort
        self.nodePort = nodePort
    }
}

public struct ServiceDefinition: Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var type: ServiceType
    public var clusterIP: IPv4Address
    public var selector: [Label]
    public var ports: [ServicePort]
    public var externalTrafficPolicy: ExternalTrafficPolicy
    public var sessionAffinity: SessionAffinity

    public init(name: String, namespace: String = "default", type: ServiceType = .clusterIP, clusterIP: IPv4Address,
                selector: [Label], ports: [ServicePort], externalTrafficPolicy: ExternalTrafficPolicy = .cluster,
                sessionAffinity: SessionAffinity = .none) {
        self.name = name
        self.namespace = namespace
        self.type = type
        self.clusterIP = clusterIP
        self.selector = selector
        self.ports = ports
        self.externalTrafficPolicy = externalTrafficPolicy
        self.sessionAffinity = sessionAffinity
    }
}

/// One backend of one Service port.
public struct Endpoint: Sendable, Equatable {
    public var address: IPv4Address
    public var port: UInt16
    /// The node the pod runs on (for `externalTrafficPolicy: Local`).
    public var nodeName: String
    public var ready: Bool

    public init(address: IPv4Address, port: UInt16, nodeName: String, ready: Bool = true) {
        self.address = address
        self.port = port
        self.nodeName = nodeName
        self.ready = ready
    }
}

/// A Service with the endpoints of each of its ports (`endpoints[i]` belongs to `ports[i]`).
public struct ServiceEndpoints: Sendable, Equatable {
    public var service: ServiceDefinition
    public var endpoints: [[Endpoint]]

    public init(service: ServiceDefinition, endpoints: [[Endpoint]]) {
        self.service = service
        self.endpoints = endpoints
    }
}
