import Datapath
import Engine
import Kube
import Topology
import Traffic
import Wire

/// Turns the scenario's steps into Traffic applications at their start times. A step whose
/// endpoint cannot run (a Pending pod) does not stop the run: its result says why.
final class ScenarioRunner {
    let cluster: Cluster
    let topology: TopologySpec
    let traffic: TrafficRun
    private var problems: [(index: Int, title: String, message: String)] = []
    private var titles: [String] = []
    private var iperfServers: [(ns: NamespaceID, port: UInt16, server: Iperf3Server)] = []
    private var echoServers: [(ns: NamespaceID, port: UInt16, server: UDPEchoServer)] = []

    init(cluster: Cluster, topology: TopologySpec) {
        self.cluster = cluster
        self.topology = topology
        traffic = TrafficRun(world: cluster.world)
    }

    /// Where a target lives and the address others reach it at.
    struct Endpoint {
        var netns: NamespaceID
        var address: IPv4Address
    }

    func resolve(_ t: Target) -> Result<Endpoint, RunFailure> {
        switch t {
        case .node(let name):
            guard let n = cluster.node(named: name) else { return .failure(RunFailure("node \(name) does not exist")) }
            return .success(Endpoint(netns: n.netns, address: n.definition.address.address))
        case .pod(let name):
            guard let p = cluster.pods.first(where: { $0.name == name }) else {
                return .failure(RunFailure("pod \(name) does not exist"))
            }
            return endpoint(of: p, label: "pod/\(name)")
        case .host(let name):
            guard let h = cluster.host(named: name) else { return .failure(RunFailure("host \(name) does not exist")) }
            return .success(Endpoint(netns: h.netns, address: h.definition.address.address))
        case .deployment(let name):
            guard let first = cluster.deploymentReplicas(name: name).first,
                  let p = cluster.pods.first(where: { $0.name == first }) else {
                return .failure(RunFailure("deployment \(name) has no replicas"))
            }
            return endpoint(of: p, label: "deploy/\(name) (\(p.name))")
        case .service(let name, _):
            guard let s = cluster.services.first(where: { $0.name == name }) else {
                return .failure(RunFailure("service \(name) does not exist"))
            }
            // Nobody lives at a ClusterIP: the client's namespace is never this one.
            return .success(Endpoint(netns: cluster.nodes[0].netns, address: s.clusterIP))
        case .nodePort(let node, _):
            return resolve(.node(node))
        }
    }

    /// The pods behind a Service (or NodePort) target, each with its resolved target port:
    /// where a server must listen so the Service has something to reach.
    func backends(of t: Target) -> [(netns: NamespaceID, port: UInt16, label: String)] {
        let wanted: (ServiceDefinition, ServicePort) -> Bool
        switch t {
        case .service(let name, let port): wanted = { s, p in s.name == name && Int(p.port) == port }
        case .nodePort(_, let port): wanted = { _, p in p.nodePort.map(Int.init) == port }
        default: return []
        }
        var out: [(netns: NamespaceID, port: UInt16, label: String)] = []
        for se in cluster.serviceEndpoints() {
            for (i, p) in se.service.ports.enumerated() where wanted(se.service, p) {
                for e in se.endpoints[i] where e.ready {
                    guard let pod = cluster.pods.first(where: { $0.ip == e.address }), let ns = pod.netns else { continue }
                    if !out.contains(where: { $0.netns == ns && $0.port == e.port }) {
                        out.append((ns, e.port, "pod/\(pod.name):\(e.port)"))
                    }
                }
            }
        }
        return out
    }

    private func endpoint(of p: Pod, label: String) -> Result<Endpoint, RunFailure> {
        guard p.phase == .running, let ns = p.netns, let ip = p.ip else {
            return .failure(RunFailure("\(label) is \(p.phase.rawValue): \(p.message ?? "no sandbox")"))
        }
        return .success(Endpoint(netns: ns, address: ip))
    }

    struct RunFailure: Error {
        var message: String
        init(_ m: String) { message = m }
    }

    func start() {
        for (i, step) in topology.scenario.enumerated() {
            let at = SimTime.zero + step.at
            switch step.action {
            case .iperf3(let s):
                let title = "iperf3 -u \(s.client) → \(Self.serverText(s.server, s.port)) -b \(Self.rate(s.bitrate)) -l \(s.length) -t \(s.time) (at \(step.at))"
                titles.append(title)
                do {
                    let client = try resolve(s.client).get(), server = try resolve(s.server).get()
                    var servers: [Iperf3Server] = []
                    let behind = backends(of: s.server)
                    if behind.isEmpty {
                        servers.append(try iperfServer(server.netns, port: s.port, name: "\(s.server):\(s.port)"))
                    } else {
                        // The report takes the stream from whichever endpoint kube-proxy's DNAT chose.
                        for b in behind { servers.append(try iperfServer(b.netns, port: b.port, name: b.label)) }
                    }
                    try traffic.addIperf3Client(
                        name: "flow \(i + 1)", in: client.netns,
                        configuration: Iperf3ClientConfiguration(server: server.address, port: s.port, bitrate: UInt64(s.bitrate),
                                                                 length: s.length, time: s.time, start: at),
                        servers: servers)
                } catch {
                    problems.append((i, title, "\(error)"))
                }
            case .ping(let s):
                let title = "ping -c \(s.count) -i \(s.interval) -s \(s.size) \(s.from) → \(s.to) (at \(step.at))"
                titles.append(title)
                do {
                    let from = try resolve(s.from).get(), to = try resolve(s.to).get()
                    try traffic.addPing(name: "flow \(i + 1)", in: from.netns,
                                        configuration: PingConfiguration(destination: to.address, count: s.count,
                                                                         interval: s.interval, size: s.size, start: at))
                } catch {
                    problems.append((i, title, "\(error)"))
                }
            case .udp(let s):
                // One datagram has no interval (the step may still carry the default's).
                let title = "udp \(s.client) → \(Self.serverText(s.server, s.port)), \(s.count) × \(s.length) B"
                    + (s.count == 1 ? "" : " every \(s.interval)")
                    + (s.echo ? ", echoed" : "") + (s.dontFragment ? ", DF (IP_PMTUDISC_DO)" : "") + " (at \(step.at))"
                titles.append(title)
                do {
                    let client = try resolve(s.client).get(), server = try resolve(s.server).get()
                    var servers: [UDPEchoServer] = []
                    let behind = backends(of: s.server)
                    if s.echo && behind.isEmpty {
                        servers.append(try echoServer(server.netns, port: s.port, name: "\(s.server):\(s.port)"))
                    } else if s.echo {
                        // Every endpoint answers; the report counts what any of them echoed for this flow.
                        for b in behind { servers.append(try echoServer(b.netns, port: b.port, name: b.label)) }
                    }
                    try traffic.addUDPEchoClient(
                        name: "flow \(i + 1)", in: client.netns,
                        configuration: UDPEchoConfiguration(server: server.address, port: s.port, count: s.count,
                                                            interval: s.interval, length: s.length, start: at,
                                                            dontFragment: s.dontFragment),
                        servers: servers)
                } catch {
                    problems.append((i, title, "\(error)"))
                }
            }
        }
    }

    /// "pod/web-0:8080", or "svc/web:80" (a Service or NodePort target names its port).
    static func serverText(_ t: Target, _ port: UInt16) -> String {
        switch t {
        case .service, .nodePort: "\(t)"
        default: "\(t):\(port)"
        }
    }

    /// iperf3's way of writing a rate: 100M, 1.5G, 64K, 900.
    static func rate(_ bps: Int64) -> String {
        for (scale, unit) in [(Int64(1_000_000_000), "G"), (1_000_000, "M"), (1_000, "K")] where bps >= scale {
            return bps % scale == 0 ? "\(bps / scale)\(unit)" : "\(Double(bps) / Double(scale))\(unit)"
        }
        return "\(bps)"
    }

    // Steps of one kind share a server on a pod's port; a server of the other kind cannot
    // bind it (EADDRINUSE), and the step says which server holds the port.

    private func iperfServer(_ ns: NamespaceID, port: UInt16, name: String) throws -> Iperf3Server {
        if let s = iperfServers.first(where: { $0.ns == ns && $0.port == port }) { return s.server }
        if echoServers.contains(where: { $0.ns == ns && $0.port == port }) {
            throw RunFailure("UDP \(name) is taken by the echo server of an earlier udp step, so iperf3 -s "
                             + "cannot listen there; give this step (or the udp steps) another port")
        }
        let s = try traffic.addIperf3Server(name: name, in: ns, port: port)
        iperfServers.append((ns, port, s))
        return s
    }

    private func echoServer(_ ns: NamespaceID, port: UInt16, name: String) throws -> UDPEchoServer {
        if let s = echoServers.first(where: { $0.ns == ns && $0.port == port }) { return s.server }
        if iperfServers.contains(where: { $0.ns == ns && $0.port == port }) {
            throw RunFailure("UDP \(name) is taken by the iperf3 server of an earlier iperf3 step, so the "
                             + "echo server cannot listen there; give this step (or the iperf3 step) another port")
        }
        let s = try traffic.addUDPEchoServer(name: name, in: ns, port: port)
        echoServers.append((ns, port, s))
        return s
    }

    /// Flow results in scenario order; steps that could not start say why, and steps the
    /// run's end (`runEnd`) stopped early say so, with how to see them whole. Without that
    /// note a `ping -c 300` cut at 2 s read "10 packets transmitted, 9 received, 10% packet
    /// loss" (the tenth request still in flight), and a `udp` step of 100,000 datagrams
    /// "3001 datagrams sent, 3000 echoed".
    func results(runEnd: SimDuration) -> [RunReport.Flow] {
        var reports = traffic.reports()[...]
        var out: [RunReport.Flow] = []
        for (i, title) in titles.enumerated() {
            let kind: String
            switch topology.scenario[i].action {
            case .iperf3: kind = "iperf3"
            case .ping: kind = "ping"
            case .udp: kind = "udp"
            }
            if let p = problems.first(where: { $0.index == i }) {
                out.append(RunReport.Flow(kind: kind, title: title, text: ["not started: \(p.message)"],
                                          json: .object([("error", .string(p.message))])))
            } else if let r = reports.popFirst() {
                let step = topology.scenario[i]
                var flow = RunReport.Flow(kind: kind, title: title,
                                          text: r.text.split(separator: "\n", omittingEmptySubsequences: false)
                                              .map(String.init).filter { !$0.isEmpty },
                                          json: r.json)
                if step.isCutShort(byRunEnd: runEnd) {
                    flow.cutShort = true
                    flow.text.append("cut short: the run ended at \(runEnd), before this step's "
                                     + (kind == "iperf3" ? "sending time ended at \(step.lastSend)" : "last send at \(step.lastSend)")
                                     + " (raise spec.duration or --duration to see it whole)")
                }
                out.append(flow)
            }
        }
        return out
    }
}

extension ScenarioRunner.RunFailure: CustomStringConvertible {
    var description: String { message }
}
