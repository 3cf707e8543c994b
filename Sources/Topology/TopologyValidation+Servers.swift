/// Which server each `udp` (echo) and `iperf3` step starts, and where two steps want a port
/// for different servers. A udp step's echo server and an iperf3 step's `iperf3 -s` cannot
/// both bind one UDP port of one namespace (EADDRINUSE), and steps of one kind share the
/// server already there. The runner starts servers in scenario order for the whole run, so
/// the clash is decided by the file alone and reported here, at the later step's server,
/// rather than as a "not started" flow after the run.

extension TopologyValidation {
    /// The program a step runs on its server side.
    enum ServerKind: Equatable {
        case echo, iperf3

        var program: String {
            switch self {
            case .echo: "echo server"
            case .iperf3: "iperf3 server"
            }
        }

        var step: String {
            switch self {
            case .echo: "udp step"
            case .iperf3: "iperf3 step"
            }
        }
    }

    /// One (namespace, port) a step listens on. A Deployment stands for its replicas: any
    /// step that reaches a Deployment reaches its first replica.
    struct ServerSlot: Equatable {
        var owner: String
        var port: Int
    }

    /// Reports each step whose server port another kind of server already holds.
    static func checkServerPorts(_ drafts: [StepDraft], steps: [ScenarioStep], workloads: [WorkloadDraft],
                                 services: [ServiceSpec], _ r: DocumentReader) {
        var held: [(slot: ServerSlot, kind: ServerKind, step: Int)] = []
        for (i, (draft, step)) in zip(drafts, steps).enumerated() {
            let kind: ServerKind, server: Target, port: Int
            switch step.action {
            case .udp(let s) where s.echo: (kind, server, port) = (.echo, s.server, Int(s.port))
            case .iperf3(let s): (kind, server, port) = (.iperf3, s.server, Int(s.port))
            default: continue
            }
            var reported = false
            for slot in slots(server, port: port, workloads: workloads, services: services) {
                if let other = held.first(where: { $0.slot == slot }) {
                    guard other.kind != kind, !reported else { continue }
                    reported = true
                    let ref = draft.targets.first { $0.role == .server }
                    r.report(at: ref?.location ?? draft.location, ref?.path ?? draft.path,
                             "UDP port \(slot.port) of \(slot.owner) is taken by the \(other.kind.program) of the \(other.kind.step) "
                             + "spec.scenario[\(other.step)] (line \(steps[other.step].location.line)), so this \(kind.step)'s "
                             + "\(kind.program) cannot listen there (EADDRINUSE)",
                             hint: "a server stays up for the whole run and a UDP port holds one: give one of the two steps a server on another port")
                } else {
                    held.append((slot, kind, i))
                }
            }
        }
    }

    /// The server namespaces and ports a step with this server target listens on.
    private static func slots(_ server: Target, port: Int, workloads: [WorkloadDraft], services: [ServiceSpec]) -> [ServerSlot] {
        switch server {
        case .pod, .deployment, .node, .host:
            return [ServerSlot(owner: "\(server)", port: port)]
        case .service(let name, let servicePort):
            return services.filter { $0.name == name }.flatMap { s in
                s.ports.filter { $0.port == servicePort && $0.protocol == "UDP" }.flatMap { endpoints(s, $0, workloads) }
            }
        case .nodePort(_, let nodePort):
            // Every Service port with that node port: the runner serves the same set.
            return services.flatMap { s in s.ports.filter { $0.nodePort == nodePort }.flatMap { endpoints(s, $0, workloads) } }
        }
    }

    /// The workloads a Service port selects, on the port each listens on (`FindPort`: a
    /// number as is; a name is the first container port with that name and protocol, and a
    /// workload without one is no endpoint). The same rules as Kube's `Endpoints.resolve`.
    private static func endpoints(_ s: ServiceSpec, _ p: ServicePortSpec, _ workloads: [WorkloadDraft]) -> [ServerSlot] {
        guard !s.selector.isEmpty else { return [] }
        return workloads.compactMap { w -> ServerSlot? in
            guard let name = w.name?.value, let template = w.template, w.namespace == s.namespace, w.replicas != 0,
                  s.selector.allSatisfy({ pair in template.labels.contains { $0 == pair } }) else { return nil }
            let owner = (w.kind == .pod ? "pod/" : "deploy/") + name
            switch p.targetPort {
            case .number(let n): return ServerSlot(owner: owner, port: n)
            case .name(let portName):
                let ports = template.containers.flatMap(\.ports)
                return ports.first { $0.name == portName && $0.protocol == p.protocol }.map { ServerSlot(owner: owner, port: $0.containerPort) }
            }
        }
    }
}
