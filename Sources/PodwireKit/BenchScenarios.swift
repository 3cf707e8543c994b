import Capture
import Datapath
import Engine
import Foundation
import Kube
import Wire

/// The fixed scenarios behind `podwire bench` and the Benchmarks/ package, so both measure
/// the same work. No wall clock here: callers time them.
///
/// **Cross-node VXLAN** (issue 3, `.crossNodeVXLAN`): two Pi 4 nodes on the LAN switch with
/// flannel's VXLAN backend, client on pi-1 and server on pi-2; each datagram is routed by
/// pi-1 onto flannel.1, encapsulated (+50 bytes, outer checksum), queued on the 1 Gbit/s
/// eth0, switched, decapsulated on pi-2 and routed to the server: 13 capture points. One
/// datagram per 13 µs of simulated time, the wire time of the 1514-byte outer frame.
///
/// **Bridged UDP** (issue 2, `.bridged`): one Raspberry Pi 4 node, pods `client` and `server` on cni0;
/// the client sends 1400-byte UDP payloads (1442-byte frames) to the server's port 5201, one
/// datagram per microsecond of simulated time (an app timer per datagram, as iperf3 paces),
/// through client eth0 → host veth → bridge → host veth → server eth0 → UDP socket, with full
/// IPv4 and UDP checksums computed on send and verified on receive.
public final class UDPPathScenario {
    /// Which path the datagrams take.
    public enum Path: Sendable {
        /// client → cni0 → server on one node.
        case bridged
        /// client on pi-1 → flannel VXLAN over the LAN → server on pi-2.
        case crossNodeVXLAN
    }

    public let cluster: Cluster
    public let capture: PcapCapture?
    let sender: BlastSender
    let receiver: CountingReceiver

    public static let payloadLength = 1400

    /// `captureDirectory`: where every hop's pcap goes when `capture` is on.
    public init(_ path: Path, capture: Bool, captureDirectory: String? = nil) {
        let crossNodeVXLAN = path == .crossNodeVXLAN
        let profile = NodeProfile.named("raspberry-pi-4b")!
        let nodes = (0..<(crossNodeVXLAN ? 2 : 1)).map { i in
            NodeDefinition(name: "pi-\(i + 1)", profile: profile, address: IPv4Interface("192.168.50.\(11 + i)/24")!,
                           podCIDR: IPv4Network("10.244.\(i).0/24")!)
        }
        cluster = Cluster(ClusterConfiguration(seed: 1, network: crossNodeVXLAN ? .flannelVXLAN : .bridge), nodes: nodes)
        let client = cluster.addPod(PodDefinition(name: "client", nodeName: "pi-1"))
        let server = cluster.addPod(PodDefinition(name: "server", nodeName: crossNodeVXLAN ? "pi-2" : "pi-1"))
        let world = cluster.world
        receiver = CountingReceiver()
        let rid = world.register(receiver)
        _ = try! world.openUDP(in: server.netns!, port: 5201, app: rid)
        sender = BlastSender(destination: server.ip!, port: 5201, length: UDPPathScenario.payloadLength,
                             interval: crossNodeVXLAN ? .microseconds(13) : .microseconds(1))
        sender.app = world.register(sender)
        sender.socket = try! world.openUDP(in: client.netns!, port: nil, app: sender.app)
        if capture {
            let dir = captureDirectory ?? UDPPathScenario.defaultCaptureDirectory()
            self.capture = try! PcapCapture(interfaces: ClusterBuilder.captureInterfaces(cluster),
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
    public var events: UInt64 { cluster.world.scheduler.eventsProcessed }
    public var conservationHolds: Bool { cluster.world.conservationHolds() }

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

final class CountingReceiver: NetworkApplication {
    var received = 0
    func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
        received += 1
    }
}
