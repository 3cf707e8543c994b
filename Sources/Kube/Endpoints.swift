import Wire

/// The EndpointSlice controller's view of a Service: which pods back each of its ports, on
/// which target port. kube-proxy consumes the result (`KubeProxy.program`).
public enum Endpoints {
    /// For each port of `service` (`endpoints[i]` belongs to `service.ports[i]`): the pods in
    /// the Service's namespace whose labels carry every selector label, with the target port
    /// resolved per pod.
    ///
    /// - A Service with an empty selector gets no endpoints: the controllers only manage
    ///   endpoints of Services with a selector (`pkg/controller/endpoint/endpoints_controller.go`
    ///   `syncService`: "services without a selector receive no endpoints from this
    ///   controller; these services will receive the endpoints that are created out-of-band
    ///   via the REST API"); podwire models no hand-written endpoints.
    /// - Target port (`k8s.io/kubernetes/pkg/api/v1/pod.FindPort`): a number is used as is;
    ///   a name is looked up among every container's ports, the first port whose `name`
    ///   and `protocol` both equal the Service port's wins; a pod without such a port is not
    ///   an endpoint of that Service port (FindPort fails, the controller skips the pod for
    ///   that port). Protocols compare exactly (`"UDP"` ≠ `"udp"`), as the API stores them.
    /// - Not-ready pods stay in the list with `ready: false` (the controller publishes them
    ///   with `conditions.ready=false`); kube-proxy skips them (`CategorizeEndpoints`).
    /// - `pods` are the pods that have a sandbox and an address (Running); the caller filters.
    /// - Order: by the endpoint string `"ip:port"`, byte-wise, which is how kube-proxy orders
    ///   a Service port's endpoints before writing rules
    ///   (`pkg/proxy/endpointslicecache.go`, `endpointsMapFromEndpointInfo` →
    ///   `sort.Sort(byEndpoint(...))`, `Less` = `e[i].String() < e[j].String()`). Note the
    ///   order is textual: `10.244.0.10:8080` sorts before `10.244.0.3:8080`. Duplicated
    ///   `ip:port` pairs collapse to one, as kube-proxy's endpoint set does.
    public static func resolve(_ service: ServiceDefinition,
                               pods: [(definition: PodDefinition, ip: IPv4Address, nodeName: String, ready: Bool)])
        -> ServiceEndpoints {
        guard !service.selector.isEmpty else {
            return ServiceEndpoints(service: service, endpoints: service.ports.map { _ in [] })
        }
        let selected = pods.filter { pod in
            pod.definition.namespace == service.namespace
                && service.selector.allSatisfy { pod.definition.labels.contains($0) }
        }
        let perPort = service.ports.map { port -> [Endpoint] in
            let endpoints = selected.compactMap { pod -> Endpoint? in
                guard let target = targetPort(port, in: pod.definition) else { return nil }
                return Endpoint(address: pod.ip, port: target, nodeName: pod.nodeName, ready: pod.ready)
            }
            return sortedUnique(endpoints)
        }
        return ServiceEndpoints(service: service, endpoints: perPort)
    }

    /// `FindPort`: the container port a Service port's `targetPort` names in `pod`.
    static func targetPort(_ port: ServicePort, in pod: PodDefinition) -> UInt16? {
        switch port.targetPort {
        case .number(let n):
            return n
        case .name(let name):
            let proto = apiProtocolName(port.protocol)
            for container in pod.containers {
                for p in container.ports where p.name == name && p.protocol == proto {
                    return UInt16(exactly: p.containerPort)
                }
            }
            return nil
        }
    }

    /// `v1.Protocol` as the API spells it in `containerPort.protocol`.
    static func apiProtocolName(_ number: UInt8) -> String {
        KubeProxy.protocolName(number).uppercased()
    }

    /// kube-proxy's endpoint string, `"ip:port"` (`BaseEndpointInfo.String()`).
    static func endpointString(_ e: Endpoint) -> String { "\(e.address):\(e.port)" }

    /// Sorted by `endpointString` (byte-wise, as Go compares strings), one entry per
    /// `ip:port`. Where two entries share an `ip:port` the first is kept.
    static func sortedUnique(_ endpoints: [Endpoint]) -> [Endpoint] {
        var seen: Set<String> = []
        let unique = endpoints.filter { seen.insert(endpointString($0)).inserted }
        return unique.sorted { endpointString($0).utf8.lexicographicallyPrecedes(endpointString($1).utf8) }
    }
}
