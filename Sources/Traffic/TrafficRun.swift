import Datapath
import Engine
import Wire

/// # Traffic
///
/// The applications that run inside emulated pods — an iperf3-style UDP client and server
/// and iputils-style ping — and their reports. They sit on Datapath's sockets
/// (`NetworkApplication`), take time only from `World.now`, draw randomness only from the
/// world's seeded streams, and allocate nothing per packet. Reports are values; their JSON
/// has a fixed key order and integer-derived numbers, so one scenario and seed give the
/// same bytes on every run.
///
/// `TrafficRun` owns the applications made for one scenario, in scenario order, and returns
/// their reports in that order. An iperf3 client is wired to its server here (podwire
/// models no TCP control connection); servers have no report of their own — each client's
/// report carries the server's view of that client's stream.
public final class TrafficRun {
    public let world: World

    public enum Application {
        case iperf3Server(Iperf3Server)
        /// `servers`: the one server, or every endpoint's behind a Service (its report takes
        /// the stream from the endpoint that received it).
        case iperf3Client(Iperf3Client, servers: [Iperf3Server])
        case ping(Ping)
        case udpEchoServer(UDPEchoServer)
        /// `servers`: the one server, or every endpoint's behind a Service.
        case udpEchoClient(UDPEchoClient, servers: [UDPEchoServer])

        public var name: String {
            switch self {
            case .iperf3Server(let s): s.name
            case .iperf3Client(let c, _): c.name
            case .ping(let p): p.name
            case .udpEchoServer(let s): s.name
            case .udpEchoClient(let c, _): c.name
            }
        }
    }

    /// In the order they were added (scenario order).
    public private(set) var applications: [Application] = []

    public init(world: World) {
        self.world = world
    }

    /// `iperf3 -s -p PORT` in `namespace`, listening from now on.
    @discardableResult
    public func addIperf3Server(name: String, in namespace: NamespaceID, port: UInt16 = 5201) throws(SocketOpenError) -> Iperf3Server {
        let s = try Iperf3Server(name: name, world: world, namespace: namespace, port: port)
        applications.append(.iperf3Server(s))
        return s
    }

    /// `iperf3 -u -c …` in `namespace`; `server` is the server whose statistics go into this
    /// client's report (nil: nothing received is known).
    @discardableResult
    public func addIperf3Client(name: String, in namespace: NamespaceID, configuration: Iperf3ClientConfiguration,
                                server: Iperf3Server?) throws(Iperf3ConfigurationError) -> Iperf3Client {
        try addIperf3Client(name: name, in: namespace, configuration: configuration, servers: server.map { [$0] } ?? [])
    }

    /// The same for a client whose datagrams may reach any of `servers` (a Service's endpoints).
    @discardableResult
    public func addIperf3Client(name: String, in namespace: NamespaceID, configuration: Iperf3ClientConfiguration,
                                servers: [Iperf3Server]) throws(Iperf3ConfigurationError) -> Iperf3Client {
        let c = try Iperf3Client(name: name, world: world, namespace: namespace, configuration: configuration)
        applications.append(.iperf3Client(c, servers: servers))
        return c
    }

    /// `ping -c … -i … -s … DEST` in `namespace`.
    @discardableResult
    public func addPing(name: String, in namespace: NamespaceID, configuration: PingConfiguration) throws(PingConfigurationError) -> Ping {
        let p = try Ping(name: name, world: world, namespace: namespace, configuration: configuration)
        applications.append(.ping(p))
        return p
    }

    /// A UDP echo server on `port` in `namespace`.
    @discardableResult
    public func addUDPEchoServer(name: String, in namespace: NamespaceID, port: UInt16) throws(SocketOpenError) -> UDPEchoServer {
        let s = try UDPEchoServer(name: name, world: world, namespace: namespace, port: port)
        applications.append(.udpEchoServer(s))
        return s
    }

    /// A bounded UDP request/echo client (the kernel reference's `udp_tool.py`).
    @discardableResult
    public func addUDPEchoClient(name: String, in namespace: NamespaceID, configuration: UDPEchoConfiguration,
                                 server: UDPEchoServer?) throws(SocketOpenError) -> UDPEchoClient {
        try addUDPEchoClient(name: name, in: namespace, configuration: configuration, servers: server.map { [$0] } ?? [])
    }

    /// The same for a client whose datagrams may reach any of `servers` (a Service's endpoints).
    @discardableResult
    public func addUDPEchoClient(name: String, in namespace: NamespaceID, configuration: UDPEchoConfiguration,
                                 servers: [UDPEchoServer]) throws(SocketOpenError) -> UDPEchoClient {
        let c = try UDPEchoClient(name: name, world: world, namespace: namespace, configuration: configuration)
        applications.append(.udpEchoClient(c, servers: servers))
        return c
    }

    /// One report per client and ping, in scenario order (servers are inside their clients').
    public func reports() -> [TrafficReport] {
        applications.compactMap { a in
            switch a {
            case .iperf3Server, .udpEchoServer: nil
            case .iperf3Client(let c, let s): .iperf3(Iperf3Report(client: c, servers: s, world: world))
            case .ping(let p): .ping(PingReport(p))
            case .udpEchoClient(let c, let s): .udpEcho(UDPEchoReport(client: c, servers: s, world: world))
            }
        }
    }

    /// `{"reports": [...]}` with each report's JSON, in scenario order.
    public func reportsJSON() -> String {
        JSONValue.object([("reports", .array(reports().map(\.json)))]).text()
    }
}

/// A report of any traffic application.
public enum TrafficReport: Sendable, Equatable {
    case iperf3(Iperf3Report)
    case ping(PingReport)
    case udpEcho(UDPEchoReport)

    public var name: String {
        switch self {
        case .iperf3(let r): r.name
        case .ping(let r): r.name
        case .udpEcho(let r): r.name
        }
    }

    public var json: JSONValue {
        switch self {
        case .iperf3(let r): r.json
        case .ping(let r): r.json
        case .udpEcho(let r): r.json
        }
    }

    /// Human text: iperf3's client output then podwire's summary line (one-way delay, and
    /// datagrams never received, which iperf3 cannot see), or ping's whole output.
    public var text: String {
        switch self {
        case .iperf3(let r): r.transcript.joined(separator: "\n") + "\n" + r.summary + "\n"
        case .ping(let r): r.transcript
        case .udpEcho(let r): r.summary + "\n"
        }
    }
}
