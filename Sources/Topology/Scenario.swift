/// The scenario part of a topology: timed traffic steps (`iperf3`, `ping`, `udp`) between
/// targets named the kubectl way (`pod/web-0`, `node/pi-1`, `deploy/web`, `svc/web:80`).

import Engine

/// A traffic endpoint, parsed from kubectl-style "TYPE/NAME" references.
public enum Target: Sendable, Equatable, CustomStringConvertible {
    /// `pod/NAME`: a `v1 Pod` document of that name.
    case pod(String)
    /// `node/NAME`: the node itself (host network namespace).
    case node(String)
    /// `deploy/NAME` (or `deployment/NAME`): that Deployment's first replica.
    case deployment(String)
    /// `host/NAME`: a machine from `spec.hosts` (on the LAN, no Kubernetes role).
    case host(String)
    /// `svc/NAME:PORT` (or `service/`, `services/`): a Service's ClusterIP and one of its
    /// ports, by number or name (names are resolved to the number while validating; `svc/NAME`
    /// alone names a Service with exactly one port). Only the server of a `udp` or `iperf3`
    /// step: the client sends to ClusterIP:port and kube-proxy's DNAT picks an endpoint.
    case service(name: String, port: Int)
    /// `node/NAME:PORT`: a NodePort (some Service's `nodePort`) on that node's LAN address.
    /// Only the server of a `udp` or `iperf3` step.
    case nodePort(node: String, port: Int)

    /// A node's own namespace or a plain host (not a pod).
    public var isNodeOrHost: Bool {
        switch self {
        case .node, .host, .nodePort: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .pod(let name): "pod/\(name)"
        case .node(let name): "node/\(name)"
        case .deployment(let name): "deploy/\(name)"
        case .host(let name): "host/\(name)"
        case .service(let name, let port): "svc/\(name):\(port)"
        case .nodePort(let node, let port): "node/\(node):\(port)"
        }
    }
}

/// One entry of `spec.scenario`.
public struct ScenarioStep: Sendable {
    /// When the step starts, from the start of the simulation.
    public var at: SimDuration
    public var action: ScenarioAction
    /// The step's entry in the file.
    public var location: SourceLocation

    public init(at: SimDuration, action: ScenarioAction, location: SourceLocation) {
        self.at = at
        self.action = action
        self.location = location
    }

    /// When the step sends its last datagram (or echo request): `at + (count − 1) × interval`
    /// for udp and ping; for iperf3 the end of its sending time, `at + time`.
    public var lastSend: SimDuration {
        switch action {
        case .iperf3(let s): at + s.time
        case .ping(let s): at + s.interval * Int64(s.count - 1)
        case .udp(let s): at + s.interval * Int64(s.count - 1)
        }
    }

    /// A run that ends at `runEnd` stops this step before it is done: its last datagram is
    /// not sent, or (udp, ping) sent too late for an answer to come back in the run.
    public func isCutShort(byRunEnd runEnd: SimDuration) -> Bool {
        switch action {
        case .iperf3: lastSend > runEnd
        case .ping, .udp: lastSend >= runEnd
        }
    }

    /// When the step's traffic ends: `at + time` for iperf3, `at + count × interval` for ping.
    public var end: SimDuration {
        switch action {
        case .iperf3(let s): at + s.time
        case .ping(let s): at + s.interval * Int64(s.count)
        case .udp(let s): at + s.interval * Int64(s.count)
        }
    }
}

public enum ScenarioAction: Sendable {
    case iperf3(Iperf3Step)
    case ping(PingStep)
    case udp(UDPEchoStep)
}

/// A bounded UDP request/echo exchange, like the kernel reference's `udp_tool.py`: the
/// client sends `count` datagrams of `length` bytes from one socket, `interval` apart, to
/// `server:port`; the server echoes each one back (when `echo` is true).
public struct UDPEchoStep: Sendable {
    public var client: Target
    public var server: Target
    /// Server port (default 8080, as in the kernel reference); for a `.service` or
    /// `.nodePort` server, the target's port.
    public var port: UInt16
    /// Datagrams sent (default 3).
    public var count: Int
    /// Time between datagrams (default 50ms).
    public var interval: SimDuration
    /// UDP payload bytes (default 64: a 106-byte frame, as in the kernel reference).
    public var length: Int
    /// Whether the server echoes (default true).
    public var echo: Bool
    /// The client socket is `IP_PMTUDISC_DO` (default false: Linux's `IP_PMTUDISC_WANT`, which
    /// fragments a datagram larger than the path MTU).
    public var dontFragment: Bool

    public init(client: Target, server: Target, port: UInt16, count: Int, interval: SimDuration, length: Int, echo: Bool,
                dontFragment: Bool = false) {
        self.dontFragment = dontFragment
        self.client = client
        self.server = server
        self.port = port
        self.count = count
        self.interval = interval
        self.length = length
        self.echo = echo
    }
}

/// `iperf3 -u -c SERVER -p PORT -b BITRATE -l LENGTH -t TIME`, UDP only for now.
public struct Iperf3Step: Sendable {
    public var client: Target
    public var server: Target
    /// Server port (default 5201); for a `.service` or `.nodePort` server, the target's port.
    public var port: UInt16
    /// Target rate in bits per second (iperf3 `-b`, 1000-based; default 1M like `iperf3 -u`).
    public var bitrate: Int64
    /// UDP payload bytes per datagram (iperf3 `-l`, 1…65507, default 1460).
    public var length: Int
    /// How long the client sends (iperf3 `-t`, default 10s).
    public var time: SimDuration

    public init(client: Target, server: Target, port: UInt16, bitrate: Int64, length: Int, time: SimDuration) {
        self.client = client
        self.server = server
        self.port = port
        self.bitrate = bitrate
        self.length = length
        self.time = time
    }
}

/// `ping -c COUNT -i INTERVAL -s SIZE`.
public struct PingStep: Sendable {
    public var from: Target
    public var to: Target
    /// Echo requests sent (default 3).
    public var count: Int
    /// Gap between requests (default 1s, at least 1ms).
    public var interval: SimDuration
    /// ICMP payload bytes (default 56, 0…65507).
    public var size: Int

    public init(from: Target, to: Target, count: Int, interval: SimDuration, size: Int) {
        self.from = from
        self.to = to
        self.count = count
        self.interval = interval
        self.size = size
    }
}
