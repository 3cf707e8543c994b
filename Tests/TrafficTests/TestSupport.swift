import Datapath
import DatapathTestSupport
import Engine
import Wire
@testable import Traffic

/// Test fixtures: a hop recorder that keeps what the Traffic tests look at. The one-node
/// bridged world (`BridgedNode`) comes from the shared DatapathTestSupport target.

/// Records frames seen at `deviceTx` of one device, with their times.
final class TxRecorder: HopObserver {
    let device: DeviceID
    var frames: [(time: SimTime, bytes: [UInt8])] = []
    var drops: [DropReason] = []
    init(device: DeviceID) { self.device = device }
    func observe(_ hop: Hop, frame: UnsafeRawBufferPointer) {
        if hop.stage == .drop, let r = hop.dropReason { drops.append(r) }
        if hop.stage == .deviceTx && hop.device == device { frames.append((hop.time, Array(frame))) }
    }
    /// Frames that are IPv4 with the given protocol.
    func ipv4(_ proto: IPProtocol) -> [(time: SimTime, bytes: [UInt8])] {
        frames.filter { $0.bytes.count >= 34 && $0.bytes[12] == 0x08 && $0.bytes[13] == 0x00 && $0.bytes[23] == proto.rawValue }
    }
}

extension SimTime {
    static func ms(_ n: Int64) -> SimTime { .zero + .milliseconds(n) }
}

/// Offsets of an Ethernet + IPv4 (no options) frame.
enum FrameOffset {
    static let ip = 14
    static let l4 = 34
    static let udpPayload = 42
    static let icmpData = 42
}

func be32(_ b: [UInt8], _ o: Int) -> UInt32 {
    UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
}

extension BridgedNode {
    /// client (10.244.0.2) and server (10.244.0.3).
    static func twoPods(seed: UInt64 = 1) -> BridgedNode {
        var n = BridgedNode(seed: seed)
        n.addPod("client", host: 2)
        n.addPod("server", host: 3)
        return n
    }

    var client: (ns: NamespaceID, eth0: DeviceID, hostVeth: DeviceID, ip: IPv4Address) { pods["client"]! }
    var server: (ns: NamespaceID, eth0: DeviceID, hostVeth: DeviceID, ip: IPv4Address) { pods["server"]! }
}
