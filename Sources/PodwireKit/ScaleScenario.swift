import Datapath
import Engine
import Kube
import Wire

/// A generated cluster at the scale kube-proxy's iptables mode is known to struggle with:
/// by default 250 Raspberry Pi 4 nodes on flannel VXLAN, 5,000 pods (20 per node), 1,000
/// ClusterIP Services of 5 pods each, every node programmed as `podwire run` does (kube-proxy's
/// and flanneld's rules, conntrack, br_netfilter): about 1,000 `KUBE-SVC-` and 5,000
/// `KUBE-SEP-` chains per node. Then light traffic: `senders` pods each send
/// `datagramsPerTick` small UDP datagrams every `tick` to Services drawn at random.
///
/// Layout (deterministic, seed-driven):
/// - Nodes `node-001`… on one switch `lan`, addresses `172.16.0.0/16` from .11 on (node k at
///   `172.16.0.0 + 11 + k`), pod CIDR `10.244.k.0/24` (so at most 256 nodes).
/// - Service i is Deployment `svc-NNNN` (label `app: svc-NNNN`, `podsPerService` replicas,
///   container port `udp` 5201/UDP), ClusterIP `10.96.0.0 + 16 + i`, UDP port 80 →
///   targetPort 5201. The scheduler spreads replicas over the least-loaded nodes, so
///   Service i's pods land on `podsPerService` consecutive nodes.
/// - Every pod listens on UDP 5201. Senders are pods spread evenly over the pod list; each
///   draws its targets from its own stream (`scale/sender/<pod>`), so the traffic is fixed by
///   the seed.
///
/// No wall clock here: `podwire bench engine` times `init` and `runTraffic`.
public final class ScaleScenario {
    public struct Size: Sendable, Equatable {
        public var nodes: Int
        public var podsPerNode: Int
        public var services: Int
        public var podsPerService: Int
        public var senders: Int
        public var datagramsPerTick: Int
        public var tick: SimDuration
        public var payloadLength: Int

        public init(nodes: Int, podsPerNode: Int, services: Int, podsPerService: Int = 5, senders: Int = 100,
                    datagramsPerTick: Int = 3, tick: SimDuration = .milliseconds(10), payloadLength: Int = 64) {
            self.nodes = nodes
            self.podsPerNode = podsPerNode
            self.services = services
            self.podsPerService = podsPerService
            self.senders = senders
            self.datagramsPerTick = datagramsPerTick
            self.tick = tick
            self.payloadLength = payloadLength
        }

        /// 250 nodes, 5,000 pods, 1,000 Services.
        public static let full = Size(nodes: 250, podsPerNode: 20, services: 1000)

        public var pods: Int { nodes * podsPerNode }

        /// Why this size cannot be built, or nil.
        public var problem: String? {
            if nodes < 1 || nodes > 256 { return "nodes must be 1…256 (pod CIDRs are 10.244.0-255.0/24), got \(nodes)" }
            if podsPerNode < 1 || podsPerNode > 253 { return "podsPerNode must be 1…253 (a /24 less gateway), got \(podsPerNode)" }
            if podsPerService < 1 { return "podsPerService must be at least 1, got \(podsPerService)" }
            if services < 1 || services * podsPerService > pods {
                return "services × podsPerService (\(services) × \(podsPerService)) must be 1…\(pods), the pod count"
            }
            if services > 65_000 { return "at most 65,000 Services (ClusterIPs from 10.96.0.16 in 10.96.0.0/12)" }
            if senders < 0 || senders > pods { return "senders must be 0…\(pods), got \(senders)" }
            if datagramsPerTick < 0 { return "datagramsPerTick cannot be negative" }
            if tick <= .zero { return "tick must be positive" }
            if payloadLength < 0 || payloadLength > 1400 { return "payloadLength must be 0…1400, got \(payloadLength)" }
            return nil
        }
    }

    public static let serverPort: UInt16 = 5201
    public static let servicePort: UInt16 = 80

    public let size: Size
    public let cluster: Cluster
    /// ClusterIPs in Service order.
    public let serviceIPs: [IPv4Address]
    let receiver: ScaleReceiver
    let senders: [ScaleSender]

    /// Builds the cluster and programs every node's netfilter. Traps on a size with a
    /// `problem` (a programming error: callers pick sizes).
    public init(_ size: Size = .full, seed: UInt64 = 1) {
        if let problem = size.problem { preconditionFailure("ScaleScenario: \(problem)") }
        self.size = size
        let profile = NodeProfile.named("raspberry-pi-4b")!
        let lan = IPv4Network("172.16.0.0/16")!
        let nodes = (0..<size.nodes).map { k in
            NodeDefinition(name: Self.nodeName(k), profile: profile,
                           address: IPv4Interface(address: lan.address(at: UInt32(11 + k)), prefixLength: 16),
                           podCIDR: IPv4Network(address: IPv4Address(10, 244, UInt8(k), 0), prefixLength: 24))
        }
        cluster = Cluster(ClusterConfiguration(seed: seed, network: .flannelVXLAN), nodes: nodes)
        let container = Container(name: "server", image: "podwire/udp-sink", ports: [
            ContainerPort(name: "udp", containerPort: Int(Self.serverPort), protocol: "UDP"),
        ])
        // Deployments of `podsPerService` replicas first (one per Service), then plain pods
        // to fill every node to `podsPerNode`.
        var ips: [IPv4Address] = []
        let serviceBase = IPv4Address(10, 96, 0, 0).rawValue + 16
        for i in 0..<size.services {
            let app = Self.serviceName(i)
            cluster.addDeployment(name: app, replicas: size.podsPerService,
                                  template: PodDefinition(name: app, labels: [Label("app", app)], containers: [container]))
            let ip = IPv4Address(rawValue: serviceBase + UInt32(i))
            ips.append(ip)
            cluster.addService(ServiceDefinition(name: app, clusterIP: ip, selector: [Label("app", app)],
                                                 ports: [ServicePort(name: "udp", protocol: 17, port: Self.servicePort,
                                                                     targetPort: .number(Self.serverPort))]))
        }
        for i in 0..<(size.pods - size.services * size.podsPerService) {
            cluster.addPod(PodDefinition(name: "idle-\(i)", labels: [Label("app", "idle")], containers: [container]))
        }
        serviceIPs = ips
        try! cluster.programNodeNetfilter()

        let world = cluster.world
        receiver = ScaleReceiver()
        let rid = world.register(receiver)
        for pod in cluster.pods {
            _ = try! world.openUDP(in: pod.netns!, port: Self.serverPort, app: rid)
        }
        let stride = size.senders > 0 ? cluster.pods.count / size.senders : 1
        var made: [ScaleSender] = []
        for s in 0..<size.senders {
            let pod = cluster.pods[s * stride]
            let sender = ScaleSender(targets: ips, port: Self.servicePort, perTick: size.datagramsPerTick,
                                     tick: size.tick, length: size.payloadLength,
                                     random: world.random.stream("scale/sender/\(pod.name)"))
            sender.app = world.register(sender)
            sender.socket = try! world.openUDP(in: pod.netns!, port: nil, app: sender.app)
            made.append(sender)
        }
        senders = made
    }

    /// `node-001` …
    public static func nodeName(_ k: Int) -> String { "node-" + zeroPadded(k + 1, 3) }
    /// `svc-0000` …
    public static func serviceName(_ i: Int) -> String { "svc-" + zeroPadded(i, 4) }

    static func zeroPadded(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// Runs `duration` of simulated time with every sender ticking, then lets the last
    /// datagrams land (up to 100 ms more). Returns the datagrams sent and received so far.
    @discardableResult
    public func runTraffic(for duration: SimDuration = .seconds(1)) -> (sent: Int, received: Int) {
        let world = cluster.world
        let end = world.now + duration
        for s in senders { s.start(world, until: end) }
        world.run(until: end)
        var drain = 0
        while received < sent && drain < 100 {
            world.run(until: world.now + .milliseconds(1))
            drain += 1
        }
        return (sent, received)
    }

    /// Datagrams the senders handed to their sockets.
    public var sent: Int { senders.reduce(0) { $0 + $1.sent } }
    /// Datagrams some pod's UDP 5201 socket received.
    public var received: Int { receiver.received }
    /// Sends refused by the local stack (no route: never expected here).
    public var sendErrors: Int { senders.reduce(0) { $0 + $1.errors } }
    public var conservationHolds: Bool { cluster.world.conservationHolds() }

    /// Netfilter rules examined on every node so far (what the CPU model charges for).
    public var rulesWalked: UInt64 {
        cluster.nodes.reduce(0) { sum, n in sum + (cluster.world.namespace(n.netns).netfilter?.rules.rulesWalked ?? 0) }
    }
}

/// Every `tick` until `end`, `perTick` datagrams to ClusterIPs drawn from `random`.
final class ScaleSender: NetworkApplication {
    let targets: [IPv4Address]
    let port: UInt16
    let perTick: Int
    let tick: SimDuration
    let length: Int
    var random: SeededGenerator
    var app = AppID(rawValue: -1)
    var socket = SocketID(rawValue: -1)
    var end = SimTime.zero
    var sent = 0
    var errors = 0

    init(targets: [IPv4Address], port: UInt16, perTick: Int, tick: SimDuration, length: Int, random: SeededGenerator) {
        self.targets = targets
        self.port = port
        self.perTick = perTick
        self.tick = tick
        self.length = length
        self.random = random
    }

    func start(_ world: World, until end: SimTime) {
        self.end = end
        // A random phase within the first tick, so senders do not fire in lockstep.
        let phase = Int64(random.next() % UInt64(tick.nanoseconds))
        world.scheduleTimer(app, tag: 0, after: .nanoseconds(phase))
    }

    func timerFired(_ world: World, tag: UInt64) {
        guard world.now < end else { return }
        for _ in 0..<perTick {
            let target = targets[Int(random.next() % UInt64(targets.count))]
            do {
                try world.sendUDP(socket, to: target, port: port, payloadLength: length) { _ in }
                sent += 1
            } catch {
                errors += 1
            }
        }
        world.scheduleTimer(app, tag: 0, after: tick)
    }
}

/// Counts datagrams received on any pod's server socket.
final class ScaleReceiver: NetworkApplication {
    var received = 0
    func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) { received += 1 }
}
