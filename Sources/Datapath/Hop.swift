import Engine

/// Where on its way a packet was seen.
///
/// `deviceRx` and `deviceTx` are placed exactly where Linux's AF_PACKET tap would see the
/// frame for `tcpdump -p -i DEV` (non-promiscuous): on a veth end, every frame it sends or
/// receives; on a bridge device such as cni0, only frames passed up to the bridge's own IP
/// stack or sent from it (kernel-ref REFERENCE.md §3). A capture observer can therefore
/// write every `deviceRx`/`deviceTx` hop of a device to that device's file, unfiltered.
public enum HopStage: UInt8, Sendable, CaseIterable {
    /// The device received the frame.
    case deviceRx
    /// The device transmitted the frame.
    case deviceTx
    /// A local consumer took the packet (socket, ICMP echo, ARP): the packet ends here.
    case deliver
    /// The packet was dropped; `Hop.dropReason` says why. The packet ends here.
    case drop
}

/// One observation of one packet at one place: the single seam through which capture,
/// tracing and tests see the datapath (STYLE.md "one seam for observation").
public struct Hop: Sendable {
    public var time: SimTime
    public var namespace: NamespaceID
    /// The device for `deviceRx`/`deviceTx`; for `deliver`/`drop` the device the packet
    /// was last on, or `.none`.
    public var device: DeviceID
    public var stage: HopStage
    /// Set for `.drop` only.
    public var dropReason: DropReason?

    @inlinable
    public init(time: SimTime, namespace: NamespaceID, device: DeviceID, stage: HopStage,
                dropReason: DropReason? = nil) {
        self.time = time
        self.namespace = namespace
        self.device = device
        self.stage = stage
        self.dropReason = dropReason
    }
}

/// Receives every hop. `frame` holds the frame's bytes as they are at that hop (Ethernet
/// header first) and is valid only for the duration of the call: copy what you keep.
public protocol HopObserver: AnyObject {
    func observe(_ hop: Hop, frame: UnsafeRawBufferPointer)
}

/// An observer called without reference counting, for the per-hop walk: `for o in
/// observers` retained and released the array and each observer on every hop (four atomic
/// operations, ~10% of the simulation thread's samples with capture on). Whoever lists one
/// keeps it alive (the world's `observers`).
struct UnretainedHopObserver {
    let object: UnsafeMutableRawPointer
    let type: any HopObserver.Type

    init(_ observer: any HopObserver) {
        object = Unmanaged.passUnretained(observer as AnyObject).toOpaque()
        type = Swift.type(of: observer)
    }

    @inline(__always) func observe(_ hop: Hop, frame: UnsafeRawBufferPointer) {
        type.observe(unretained: object, hop, frame: frame)
    }
}

extension HopObserver {
    /// `observe` on an instance of `Self` known to be alive.
    static func observe(unretained object: UnsafeMutableRawPointer, _ hop: Hop, frame: UnsafeRawBufferPointer) {
        Unmanaged<Self>.fromOpaque(object)._withUnsafeGuaranteedRef { $0.observe(hop, frame: frame) }
    }
}
