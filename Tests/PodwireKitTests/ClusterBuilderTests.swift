/// ClusterBuilder: a topology's profiles (spec.profiles, inline overrides) reach the built
/// cluster, and Topology's copies of Kube's and Datapath's lists agree with the originals.

import Datapath
import Engine
import Kube
import Testing
import Topology
@testable import PodwireKit

@Suite struct ClusterBuilderTests {
    // MARK: Topology's mirrors of Kube and Datapath

    @Test func knownProfilesAreKubesBuiltins() {
        #expect(NodeSpec.knownProfiles == NodeProfile.names)
    }

    @Test func builtinFactsMatchKube() {
        #expect(NodeSpec.builtinProfiles.map(\.name) == NodeProfile.builtins.map(\.name))
        for (facts, p) in zip(NodeSpec.builtinProfiles, NodeProfile.builtins) {
            #expect(facts.cores == p.cores && facts.memoryMB == p.memoryMB && facts.totalRAMMiB == p.totalRAMMiB, "\(p.name)")
        }
    }

    /// Every `StageCosts` field has a `costs` key, and each key writes its own field.
    @Test func stageCostNamesAreStageCostsFields() {
        let fields = Mirror(reflecting: StageCosts()).children.compactMap(\.label)
        #expect(StageCostName.allCases.map(\.rawValue) == fields)
        for (i, name) in StageCostName.allCases.enumerated() {
            var costs = StageCosts()
            costs[keyPath: ClusterBuilder.stageCost(name)] = .nanoseconds(123_456)
            let changed = Mirror(reflecting: costs).children.enumerated()
                .filter { ($0.element.value as? SimDuration) == .nanoseconds(123_456) }.map(\.offset)
            #expect(changed == [i], "\(name)")
        }
    }

    // MARK: Profiles reach the cluster

    static let yaml = """
        apiVersion: podwire/v1alpha1
        kind: Topology
        metadata: {name: profiles}
        spec:
          profiles:
            - name: my-pi4-overclocked
              base: raspberry-pi-4b-8gb
              clockMHz: 1800
              cpuScale: 0.83
              lineRate: 100Mbit
              softirqCore: 2
              netdevMaxBacklog: 500
              txqueuelen: 200
              costs: {nicRx: 1500ns, vxlanEncap: 2us}
            - name: rock
              board: Radxa ROCK 5B
              cores: 8
              clockMHz: 2400
              memoryMB: 16384
              totalRAMMiB: 15800
              cpuScale: 0.3
              lineRate: 2.5Gbit
          nodes:
            - {name: pi-1, profile: my-pi4-overclocked, address: 192.168.50.11/24}
            - {name: pi-2, profile: {base: raspberry-pi-3b-plus, cpuScale: 2, busCap: none, costs: {veth: 1us}}, address: 192.168.50.12/24}
            - {name: pi-3, profile: rock, address: 192.168.50.13/24}
            - {name: pi-4, profile: raspberry-pi-5, address: 192.168.50.14/24}
        """

    static func cluster() throws -> Cluster {
        let t = try TopologyFile.parse(yaml: yaml, fileName: "profiles.yaml")
        return ClusterBuilder.build(t, seed: 1)
    }

    @Test func aNamedProfileOverABuiltin() throws {
        let c = try Self.cluster()
        let p = c.nodes[0].definition.profile
        var expected = NodeProfile.named("raspberry-pi-4b-8gb")!
        expected.name = "my-pi4-overclocked"
        expected.clockMHz = 1800
        expected.cpuScale = 0.83
        expected.lineRate = 100_000_000
        expected.softirqCore = 2
        expected.netdevMaxBacklog = 500
        expected.txqueuelen = 200
        expected.referenceCosts.vxlanEncap = .microseconds(2)
        #expect(p == expected)
        // The namespace's costs are the reference costs times cpuScale.
        let ns = c.world.namespace(c.nodes[0].netns)
        #expect(ns.costs.vxlanEncap == .nanoseconds(1660))
        #expect(ns.costs.nicRx == .nanoseconds(1245))
        #expect(ns.costs.veth == .nanoseconds(249))
        // eth0's cable runs at the profile's line rate, with its txqueuelen.
        #expect(c.world.device(c.nodes[0].eth0).link?.rate == 100_000_000)
        #expect(c.world.device(c.nodes[0].eth0).link?.txqueuelen == 200)
        #expect(p.cpuConfiguration == NodeCPUConfiguration(cores: 4, softirqCore: 2, netdevMaxBacklog: 500))
    }

    @Test func anInlineProfile() throws {
        let c = try Self.cluster()
        let p = c.nodes[1].definition.profile
        #expect(p.name == "raspberry-pi-3b-plus@pi-2")
        #expect(p.board == NodeProfile.named("raspberry-pi-3b-plus")!.board)
        #expect(p.cpuScale == 2 && p.busCap == nil && p.lineRate == 1_000_000_000)
        #expect(p.referenceCosts.veth == .microseconds(1) && p.referenceCosts.nicRx == StageCosts().nicRx)
        #expect(c.world.namespace(c.nodes[1].netns).costs.veth == .microseconds(2))
        #expect(c.world.namespace(c.nodes[1].netns).costs.bridge == .nanoseconds(1200))
        // `busCap: none` lifts the 3B+'s USB 2.0 cap: eth0 sends at the full gigabit.
        #expect(c.world.device(c.nodes[1].eth0).link?.rate == 1_000_000_000)
        #expect(NodeProfile.named("raspberry-pi-3b-plus")!.transmitRate == 300_000_000)
    }

    @Test func aProfileWithoutBase() throws {
        let c = try Self.cluster()
        let p = c.nodes[2].definition.profile
        #expect(p == NodeProfile(name: "rock", board: "Radxa ROCK 5B", cores: 8, clockMHz: 2400, memoryMB: 16384,
                                 totalRAMMiB: 15800, cpuScale: 0.3, lineRate: 2_500_000_000))
        #expect(p.kernelConntrackMax == 262_144 && p.kubeProxyConntrackMax == 262_144)
        // eth0 to the switch: min(the cable's rate, the NIC's) — both 2.5 Gbit/s here.
        #expect(c.world.device(c.nodes[2].eth0).link?.rate == 2_500_000_000)
    }

    @Test func aBuiltinIsUnchanged() throws {
        let c = try Self.cluster()
        #expect(c.nodes[3].definition.profile == NodeProfile.named("raspberry-pi-5")!)
    }

    @Test func theExampleFileBuilds() throws {
        let t = try TopologyFile.load(path: E2E.repo.appendingPathComponent("topologies/custom-profile.yaml").path)
        let c = ClusterBuilder.build(t, seed: t.seed)
        #expect(c.nodes.map(\.definition.profile.name).contains("my-pi4-overclocked"))
    }
}
