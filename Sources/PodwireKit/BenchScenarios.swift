import Capture
import Datapath
import Engine
import Foundation
import Kube
import Wire

/// The fixed scenarios behind `podwire bench` and the Benchmarks/ package, so both measure
/// the same work. No wall clock here: callers time them.
///
/// **Netfilter.** `.bridged` and `.crossNodeVXLAN` run *without* netfilter: no node gets
/// kube-proxy's or flanneld's rules or a conntrack table (`Cluster.programNodeNetfilter()` is
/// not called), so `podwire bench`'s `bridge_pkts_per_s_*` and `vxlan_pkts_per_s_*` (the
/// Benchmarks' "Bridged …" and "Cross-node VXLAN …") measure the datapath without netfilter.
/// `.clusterIP` programs both nodes as `podwire run` does — kube-proxy's and flanneld's
/// iptables rules, a conntrack table sized as kube-proxy sizes it, br_netfilter on — so
/// `clusterip_pkts_per_s_*` ("ClusterIP …") include every hook's rules, conntrack on both
/// nodes and the DNAT.
///
/// **ClusterIP** (issue 5, `.clusterIP`): the cross-node VXLAN layout, but the client sends
/// to a UDP Service (ClusterIP 10.96.0.20, port 80 → targetPort 5201) whose only endpoint is
/// the server pod on pi-2. pi-1's PREROUTING (br_netfilter on cni0) creates one conntrack
/// entry for the client's socket and DNATs its first datagram through KUBE-SERVICES →
/// KUBE-SVC → KUBE-SEP; every later datagram is a conntrack hit plus the same rewrite of the
/// destination (address, port, incremental checksums), then FORWARD's filter rules, the
/// outer VXLAN packet's OUTPUT/POSTROUTING, and on pi-2 PREROUTING/INPUT for the outer and
/// PREROUTING/FORWARD/POSTROUTING for the inner packet. Each node also tracks the outer
/// 8472 flow, so steady state is four conntrack hits and four filter-table walks (27 rules
/// in all) per datagram. The server does not answer: both flows stay `[UNREPLIED]` (ctstate
/// NEW, so FORWARD takes kube-proxy's `--ctstate NEW` jumps every time, as Linux does for
/// one-way UDP), and the reverse translation of replies is not exercised. Pacing as for VXLAN.
///
/// **Cross-node VXLAN** (issue 3, `.crossNodeVXLAN`): two Pi 4 nodes on the LAN switch with
/// flannel's VXLAN backend, client on pi-1 and server on pi-2; each datagram is routed by
/// pi-1 onto flannel.1, encapsulated (+50 bytes, outer checksum), queued on the 1 Gbit/s
/// eth0, switched, decapsulated on pi-2 and routed to the server: 13 capture points. One
/// datagram per 13 µs of simulated time, the wire time of the 1514-byte outer frame.
///
/// **Bridged UDP** (issue 2, `.bridged`): one Raspberry Pi 4 node, pods `client` and `server` on cni0;
/// the client sends 1400-byte UDP payloads (1442-byte frames) to the server's port 5201, one
/// datagram per 5 µs of simulated time (an app timer per datagram, as iperf3 paces; the Pi 4's
/// CPU model spends about 4.2 µs of the sending core on each, so nothing queues or drops),
/// through client eth0 → host veth → bridge → host veth → server eth0 → UDP socket, with full
/// IPv4 and UDP checksums computed on send and verified on receive.
public final class UDPPathScenario {
    /// Which path the datagrams take.
    public enum Path: Sendable {
        /// client → cni0 → server on one node. No netfilter.
        case bridged
        /// client on pi-1 → flannel VXLAN over the LAN → server on pi-2. No netfilter.
        case crossNodeVXLAN
        /// client on pi-1 → Service ClusterIP (DNAT on pi-1) → flannel VXLAN → server on
        /// pi-2, with kube-proxy's and flanneld's rules and conntrack on both nodes.
        case clusterIP
    }

    public let path: Path
    public let cluster: Cluster
    public let capture: PcapCapture?
    /// The client pod (on pi-1) and the server pod (pi-1 for `.bridged`, else pi-2).
    public let client: Pod
    public let server: Pod
    /// Where the client sends: the server pod's address and port 5201, or for `.clusterIP`
    /// the Service's ClusterIP and port 80.
    public let target: (address: IPv4Address, port: UInt16)
    let sender: BlastSender
    let receiver: CountingReceiver

    public static let payloadLength = 1400
    /// The port the server listens on (the Service's targetPort).
    public static let serverPort: UInt16 = 5201
    /// The `.clusterIP` scenario's Service.
    public static let serviceIP = IPv4Address(10, 96, 0, 20)
    public static let servicePort: UInt16 = 80

    /// `captureDirectory`: where every hop's pcap goes when `capture` is on. `shortcuts`: the
    /// engine's (EquivalenceTests turns them off). Throws only when `capture` is on and the
    /// capture cannot start (a folder that cannot be created, a file that cannot be opened).
    public init(_ path: Path, capture: Bool, captureDirectory: String? = nil,
                shortcuts: EngineShortcuts = .all) throws(CaptureError) {
        self.path = path
        let crossNode = path != .bridged
        let profile = NodeProfile.named("raspberry-pi-4b")!
        let nodes = (0..<(crossNode ? 2 : 1)).map { i in
            NodeDefinition(name: "pi-\(i + 1)", profile: profile, address: IPv4Interface("192.168.50.\(11 + i)/24")!,
                           podCIDR: IPv4Network("10.244.\(i).0/24")!)
        }
        cluster = Cluster(ClusterConfiguration(seed: 1, network: crossNode ? .flannelVXLAN : .bridge), nodes: nodes)
        cluster.world.shortcuts = shortcuts
        // Labels and the named container port are what the Service's selector and
        // targetPort resolve against (Endpoints.resolve); the other paths ignore them.
        let serverContainer = Container(name: "iperf3", image: "iperf3", ports: [
            ContainerPort(name: "iperf", containerPort: Int(Self.serverPort), protocol: "UDP"),
        ])
        client = cluster.addPod(PodDefinition(name: "client", labels: [Label("app", "client")], nodeName: "pi-1"))
        server = cluster.addPod(PodDefinition(name: "server", labels: [Label("app", "server")],
                                              nodeName: crossNode ? "pi-2" : "pi-1", containers: [serverContainer]))
        if path == .clusterIP {
            cluster.addService(ServiceDefinition(name: "server", clusterIP: Self.serviceIP, selector: [Label("app", "server")],
                                                 ports: [ServicePort(name: "iperf", port: Self.servicePort,
                                                                     targetPort: .name("iperf"))]))
            // As `podwire run` does for every topology (Replay.swift).
            try! cluster.programNodeNetfilter()
            target = (Self.serviceIP, Self.servicePort)
        } else {
            target = (server.ip!, Self.serverPort)
        }
        let world = cluster.world
        receiver = CountingReceiver(source: client.ip!, destination: server.ip!, destinationPort: Self.serverPort)
        let rid = world.register(receiver)
        _ = try! world.openUDP(in: server.netns!, port: Self.serverPort, app: rid)
        sender = BlastSender(destination: target.address, port: target.port, length: UDPPathScenario.payloadLength,
                             interval: crossNode ? .microseconds(13) : .microseconds(5))
        sender.app = world.register(sender)
        sender.socket = try! world.openUDP(in: client.netns!, port: nil, app: sender.app)
        if capture {
            let dir = captureDirectory ?? UDPPathScenario.defaultCaptureDirectory()
            self.capture = try PcapCapture(interfaces: ClusterBuilder.captureInterfaces(cluster),
                                           options: CaptureOptions(directory: dir))
            world.addObserver(self.capture!)
        } else {
            self.capture = nil
        }
    }

    /// tmpfs when the machine has one (/dev/shm), else the temporary directory: the bench
    /// measures podwire, not the disk. `podwire bench --capture-dir` overrides it.
    public static func defaultCaptureDirectory() -> String {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return base + "/podwire-bench-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Sends `packets` more datagrams and runs until the server has received all of them.
    /// Returns the total delivered so far.
    @discardableResult
    public func deliver(packets: Int) -> Int {
        let world = cluster.world
        let target = receiver.received + packets
        sender.remaining += packets
        sender.kick(world)
        let step = SimDuration.nanoseconds(sender.interval.nanoseconds * Int64(max(packets, 16)))
        while receiver.received < target {
            world.run(until: world.now + step)
            // Everything sent and nothing left in flight: a datagram was lost; stop waiting.
            if sender.remaining == 0 && world.scheduler.pendingCount == 0 { break }
        }
        return receiver.received
    }

    public var delivered: Int { receiver.received }
    /// Datagrams sent so far.
    public var sent: Int { Int(sender.sequence) }
    /// Delivered datagrams that reached the server's socket from the client's own address
    /// and addressed to the server pod's address and port 5201: for `.clusterIP`, those
    /// that went through the DNAT (the client addressed them to the ClusterIP).
    public var deliveredFromClientToPod: Int { receiver.fromClientToPod }
    public var events: UInt64 { cluster.world.scheduler.eventsProcessed }
    public var conservationHolds: Bool { cluster.world.conservationHolds() }

    /// When the server last received a datagram.
    public var lastDelivery: SimTime { receiver.lastReceivedAt }

    /// pi-1's conntrack entries for flows from the client pod to `target` (the Service for
    /// `.clusterIP`) that were live when the last datagram was delivered. Not judged at
    /// `world.now`: `deliver` may run the clock on past the last datagram (its run steps are
    /// as long as the whole batch), and after a long batch that idle time alone can exceed the
    /// 30 s UDP timeout. Empty when pi-1 runs no netfilter (`.bridged`, `.crossNodeVXLAN`).
    /// Allocates: for checks, not for the measured loop.
    public func clientFlowEntries() -> [ConntrackEntry] {
        let world = cluster.world
        guard let st = world.namespace(cluster.nodes[0].netns).netfilter else { return [] }
        return st.conntrack.entries(now: receiver.lastReceivedAt).filter {
            $0.original.protocolNumber == ConntrackTuple.udpProtocol && $0.original.source == client.ip!
                && $0.original.destination == target.address && $0.original.destinationPort == target.port
        }
    }

    /// `.clusterIP`: the Service path did its work. pi-1's conntrack holds exactly one entry
    /// for the client's flow to ClusterIP:80, its reply tuple comes from the server pod's
    /// 5201 to the client's own address (DNAT, no SNAT), that entry counted every datagram
    /// sent, and every delivered datagram reached the pod's address from the client.
    /// Always false for the other paths.
    public var serviceDNATVerified: Bool {
        guard path == .clusterIP else { return false }
        let entries = clientFlowEntries()
        guard entries.count == 1, let e = entries.first else { return false }
        return e.status.contains(.dstNAT) && !e.status.contains(.srcNAT)
            && e.reply.source == server.ip! && e.reply.sourcePort == Self.serverPort
            && e.reply.destination == client.ip! && e.reply.destinationPort == e.original.sourcePort
            && e.originalCounters.packets == UInt64(sent)
            && delivered == sent && deliveredFromClientToPod == delivered
    }

    /// Closes the pcaps and leaves them in the capture folder; returns their paths.
    public func finishCapture() throws -> [String] {
        guard let capture else { return [] }
        return try capture.finish().map(\.path)
    }

    /// Closes the pcaps and removes the capture folder.
    public func tearDown() {
        if let capture {
            _ = try? capture.finish()
            try? FileManager.default.removeItem(atPath: capture.options.directory)
        }
    }
}

/// Sends one datagram per `interval` while `remaining > 0`.
final class BlastSender: NetworkApplication {
    let destination: IPv4Address
    let port: UInt16
    let length: Int
    let interval: SimDuration
    var app = AppID(rawValue: -1)
    var socket = SocketID(rawValue: -1)
    var remaining = 0
    var sequence: UInt32 = 0
    private var armed = false

    init(destination: IPv4Address, port: UInt16, length: Int, interval: SimDuration) {
        self.destination = destination
        self.port = port
        self.length = length
        self.interval = interval
    }

    func kick(_ world: World) {
        if !armed && remaining > 0 {
            armed = true
            world.scheduleTimer(app, tag: 0, after: .zero)
        }
    }

    func timerFired(_ world: World, tag: UInt64) {
        armed = false
        guard remaining > 0 else { return }
        remaining -= 1
        sequence &+= 1
        let seq = sequence
        try? world.sendUDP(socket, to: destination, port: port, payloadLength: length) { payload in
            payload.storeBytes(of: seq.bigEndian, toByteOffset: 8, as: UInt32.self)
        }
        if remaining > 0 {
            armed = true
            world.scheduleTimer(app, tag: 0, after: interval)
        }
    }
}

/// Counts datagrams, and separately those from `source` to `destination:destinationPort`,
/// and notes when the last one arrived (a few compares and stores per datagram, no allocation).
final class CountingReceiver: NetworkApplication {
    let source: IPv4Address
    let destination: IPv4Address
    let destinationPort: UInt16
    var received = 0
    var fromClientToPod = 0
    var lastReceivedAt = SimTime.zero

    init(source: IPv4Address, destination: IPv4Address, destinationPort: UInt16) {
        self.source = source
        self.destination = destination
        self.destinationPort = destinationPort
    }

    func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
        received += 1
        lastReceivedAt = world.now
        if datagram.source == source && datagram.destination == destination && datagram.destinationPort == destinationPort {
            fromClientToPod += 1
        }
    }
}
