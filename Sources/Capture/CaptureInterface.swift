/// What the capture needs to know about one simulated interface (its device handle, its
/// file name and how a user names it), the run's options, and glob selection.
import Datapath
import Engine

/// One interface that can be captured, described the way a user sees it on the node.
public struct CaptureInterface: Sendable, Hashable {
    public var device: DeviceID
    /// File name without ".pcap", e.g. "pi-1-eth0", "pi-1-client-eth0". Must not contain "/".
    public var fileStem: String
    /// The node, e.g. "pi-1".
    public var node: String
    /// The node's name for the node's own namespace, else the pod name.
    public var namespace: String
    /// "eth0", "cni0", "veth1a2b3c4d", "lo".
    public var interface: String
    /// "02:44:00:00:00:01" ("00:00:00:00:00:00" for lo).
    public var mac: String
    /// Addresses with prefix length, e.g. ["10.244.0.1/24"].
    public var ipv4: [String]

    public init(device: DeviceID, fileStem: String, node: String, namespace: String,
                interface: String, mac: String, ipv4: [String] = []) {
        self.device = device
        self.fileStem = fileStem
        self.node = node
        self.namespace = namespace
        self.interface = interface
        self.mac = mac
        self.ipv4 = ipv4
    }

    /// The file's name inside the capture directory.
    public var fileName: String { fileStem + ".pcap" }

    /// Whether a pattern selects this interface: `fnmatch(3)` with `FNM_PATHNAME` (so `*`
    /// never crosses a `/`) against the interface name, "namespace/interface",
    /// "node/namespace/interface" or the file stem. Thus "pi-1/*" is every interface of
    /// pi-1's own namespace and "pi-1/*/*" every interface on node pi-1.
    public func matches(glob pattern: String) -> Bool {
        LibC.globMatches(pattern, interface)
            || LibC.globMatches(pattern, namespace + "/" + interface)
            || LibC.globMatches(pattern, node + "/" + namespace + "/" + interface)
            || LibC.globMatches(pattern, fileStem)
    }
}

/// How a run is captured.
public struct CaptureOptions: Sendable {
    /// Where "<fileStem>.pcap" files and index.json go; created if missing. The capture
    /// owns the `*.pcap` and index.json files in it: stale ones are removed at start.
    public var directory: String
    /// Interfaces to capture (see `CaptureInterface.matches(glob:)`); ["*"] = all.
    public var interfaceGlobs: [String]
    /// Bytes kept of each frame; longer frames are truncated (caplen < len). Values
    /// ≤ 0 or above 262144 mean 262144, libpcap's maximum for Ethernet and tcpdump's default.
    public var snaplen: Int
    /// A BPF expression in tcpdump syntax; "" keeps every frame.
    public var filter: String
    /// Wall-clock second that simulated t=0 maps to (default 2026-01-01T00:00:00Z). Fixed,
    /// never the current time, so the same run gives byte-identical files.
    public var epochSeconds: Int64

    public init(directory: String, interfaceGlobs: [String] = ["*"], snaplen: Int = 262_144,
                filter: String = "", epochSeconds: Int64 = SimTime.epochSeconds) {
        self.directory = directory
        self.interfaceGlobs = interfaceGlobs
        self.snaplen = snaplen
        self.filter = filter
        self.epochSeconds = epochSeconds
    }

    /// The snapshot length actually written to file headers.
    public var effectiveSnaplen: Int {
        snaplen <= 0 || snaplen > LibPcap.maximumSnaplen ? LibPcap.maximumSnaplen : snaplen
    }

    /// The interfaces selected by `interfaceGlobs`, in the given order.
    public func selected(from interfaces: [CaptureInterface]) -> [CaptureInterface] {
        interfaces.filter { candidate in interfaceGlobs.contains { candidate.matches(glob: $0) } }
    }
}
