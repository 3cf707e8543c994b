import Testing
@testable import Kube
import Datapath
import Engine
import Wire

/// How kube-proxy's rules spread new flows over a Service's endpoints, measured at the
/// endpoints' sockets (issue 4): the `-m statistic --probability 1/(n−i)` chain gives a
/// uniform choice per new conntrack entry, and ClientIP affinity (`-m recent`) pins a client
/// to one endpoint until `timeoutSeconds` of simulated time have passed since its last new
/// flow.
@Suite struct ServiceSplitTests {
    static let pi4 = NodeProfile.named("raspberry-pi-4b")!
    static let vip = IPv4Address(10, 96, 0, 20)
    static let servicePortName = "default/web:http"

    /// ServiceTests.reference()'s two nodes, with two clients on pi-1 (10.244.0.2, .3) and
    /// `webPods` endpoints alternating between the nodes: web-0 on pi-1 (10.244.0.4), web-1 on
    /// pi-2 (10.244.1.2), web-2 on pi-1 (10.244.0.5). ClusterIP Service web 10.96.0.20:80 →
    /// http (8080/UDP). kube-proxy orders endpoints by "ip:port": web-0, web-2, web-1.
    static func cluster(webPods: Int, affinity: SessionAffinity = .none, seed: UInt64 = 1) throws -> Cluster {
        let c = Cluster(ClusterConfiguration(seed: seed, network: .flannelVXLAN), nodes: (0..<2).map { k in
            NodeDefinition(name: "pi-\(k + 1)", profile: pi4, address: IPv4Interface("192.168.50.\(11 + k)/24")!,
                           podCIDR: IPv4Network("10.244.\(k).0/24")!)
        })
        let web = [Container(name: "web", image: "nginx", ports: [ContainerPort(name: "http", containerPort: 8080, protocol: "UDP")])]
        c.addPod(PodDefinition(name: "client", labels: [Label("app", "client")], nodeName: "pi-1"))
        c.addPod(PodDefinition(name: "client-2", labels: [Label("app", "client")], nodeName: "pi-1"))
        for k in 0..<webPods {
            c.addPod(PodDefinition(name: "web-\(k)", labels: [Label("app", "web")], nodeName: "pi-\(k % 2 + 1)", containers: web))
        }
        c.addService(ServiceDefinition(name: "web", clusterIP: vip, selector: [Label("app", "web")],
                                       ports: [ServicePort(name: "http", port: 80, targetPort: .name("http"))],
                                       sessionAffinity: affinity))
        try c.programNodeNetfilter()
        return c
    }

    /// Records the sender of every datagram (no reply: the split is decided by the first
    /// packet of each flow, and unreplied UDP entries live 30 s, longer than any run here
    /// before a deliberate expiry).
    final class Sink: NetworkApplication {
        var got: [(from: IPv4Address, port: UInt16)] = []
        func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
            got.append((datagram.source, datagram.sourcePort))
        }
    }

    /// One web pod: its name, address, `KUBE-SEP-` chain (also its xt_recent list) and sink.
    struct Backend {
        let name: String
        let ip: IPv4Address
        let chain: String
        let sink: Sink
    }

    /// A sink on port 8080 of every web pod, in kube-proxy's endpoint (rule) order.
    static func backends(_ c: Cluster, webPods: Int) throws -> [Backend] {
        var out: [Backend] = []
        for k in 0..<webPods {
            let pod = try #require(c.pod(named: "web-\(k)"))
            let ip = try #require(pod.ip), ns = try #require(pod.netns)
            let sink = Sink()
            _ = try c.world.openUDP(in: ns, port: 8080, app: c.world.register(sink))
            out.append(Backend(name: pod.name, ip: ip,
                               chain: KubeProxy.endpointChainName(servicePortName: servicePortName, protocol: "udp",
                                                                  endpoint: "\(ip):8080"),
                               sink: sink))
        }
        return out.sorted { "\($0.ip):8080" < "\($1.ip):8080" }
    }

    /// Which backends got datagrams from (ip, port), by name; empty if none did.
    static func reached(_ backends: [Backend], _ ip: IPv4Address, _ port: UInt16) -> Set<String> {
        Set(backends.filter { b in b.sink.got.contains { $0.from == ip && $0.port == port } }.map(\.name))
    }

    /// One client socket (a new source port, so a new conntrack entry and a new choice).
    struct Flow {
        let socket: SocketID
        let ip: IPv4Address
        let port: UInt16
    }

    static func openFlow(_ c: Cluster, client: String) throws -> Flow {
        let pod = try #require(c.pod(named: client))
        let s = try c.world.openUDP(in: try #require(pod.netns), port: nil, app: c.world.register(Sink()))
        return Flow(socket: s, ip: try #require(pod.ip), port: c.world.localPort(of: s))
    }

    /// Runs the world to `t`, then sends one 32-byte datagram of `flow` to the VIP.
    static func send(_ c: Cluster, _ flow: Flow, at t: SimTime) throws {
        precondition(t >= c.world.now, "time runs forward")
        c.world.run(until: t)
        try c.world.sendUDP(flow.socket, to: vip, port: 80, payloadLength: 32) {
            $0.initializeMemory(as: UInt8.self, repeating: 0x5A)
        }
    }

    /// The two-sided bound of the split tests: a count of Binomial(N, p) lies within 4.5
    /// standard deviations of N·p. The normal tail beyond ±4.5σ is 6.8·10⁻⁶, so with another
    /// seed a correct implementation trips it for one of three endpoints with probability
    /// about 2·10⁻⁵, while the broken variants below miss by 10σ and more.
    static func bound(flows n: Int, p: Double) -> ClosedRange<Double> {
        let mean = Double(n) * p, halfWidth = 4.5 * (Double(n) * p * (1 - p)).squareRoot()
        return (mean - halfWidth)...(mean + halfWidth)
    }

    /// The only drops allowed: copies of flooded frames other pods discard (ARP requests for
    /// someone else, unicast flooded once a bridge's FDB entry aged out) — never a datagram.
    static func expectOnlyFloodingDrops(_ w: World) {
        let other = DropReason.allCases.filter { ![.arpNotForUs, .otherHost].contains($0) && w.accounting.dropped($0) > 0 }
        #expect(other.isEmpty, "\(other.map { "\($0)=\(w.accounting.dropped($0))" })")
    }

    // MARK: - Endpoint split

    /// N = 2,000 new flows (a new source port each), three datagrams per flow 1 ms apart,
    /// flows 10 ms apart, from one client pod to the ClusterIP. Each flow's endpoint is an
    /// independent draw, so each endpoint's count is Binomial(2000, 1/n):
    ///
    /// - n = 2: rules "1/2, then the rest": expected 1000 each, σ = √(2000·½·½) = 22.4, bound
    ///   1000 ± 100.6 = [899.4, 1100.6].
    /// - n = 3: rules "1/3, then 1/2 of the rest, then the rest": expected 666.7 each,
    ///   σ = √(2000·⅓·⅔) = 21.1, bound 666.7 ± 94.9 = [571.8, 761.5].
    ///
    /// What broken rules would give (all outside the bounds by ≥ 10σ):
    /// - always the first endpoint (statistic never consulted, or probability 1): 2000/0(/0);
    /// - p = 1/n on *every* rule instead of 1/(n−i) (n = 3): 1/3, 2/3·1/3 = 2/9, (2/3)² = 4/9,
    ///   i.e. 667/444/889. For n = 2 that bug is invisible (1/n = 1/(n−0) = ½), which is why
    ///   the three-endpoint case exists;
    /// - the comparison inverted (match with 1 − p): n = 3 gives 2/3, 1/6, 1/6 = 1333/333/333.
    ///   Like the previous one, invisible for n = 2 (1 − ½ = ½).
    ///
    /// Even counts can come from a choice that is not random: round robin (IPVS's default
    /// scheduler) would give 1000/1000 and 667/667/666. So the draws must also be
    /// independent: of the 1,999 pairs of consecutive flows, the number that reached the same
    /// endpoint has the mean and variance of Binomial(1999, 1/n) for independent uniform
    /// draws (the pair indicators are pairwise independent when the choice is uniform), and
    /// gets the same 4.5σ bound:
    /// n = 2: 999.5 ± 100.6; n = 3: 666.3 ± 94.8. Round robin gives 0.
    ///
    /// Also: every datagram of a flow reaches the endpoint its first one reached (later
    /// datagrams follow the conntrack entry, not the rules), the client's address is kept
    /// (no SNAT between pods), and the rules carry kube-proxy's probabilities.
    @Test(arguments: [2, 3])
    func newFlowsSplitOverEndpointsAsTheRuleProbabilitiesSay(endpoints n: Int) throws {
        let flows = 2_000, datagramsPerFlow = 3
        let c = try Self.cluster(webPods: n)
        let w = c.world
        let backends = try Self.backends(c, webPods: n)

        // The rules under test: in KUBE-SVC-…, one statistic rule per endpoint but the last,
        // probabilities 1/(n−i) as kube-proxy formats them, jumping to the endpoints in order.
        let nat = try #require(w.namespace(c.nodes[0].netns).netfilter).rules.ruleset.nat
        let svc = try #require(nat.chain(named: KubeProxy.serviceChainName(
            prefix: KubeProxy.clusterPolicyChainPrefix, servicePortName: Self.servicePortName, protocol: "udp")))
        let dispatch = svc.rules.filter { rule in
            if case .jump(let target) = rule.target { return target.hasPrefix(KubeProxy.endpointChainPrefix) }
            return false
        }
        #expect(dispatch.map(\.target) == backends.map { .jump($0.chain) })
        let probabilities = dispatch.map { rule in
            rule.matches.compactMap { m -> Double? in
                if case .statisticRandom(let p) = m { return p }
                return nil
            }
        }
        #expect(probabilities == (n == 2 ? [[0.5], []] : [[0.3333333333], [0.5], []]))

        var sent: [Flow] = []
        let start = SimTime.zero + .milliseconds(10)
        for k in 0..<flows {
            let flow = try Self.openFlow(c, client: "client")
            sent.append(flow)
            for d in 0..<datagramsPerFlow {
                try Self.send(c, flow, at: start + .milliseconds(Int64(10 * k + d)))
            }
        }
        w.run(until: w.now + .seconds(1))

        // Flow → endpoint, from what each sink saw.
        var endpointOfPort: [UInt16: Set<String>] = [:]
        var datagramsOfPort: [UInt16: Int] = [:]
        for b in backends {
            for g in b.sink.got {
                #expect(g.from == IPv4Address(10, 244, 0, 2), "\(b.name) saw \(g.from): the client address is kept")
                endpointOfPort[g.port, default: []].insert(b.name)
                datagramsOfPort[g.port, default: 0] += 1
            }
        }
        Self.expectOnlyFloodingDrops(w)
        #expect(sent.allSatisfy { datagramsOfPort[$0.port] == datagramsPerFlow }, "every datagram arrived")
        let split = sent.filter { (endpointOfPort[$0.port]?.count ?? 0) != 1 }
        #expect(split.isEmpty, "flows whose datagrams reached several endpoints: \(split.prefix(5).map(\.port))")

        let counts = backends.map { b in sent.filter { endpointOfPort[$0.port] == Set([b.name]) }.count }
        let band = Self.bound(flows: flows, p: 1 / Double(n))
        for (b, count) in zip(backends, counts) {
            #expect(band.contains(Double(count)), "\(b.name): \(count) of \(flows) flows, bound \(band)")
        }
        #expect(counts.reduce(0, +) == flows)
        let repeats = zip(sent, sent.dropFirst()).filter { endpointOfPort[$0.port] == endpointOfPort[$1.port] }.count
        let pairBand = Self.bound(flows: flows - 1, p: 1 / Double(n))
        #expect(pairBand.contains(Double(repeats)), "consecutive flows to the same endpoint: \(repeats), bound \(pairBand)")
        print("split over \(n) endpoints (\(backends.map(\.name))): \(counts), bound \(band); "
              + "consecutive repeats \(repeats), bound \(pairBand)")
        #expect(w.conservationHolds())
    }

    // MARK: - ClientIP affinity

    /// xt_recent as `recent_mt` (net/netfilter/xt_recent.c) runs kube-proxy's affinity rules
    /// for one new flow, written from the kernel source — an oracle independent of
    /// RecentTable. Per `KUBE-SVC-` rule in endpoint order, `--rcheck --seconds S --reap`:
    /// if the source is not in the list, no match and nothing else (`goto out`); otherwise it
    /// matches when its last stamp is not older than S (`!time_after(now − S, stamp)`), and
    /// then `recent_entry_reap` removes the list's *oldest* entry if that one is stale —
    /// whoever it belongs to. A match jumps to that endpoint; no match anywhere leaves the
    /// choice to the statistic rules. Either way the `KUBE-SEP-` DNAT rule's `--set` stamps
    /// the source and moves it to the newest end (`recent_entry_update`, or
    /// `recent_entry_init` for a new entry).
    struct RecentOracle {
        /// Per list (= `KUBE-SEP-` chain), oldest first.
        var lists: [String: [(address: IPv4Address, stamp: SimTime)]]
        let ruleOrder: [String]
        let window: SimDuration

        init(ruleOrder: [String], window: SimDuration) {
            self.ruleOrder = ruleOrder
            self.window = window
            lists = Dictionary(uniqueKeysWithValues: ruleOrder.map { ($0, []) })
        }

        /// A new flow from `source` at `t` that reached endpoint chain `reached`. Returns the
        /// chain an `--rcheck` rule pinned it to, or nil when the statistic rules chose.
        mutating func newFlow(from source: IPv4Address, at t: SimTime, reached: String) -> String? {
            var pinned: String?
            for name in ruleOrder {
                guard let entry = lists[name]!.first(where: { $0.address == source }) else { continue }
                let hit = entry.stamp >= t - window
                if let oldest = lists[name]!.first, oldest.stamp < t - window { lists[name]!.removeFirst() }
                if hit {
                    pinned = name
                    break
                }
            }
            let set = pinned ?? reached
            lists[set]!.removeAll { $0.address == source }
            lists[set]!.append((source, t))
            return pinned
        }
    }

    /// sessionAffinity ClientIP, timeoutSeconds 10800: in each node's KUBE-SVC- chain one
    /// `-m recent --name KUBE-SEP-X --rcheck --seconds 10800 --reap -j KUBE-SEP-X` per
    /// endpoint comes before the statistic rules, and each KUBE-SEP- DNAT rule also does
    /// `-m recent --set`. Only new flows (new conntrack entries) traverse the nat table, so a
    /// client's stamp is the time of its last *new* flow. Both clients are on pi-1, so pi-1's
    /// lists decide. After every step pi-1's lists must equal `RecentOracle`'s (same
    /// addresses in the same order, stamps within 5 ms of the send times), and every flow the
    /// oracle says an `--rcheck` pinned must have reached that endpoint.
    ///
    /// 1. 0–2 s: 200 new flows from client, 100 from client-2: each client's flows all reach
    ///    one endpoint (its first draw).
    /// 2. 10801.5 s: more than 10800 s after client's first flow but not after its last one:
    ///    still pinned, so every new flow refreshed the stamp. Every conntrack entry of step 1
    ///    has expired by now (UDP, 30 s), so a datagram on client's *first* socket is a new
    ///    flow again: it goes through the rules and is pinned too.
    /// 3. 12000 s: client-2's stamp (≈1 s) is stale: its next flow is a fresh draw and the
    ///    stale entry is reaped by that very check (it is its list's oldest), so client-2 is
    ///    in exactly one list, the one of the endpoint it reached, and stays pinned there.
    /// 4. 16 more expiries of client-2 (each 10801 s after its last flow): the fresh draws
    ///    reach both endpoints (all 17 draws alike would have probability 2⁻¹⁶), each
    ///    followed by pinned flows; stale entries linger until a check reaps them, as the
    ///    oracle tracks.
    @Test func clientIPAffinityPinsEachClientUntilTheTimeout() throws {
        let timeout = 10_800
        let c = try Self.cluster(webPods: 2, affinity: .clientIP(timeoutSeconds: timeout))
        let w = c.world
        let backends = try Self.backends(c, webPods: 2)
        let pi1 = try #require(w.namespace(c.nodes[0].netns).netfilter)
        let window = SimDuration.seconds(timeout)
        let chainOf = Dictionary(uniqueKeysWithValues: backends.map { ($0.name, $0.chain) })
        let nameOf = Dictionary(uniqueKeysWithValues: backends.map { ($0.chain, $0.name) })
        let ipOf = Dictionary(uniqueKeysWithValues: backends.map { ($0.name, $0.ip) })
        var oracle = RecentOracle(ruleOrder: backends.map(\.chain), window: window)
        var pending: [(flow: Flow, at: SimTime)] = []

        /// Sends a new flow's first datagram, logged for the oracle.
        func newFlow(_ client: String, at t: SimTime, socket: Flow? = nil) throws -> Flow {
            let f = try socket ?? Self.openFlow(c, client: client)
            try Self.send(c, f, at: t)
            pending.append((f, t))
            return f
        }
        /// Runs to `t`, feeds the oracle the flows sent since the last call and compares.
        func settle(until t: SimTime, _ step: String) {
            w.run(until: t)
            for (flow, at) in pending {
                let reached = Self.reached(backends, flow.ip, flow.port)
                guard reached.count == 1, let name = reached.first else {
                    Issue.record("\(step): flow \(flow.port) reached \(reached.sorted())")
                    continue
                }
                if let pinned = oracle.newFlow(from: flow.ip, at: at, reached: chainOf[name]!) {
                    #expect(name == nameOf[pinned], "\(step): flow \(flow.port) was pinned to \(nameOf[pinned]!), reached \(name)")
                }
            }
            pending.removeAll()
            for b in backends {
                let actual = pi1.rules.recentList(b.chain), expected = oracle.lists[b.chain]!
                #expect(actual.map(\.address) == expected.map(\.address),
                        "\(step): list of \(b.name): \(actual.map(\.address)), oracle \(expected.map(\.address))")
                #expect(zip(actual, expected).allSatisfy { $0.lastSeen >= $1.stamp && $0.lastSeen < $1.stamp + .milliseconds(5) },
                        "\(step): stamps of \(b.name): \(actual.map(\.lastSeen)), oracle \(expected.map(\.stamp))")
            }
        }
        /// The single endpoint `flows` reached (nil, and an issue, if not exactly one).
        func pinned(_ flows: [Flow], _ what: String) -> String? {
            let all = flows.reduce(into: Set<String>()) { $0.formUnion(Self.reached(backends, $1.ip, $1.port)) }
            #expect(all.count == 1, "\(what): reached \(all.sorted())")
            return all.count == 1 ? all.first : nil
        }
        /// (endpoint, last stamp) of every recent-list entry of `ip`.
        func stamps(_ ip: IPv4Address) -> [(endpoint: String, lastSeen: SimTime)] {
            backends.flatMap { b in pi1.rules.recentList(b.chain).filter { $0.address == ip }.map { (b.name, $0.lastSeen) } }
        }
        let ip1 = try #require(c.pod(named: "client")?.ip), ip2 = try #require(c.pod(named: "client-2")?.ip)

        // 1. Many new flows from both clients.
        var flows1: [Flow] = [], flows2: [Flow] = []
        for k in 0..<200 {
            let t = SimTime.zero + .milliseconds(Int64(10 * k))
            flows1.append(try newFlow("client", at: t))
            if k < 100 { flows2.append(try newFlow("client-2", at: t + .milliseconds(5))) }
        }
        settle(until: SimTime.zero + .seconds(3), "step 1")
        let e1 = try #require(pinned(flows1, "client, 200 flows"))
        let e2 = try #require(pinned(flows2, "client-2, 100 flows"))
        #expect(stamps(ip1).map(\.endpoint) == [e1] && stamps(ip2).map(\.endpoint) == [e2])
        let tracked = pi1.conntrack.entries(now: w.now).filter { $0.original.destination == Self.vip }
        #expect(tracked.count == 300)
        #expect(tracked.allSatisfy { $0.reply.source == ipOf[$0.original.source == ip1 ? e1 : e2] },
                "each flow's conntrack entry DNATs to its client's endpoint")

        // 2. Past the first flow's stamp + 10800 s, within the last one's: still pinned.
        let t2 = SimTime.zero + .seconds(10_801.5)
        w.run(until: t2)
        #expect(pi1.conntrack.entries(now: w.now).allSatisfy { $0.original.destination != Self.vip },
                "every conntrack entry of step 1 has expired")
        let first = try newFlow("client", at: t2, socket: flows1[0])
        var flows1b: [Flow] = []
        for k in 1...10 { flows1b.append(try newFlow("client", at: t2 + .milliseconds(Int64(10 * k)))) }
        settle(until: t2 + .seconds(1), "step 2")
        #expect(pinned(flows1b + [first], "client at 10801.5 s") == e1)
        let again = pi1.conntrack.entries(now: w.now).filter { $0.original.source == ip1 && $0.original.sourcePort == first.port }
        #expect(again.count == 1 && again.first?.reply.source == ipOf[e1],
                "the first socket's datagram made a new conntrack entry, DNATed to the same endpoint: \(again)")
        let refreshed = stamps(ip1)
        #expect(refreshed.count == 1 && refreshed.allSatisfy { $0.endpoint == e1 && $0.lastSeen >= t2 + .milliseconds(100) },
                "refreshed by the last new flow: \(refreshed)")

        // 3. client-2's stamp is stale: a fresh draw, the stale entry reaped, pinned again.
        let t3 = SimTime.zero + .seconds(12_000)
        var flows2b: [Flow] = []
        for k in 0..<20 { flows2b.append(try newFlow("client-2", at: t3 + .milliseconds(Int64(10 * k)))) }
        settle(until: t3 + .seconds(1), "step 3")
        let e2b = try #require(pinned(flows2b, "client-2 after its timeout"))
        let s2b = stamps(ip2)
        #expect(s2b.count == 1 && s2b.allSatisfy { $0.endpoint == e2b && $0.lastSeen >= t3 + .milliseconds(190) },
                "client-2's stale entry was reaped: \(s2b)")
        #expect(stamps(ip1).map(\.lastSeen) == refreshed.map(\.lastSeen), "client's entry untouched")

        // 4. Each expiry lets client-2 draw again.
        var draws: [String] = [e2b]
        var lastFlow = t3 + .milliseconds(190)
        for cycle in 1...16 {
            let t = lastFlow + window + .seconds(1)
            var cycleFlows: [Flow] = []
            for k in 0..<3 { cycleFlows.append(try newFlow("client-2", at: t + .milliseconds(Int64(10 * k)))) }
            settle(until: t + .seconds(1), "expiry \(cycle)")
            if let e = pinned(cycleFlows, "client-2, expiry \(cycle)") { draws.append(e) }
            let fresh = stamps(ip2).filter { $0.lastSeen >= w.now - window }
            #expect(fresh.map(\.endpoint) == [draws.last!], "expiry \(cycle): \(fresh)")
            lastFlow = t + .milliseconds(20)
        }
        print("affinity: client → \(e1), client-2 → \(e2); client-2 after each timeout: \(draws)")
        print("affinity: final lists: \(backends.map { b in "\(b.name): \(pi1.rules.recentList(b.chain).map { "\($0.address)@\($0.lastSeen)" })" })")
        #expect(Set(draws) == Set(backends.map(\.name)), "fresh draws after expiry reach every endpoint: \(draws)")
        Self.expectOnlyFloodingDrops(w)
        #expect(w.conservationHolds())
    }

    /// The control: the same 200 flows from one client without affinity are spread — within
    /// the bound of the split tests, 100 ± 31.8 = [68.2, 131.8] per endpoint (σ = √(200·½·½)
    /// = 7.1) — and no recent list exists. So the pinning above comes from `-m recent`.
    @Test func withoutAffinityOneClientsFlowsSpread() throws {
        let c = try Self.cluster(webPods: 2)
        let w = c.world
        let backends = try Self.backends(c, webPods: 2)
        var flows: [Flow] = []
        for k in 0..<200 {
            let f = try Self.openFlow(c, client: "client")
            try Self.send(c, f, at: SimTime.zero + .milliseconds(Int64(10 * k)))
            flows.append(f)
        }
        w.run(until: SimTime.zero + .seconds(3))
        let reached = flows.map { Self.reached(backends, $0.ip, $0.port) }
        #expect(reached.allSatisfy { $0.count == 1 })
        let counts = backends.map { b in reached.filter { $0 == Set([b.name]) }.count }
        let band = Self.bound(flows: 200, p: 0.5)
        #expect(counts.allSatisfy { band.contains(Double($0)) }, "\(counts), bound \(band)")
        print("no affinity: 200 flows from one client: \(zip(backends.map(\.name), counts).map { "\($0)=\($1)" })")
        let pi1 = try #require(w.namespace(c.nodes[0].netns).netfilter)
        #expect(backends.allSatisfy { pi1.rules.recentList($0.chain).isEmpty })
        #expect(w.conservationHolds())
    }
}
