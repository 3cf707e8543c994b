import Datapath
import Wire

/// Kubernetes objects as podwire needs them: what a node, pod or Deployment *is* (the
/// definition, from a manifest or a benchmark) and what became of it (status, addresses,
/// namespaces and devices in the world).

public struct ContainerPort: Sendable, Equatable {
    public var name: String?
    public var containerPort: Int
    public var `protocol`: String
    public init(name: String? = nil, containerPort: Int, protocol: String = "TCP") {
        self.name = name
        self.containerPort = containerPort
        self.protocol = `protocol`
    }
}

public struct Container: Sendable, Equatable {
    public var name: String
    public var image: String
    public var ports: [ContainerPort]
    public init(name: String, image: String, ports: [ContainerPort] = []) {
        self.name = name
        self.image = image
        self.ports = ports
    }
}

public struct Label: Sendable, Equatable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

public struct PodDefinition: Sendable {
    public var name: String
    public var namespace: String
    public var labels: [Label]
    public var nodeName: String?
    public var nodeSelector: [Label]
    public var containers: [Container]
    public init(name: String, namespace: String = "default", labels: [Label] = [], nodeName: String? = nil,
                nodeSelector: [Label] = [], containers: [Container] = [Container(name: "c", image: "busybox")]) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.nodeName = nodeName
        self.nodeSelector = nodeSelector
        self.containers = containers
    }
}

public struct NodeDefinition: Sendable {
    public var name: String
    public var profile: NodeProfile
    public var address: IPv4Interface
    public var podCIDR: IPv4Network
    public var labels: [Label]
    /// The kubelet's `maxPods` (`--max-pods`): the pods the node takes. The scheduler skips a
    /// full node ("Too many pods"), and the kubelet rejects a pod bound to one by
    /// `spec.nodeName` (OutOfpods). Only the file's pods count: a real node also runs
    /// kube-proxy and flannel DaemonSet pods (and k3s its add-ons), so it fills a few sooner.
    public var maxPods: Int
    /// The kubelet's default, also k3s's.
    public static let defaultMaxPods = 110

    public init(name: String, profile: NodeProfile, address: IPv4Interface, podCIDR: IPv4Network, labels: [Label] = [],
                maxPods: Int = NodeDefinition.defaultMaxPods) {
        self.name = name
        self.profile = profile
        self.address = address
        self.podCIDR = podCIDR
        self.labels = labels
        self.maxPods = maxPods
    }
}

public enum PodPhase: String, Sendable {
    case running = "Running"
    /// Scheduled or not, but without a sandbox: the reason is in `Pod.message`.
    case pending = "Pending"
    /// Rejected by its node's kubelet at admission (reason OutOfpods): it never runs.
    case failed = "Failed"
}

public struct Pod: Sendable {
    public let definition: PodDefinition
    public internal(set) var phase: PodPhase
    /// Kubernetes-style status reason: "ContainerCreating" (no sandbox: CNI failed),
    /// "Unschedulable", "OutOfpods" (the kubelet rejected it), or nil when running.
    public internal(set) var reason: String?
    /// Why the pod is not running, as `kubectl describe pod` would show it.
    public internal(set) var message: String?
    public internal(set) var nodeName: String?
    public internal(set) var ip: IPv4Address?
    public internal(set) var netns: NamespaceID?
    public internal(set) var eth0: DeviceID?
    public internal(set) var hostVeth: DeviceID?
    public internal(set) var hostVethName: String?
    public var name: String { definition.name }
}

public final class Node {
    public let definition: NodeDefinition
    public let index: Int
    public let netns: NamespaceID
    public let eth0: DeviceID
    public let cni0: DeviceID
    public let bridge: BridgeID
    public internal(set) var ipam: HostLocalIPAM?
    public internal(set) var podCount = 0
    public var name: String { definition.name }
    /// Every node carries `kubernetes.io/hostname`, then its own labels.
    public var labels: [Label] { [Label("kubernetes.io/hostname", definition.name)] + definition.labels }

    init(definition: NodeDefinition, index: Int, netns: NamespaceID, eth0: DeviceID, cni0: DeviceID, bridge: BridgeID) {
        self.definition = definition
        self.index = index
        self.netns = netns
        self.eth0 = eth0
        self.cni0 = cni0
        self.bridge = bridge
        self.ipam = HostLocalIPAM(subnet: definition.podCIDR)
    }
}
