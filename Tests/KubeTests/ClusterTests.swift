import Testing
@testable import Kube
import Datapath
import Engine
import Wire

private func oneNode(mask: Int = 24, mtu: Int = 1500, seed: UInt64 = 1) -> Cluster {
    Cluster(ClusterConfiguration(mtu: mtu, seed: seed), nodes: [
        NodeDefinition(name: "pi-1", profile: NodeProfile.named("raspberry-pi-4b")!,
                       address: IPv4Interface("192.168.50.11/24")!,
                       podCIDR: IPv4Network("10.244.0.0/16")!.subnet(index: 0, prefixLength: mask)!),
    ])
}

@Suite struct HostLocalIPAMTests {
    @Test func firstPodGetsDot2AndAllocationIsRoundRobin() {
        var ipam = HostLocalIPAM(subnet: IPv4Network("10.244.0.0/24")!)!
        #expect(ipam.allocate() == IPv4Address(10, 244, 0, 2))
        #expect(ipam.allocate() == IPv4Address(10, 244, 0, 3))
        ipam.release(IPv4Address(10, 244, 0, 2))
        // Not reused at once: round-robin continues after the last reserved address.
        #expect(ipam.allocate() == IPv4Address(10, 244, 0, 4))
        #expect(ipam.rangeSetDescription == "10.244.0.1-10.244.0.254")
    }

    @Test func slash30HoldsOnePodAndSlash31IsTooSmall() {
        var ipam = HostLocalIPAM(subnet: IPv4Network("10.244.0.0/30")!)!
        #expect(ipam.allocate() == IPv4Address(10, 244, 0, 2))
        #expect(ipam.allocate() == nil)
        #expect(HostLocalIPAM(subnet: IPv4Network("10.244.0.0/31")!) == nil)
    }

    @Test func wrapsAroundToReuseFreedAddresses() {
        var ipam = HostLocalIPAM(subnet: IPv4Network("10.244.0.0/29")!)!
        let got = (0..<5).compactMap { _ in ipam.allocate() }
        #expect(got.map(\.description) == ["10.244.0.2", "10.244.0.3", "10.244.0.4", "10.244.0.5", "10.244.0.6"])
        #expect(ipam.allocate() == nil)
        ipam.release(IPv4Address(10, 244, 0, 3))
        #expect(ipam.allocate() == IPv4Address(10, 244, 0, 3))
    }
}

@Suite struct ClusterTests {
    @Test func bridgePluginPlumbsAPodLikeFlannelsDelegate() throws {
        let c = oneNode(mtu: 1450)
        let pod = c.addPod(PodDefinition(name: "client", nodeName: "pi-1"))
        #expect(pod.phase == .running)
        #expect(pod.ip == IPv4Address(10, 244, 0, 2))
        let w = c.world
        let eth0 = w.device(try #require(pod.eth0))
        #expect(eth0.name == "eth0")
        #expect(eth0.mtu == 1450)
        #expect(eth0.mac == MACAddress("02:44:00:00:00:02"))
        let host = w.device(try #require(pod.hostVeth))
        #expect(host.hairpin)
        #expect(host.master == c.nodes[0].bridge)
        #expect(host.mac == MACAddress("02:ee:00:00:00:02"))
        let name = try #require(pod.hostVethName)
        #expect(name.count == 12 && name.hasPrefix("veth") && name.dropFirst(4).allSatisfy { $0.isHexDigit && !$0.isUppercase })
        let routes = w.namespace(try #require(pod.netns)).routes.routes.map(\.description)
        #expect(routes.contains { $0.hasPrefix("default via 10.244.0.1") })
        #expect(routes.contains { $0.hasPrefix("10.244.0.0/16 via 10.244.0.1") })
        #expect(routes.contains { $0.hasPrefix("10.244.0.0/24") && $0.contains("scope link") })
        let cni0 = w.device(c.nodes[0].cni0)
        #expect(cni0.addresses.map(\.description) == ["10.244.0.1/24"])
        #expect(cni0.mac == MACAddress("02:44:00:00:00:01"))
    }

    @Test func exhaustedPodCIDRLeavesPodPendingWithTheHostLocalMessage() {
        let c = oneNode(mask: 30)
        let a = c.addPod(PodDefinition(name: "a"))
        let b = c.addPod(PodDefinition(name: "b"))
        #expect(a.phase == .running)
        #expect(b.phase == .pending)
        #expect(b.reason == "ContainerCreating")
        #expect(b.message?.contains("no IP addresses available in range set: 10.244.0.1-10.244.0.2") == true)
        #expect(b.netns == nil)
    }

    @Test func schedulerHonoursNodeNameThenSelectorThenSpreads() {
        let p = NodeProfile.named("raspberry-pi-5")!
        let c = Cluster(ClusterConfiguration(), nodes: (0..<3).map { i in
            NodeDefinition(name: "pi-\(i + 1)", profile: p, address: IPv4Interface("192.168.50.\(11 + i)/24")!,
                           podCIDR: IPv4Network("10.244.0.0/16")!.subnet(index: i, prefixLength: 24)!,
                           labels: i == 2 ? [Label("disk", "ssd")] : [])
        })
        #expect(c.addPod(PodDefinition(name: "pinned", nodeName: "pi-2")).nodeName == "pi-2")
        #expect(c.addPod(PodDefinition(name: "sel", nodeSelector: [Label("kubernetes.io/hostname", "pi-3")])).nodeName == "pi-3")
        #expect(c.addPod(PodDefinition(name: "ssd", nodeSelector: [Label("disk", "ssd")])).nodeName == "pi-3")
        // pi-1 has none, pi-2 one, pi-3 two: spreading picks pi-1, then pi-1/pi-2 tie → pi-1 … by node order.
        #expect(c.addPod(PodDefinition(name: "s1")).nodeName == "pi-1")
        #expect(c.addPod(PodDefinition(name: "s2")).nodeName == "pi-1")
        #expect(c.addPod(PodDefinition(name: "s3")).nodeName == "pi-2")
        let none = c.addPod(PodDefinition(name: "nowhere", nodeSelector: [Label("disk", "nvme")]))
        #expect(none.phase == .pending && none.reason == "Unschedulable")
        #expect(none.message == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
                + "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
    }

    /// The kubelet's maxPods (110 by default): the scheduler skips a full node and says so
    /// the way kube-scheduler does; a pod bound to a full node by nodeName is rejected by the
    /// kubelet (Failed, OutOfpods) and takes no room. Before, 300 replicas on two nodes all ran.
    @Test func aFullNodeTakesNoMorePods() {
        let p = NodeProfile.named("raspberry-pi-4b")!
        func node(_ i: Int, maxPods: Int = NodeDefinition.defaultMaxPods, labels: [Label] = []) -> NodeDefinition {
            NodeDefinition(name: "pi-\(i + 1)", profile: p, address: IPv4Interface("192.168.50.\(11 + i)/24")!,
                           podCIDR: IPv4Network("10.244.0.0/16")!.subnet(index: i, prefixLength: 24)!, labels: labels, maxPods: maxPods)
        }
        let two = Cluster(ClusterConfiguration(), nodes: [node(0), node(1)])
        let pods = two.addDeployment(name: "web", replicas: 300, template: PodDefinition(name: "", labels: [Label("app", "web")]))
        #expect(pods.filter { $0.phase == .running && $0.nodeName == "pi-1" }.count == 110)
        #expect(pods.filter { $0.phase == .running && $0.nodeName == "pi-2" }.count == 110)
        let waiting = pods.filter { $0.phase == .pending }
        #expect(waiting.count == 80 && waiting.allSatisfy { $0.reason == "Unschedulable" && $0.nodeName == nil })
        #expect(waiting.first?.message == "0/2 nodes are available: 2 Too many pods. "
                + "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.")

        // maxPods 2 on pi-1 and pi-2, a selector only pi-3 matches elsewhere.
        let c = Cluster(ClusterConfiguration(), nodes: [node(0, maxPods: 2), node(1, maxPods: 2), node(2, labels: [Label("disk", "ssd")])])
        for k in 0..<6 { #expect(c.addPod(PodDefinition(name: "p\(k)")).phase == .running) }
        #expect(c.nodes.map(\.podCount) == [2, 2, 2])
        let ssdOnly = c.addPod(PodDefinition(name: "hdd", nodeSelector: [Label("disk", "hdd")]))
        #expect(ssdOnly.message == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
                + "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
        let mixed = Cluster(ClusterConfiguration(), nodes: [node(0, maxPods: 1), node(1, maxPods: 1, labels: [Label("disk", "ssd")]), node(2)])
        _ = mixed.addPod(PodDefinition(name: "a", nodeName: "pi-2"))
        let want = mixed.addPod(PodDefinition(name: "b", nodeSelector: [Label("disk", "ssd")]))
        #expect(want.message == "0/3 nodes are available: 1 Too many pods, 2 node(s) didn't match Pod's node affinity/selector. "
                + "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.")

        // Bound by nodeName to the full pi-1: the kubelet refuses it, and it takes no room.
        let pinned = c.addPod(PodDefinition(name: "pinned", nodeName: "pi-1"))
        #expect(pinned.phase == .failed && pinned.reason == "OutOfpods" && pinned.nodeName == "pi-1" && pinned.ip == nil)
        #expect(pinned.message == "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2")
        #expect(c.nodes.map(\.podCount) == [2, 2, 2])
    }

    @Test func deploymentReplicaNamesAreKubernetesShapedAndSeeded() {
        func names(seed: UInt64) -> [String] {
            let c = oneNode(seed: seed)
            return c.addDeployment(name: "web", replicas: 3, template: PodDefinition(name: "", labels: [Label("app", "web")]))
                .map(\.name)
        }
        let a = names(seed: 1)
        #expect(a == names(seed: 1))
        #expect(a != names(seed: 2))
        #expect(Set(a).count == 3)
        for n in a {
            let parts = n.split(separator: "-")
            #expect(parts.count == 3 && parts[0] == "web" && parts[2].count == 5)
            #expect(parts[1].allSatisfy { Cluster.safeAlphabet.contains($0) })
        }
        // The template hash does not depend on the seed.
        #expect(a[0].split(separator: "-")[1] == names(seed: 2)[0].split(separator: "-")[1])
    }

    @Test func profileScalesStageCosts() {
        #expect(NodeProfile.named("raspberry-pi-4b")!.stageCosts.bridge == .nanoseconds(600))
        #expect(NodeProfile.named("raspberry-pi-5")!.stageCosts.bridge == .nanoseconds(240))
        #expect(NodeProfile.named("raspberry-pi-nope") == nil)
    }
}
