/// The typed, validated result of reading a topology file: podwire's own `kind: Topology`
/// document (cluster networking, nodes, scenario, capture) plus the Kubernetes objects that
/// follow it. Everything here is resolved: defaults applied, pod CIDRs assigned, targets
/// checked to exist. Later stages (Kube, Traffic, Capture) read these values and never YAML.
///
/// Order is meaningful and stable everywhere: nodes, pods, steps and labels keep the order
/// of the file (no `Dictionary` iteration reaches these values).

import Engine
import Wire

/// A whole topology file.
public struct TopologySpec: Sendable {
    /// `metadata.name` of the Topology document; prefixes output names such as pcap files.
    public var name: String
    /// Seed of the simulation's random streams (`spec.seed`, default 1).
    public var seed: UInt64
    /// How long the simulation runs (`spec.duration`, default: end of the last step + 1s).
    public var duration: SimDuration
    public var cluster: ClusterSpec
    public var nodes: [NodeSpec]
    /// Steps in file order (not sorted by `at`).
    public var scenario: [ScenarioStep]
    public var capture: CaptureSpec
    /// `v1 Pod` documents, in file order.
    public var pods: [PodSpec]
    /// `apps/v1 Deployment` documents, in file order.
    public var deployments: [DeploymentSpec]
    /// The file name as given to `TopologyFile.load`/`parse`, used in later diagnostics.
    public var fileName: String
    /// Machines on the LAN with no Kubernetes role.
    public var hosts: [HostSpec]
    /// `v1 Service` documents, in file order, with ClusterIPs and node ports allocated.
    public var services: [ServiceSpec]
    /// `spec.switches` in file order; empty when the file has none (one implicit LAN switch).
    public var switches: [SwitchSpec]
    /// `spec.links` in file order; empty when the file has none (every machine on the
    /// implicit switch).
    public var links: [LinkSpec]
    /// `spec.profiles` as written, in file order (each node's `hardware` has them resolved).
    public var profiles: [ProfileSpec]

    public init(name: String, seed: UInt64, duration: SimDuration, cluster: ClusterSpec, nodes: [NodeSpec],
                scenario: [ScenarioStep], capture: CaptureSpec, pods: [PodSpec], deployments: [DeploymentSpec],
                fileName: String, hosts: [HostSpec] = [], services: [ServiceSpec] = [],
                switches: [SwitchSpec] = [], links: [LinkSpec] = [], profiles: [ProfileSpec] = []) {
        self.profiles = profiles
        self.hosts = hosts
        self.services = services
        self.switches = switches
        self.links = links
        self.name = name
        self.seed = seed
        self.duration = duration
        self.cluster = cluster
        self.nodes = nodes
        self.scenario = scenario
        self.capture = capture
        self.pods = pods
        self.deployments = deployments
        self.fileName = fileName
    }
}

/// The CNI plugin that wires pods to their node, and how nodes reach each other's pods:
/// `bridge` (the CNI bridge plugin alone; the default for one node), `flannel-vxlan` (the
/// default for several nodes) and `flannel-host-gw`.
public enum CNIKind: String, Sendable, CaseIterable {
    case bridge
    case flannelVXLAN = "flannel-vxlan"
    case flannelHostGW = "flannel-host-gw"
}

/// `spec.hosts[]`: a machine on the LAN with no Kubernetes role (kernel-ref's "ext").
public struct HostSpec: Sendable {
    public var name: String
    public var address: IPv4Interface
    public var location: SourceLocation
    /// `routes`, in file order, beside the connected route of `address`'s subnet.
    public var routes: [RouteSpec]
    public init(name: String, address: IPv4Interface, location: SourceLocation, routes: [RouteSpec] = []) {
        self.name = name
        self.address = address
        self.location = location
        self.routes = routes
    }
}

/// One entry of a host's `routes`: `{to: 10.244.1.0/24, via: 192.168.50.12}`, as
/// `ip route add TO via VIA`; `to: default` is 0.0.0.0/0.
public struct RouteSpec: Sendable, Equatable {
    public var destination: IPv4Network
    /// The next hop, inside the host's own subnet.
    public var via: IPv4Address
    public init(destination: IPv4Network, via: IPv4Address) {
        self.destination = destination
        self.via = via
    }
}

/// `spec.cluster`: cluster-wide networking, in kind's and kubeadm's vocabulary.
public struct ClusterSpec: Sendable {
    /// Cluster CIDR that node pod CIDRs are carved from (default 10.244.0.0/16).
    public var podSubnet: IPv4Network
    /// Prefix length of each node's pod CIDR (kube-controller-manager `--node-cidr-mask-size`, default 24).
    public var nodeCIDRMaskSize: Int
    /// ClusterIP range (default 10.96.0.0/12).
    public var serviceSubnet: IPv4Network
    public var cni: CNIKind
    /// MTU of node NICs, bridges and veths (576…9000, default 1500).
    public var mtu: Int
    /// NodePort range (kube-apiserver `--service-node-port-range`, default 30000-32767).
    public var serviceNodePortRange: ClosedRange<Int>

    public init(podSubnet: IPv4Network, nodeCIDRMaskSize: Int, serviceSubnet: IPv4Network, cni: CNIKind, mtu: Int,
                serviceNodePortRange: ClosedRange<Int> = 30000...32767) {
        self.serviceNodePortRange = serviceNodePortRange
        self.podSubnet = podSubnet
        self.nodeCIDRMaskSize = nodeCIDRMaskSize
        self.serviceSubnet = serviceSubnet
        self.cni = cni
        self.mtu = mtu
    }
}

/// One entry of `spec.nodes`.
public struct NodeSpec: Sendable {
    /// DNS-1123 label, unique in the topology.
    public var name: String
    /// The profile's name: a built-in (`NodeProfile.names`, e.g. `raspberry-pi-4b`), one of
    /// `spec.profiles`, or `<base>@<node>` for an inline profile.
    public var profile: String
    /// The profile resolved down to a built-in board: `base` is a built-in name (nil when the
    /// profile gives every field itself) and the other fields are what the file changes, from
    /// `spec.profiles` and the node's inline overrides. For a plain built-in, only name and base.
    public var hardware: ProfileSpec
    /// The node's LAN address with its prefix length ("192.168.50.11/24").
    public var address: IPv4Interface
    /// The node's pod CIDR: as written, or the node's index-th `/nodeCIDRMaskSize` block of
    /// `podSubnet` (index = position in `spec.nodes`), as kube-controller-manager's range
    /// allocator would hand them out on an empty cluster.
    public var podCIDR: IPv4Network
    /// Labels in file order, ending with `kubernetes.io/hostname: <name>` unless written.
    public var labels: [(key: String, value: String)]
    /// The kubelet's `maxPods` as written; nil: the kubelet's default (110).
    public var maxPods: Int?

    public init(name: String, profile: String, address: IPv4Interface, podCIDR: IPv4Network,
                labels: [(key: String, value: String)], hardware: ProfileSpec? = nil, maxPods: Int? = nil) {
        self.name = name
        self.profile = profile
        self.hardware = hardware ?? ProfileSpec(name: profile, base: profile, location: SourceLocation(file: "", line: 0, column: 0))
        self.address = address
        self.podCIDR = podCIDR
        self.labels = labels
        self.maxPods = maxPods
    }
}

/// `spec.capture`: which devices to record, mirroring tcpdump's options.
public struct CaptureSpec: Sendable {
    /// Glob patterns over device names (default `["*"]`).
    public var interfaces: [String]
    /// Bytes kept per packet (64…262144, default 262144 like tcpdump).
    public var snaplen: Int
    /// A BPF expression in tcpdump syntax, compiled later by libpcap; "" keeps everything.
    public var filter: String
    /// Where `interfaces` and `filter` are written, for errors found once the cluster exists
    /// (a pattern no interface matches, a filter libpcap refuses); nil when defaulted.
    public var interfacesLocation: SourceLocation?
    public var filterLocation: SourceLocation?

    public init(interfaces: [String], snaplen: Int, filter: String,
                interfacesLocation: SourceLocation? = nil, filterLocation: SourceLocation? = nil) {
        self.interfaces = interfaces
        self.snaplen = snaplen
        self.filter = filter
        self.interfacesLocation = interfacesLocation
        self.filterLocation = filterLocation
    }
}

/// Where an object starts in the topology file (1-based line and column), so that later
/// stages can point their own errors at the manifest.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// "file:line:column".
    public var description: String { "\(file):\(line):\(column)" }
}
