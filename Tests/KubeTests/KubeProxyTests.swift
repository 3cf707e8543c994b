import Datapath
import Foundation
@testable import Kube
import Wire
import XCTest

/// kube-proxy / flanneld rule generation against the kernel reference
/// (shared/reference/kernel-ref/out/state/pi-N.iptables-save.after.txt) and the behaviours
/// of proxier.go that the reference run did not exercise.
final class KubeProxyTests: XCTestCase {

    // MARK: Chain names

    func testChainNamesMatchPublishedAndReferenceNames() {
        // k8s-datapath.md §6.2 (published `iptables -L` dumps).
        XCTAssertEqual(KubeProxy.serviceChainName(prefix: "KUBE-SVC-", servicePortName: "kube-system/kube-dns:dns",
                                                  protocol: "udp"), "KUBE-SVC-TCOU7JCQXEZGVUNU")
        XCTAssertEqual(KubeProxy.serviceChainName(prefix: "KUBE-SVC-", servicePortName: "kube-system/kube-dns:dns-tcp",
                                                  protocol: "tcp"), "KUBE-SVC-ERIFXISQEP7F7OF4")
        XCTAssertEqual(KubeProxy.serviceChainName(prefix: "KUBE-SVC-", servicePortName: "default/kubernetes:https",
                                                  protocol: "tcp"), "KUBE-SVC-NPX46M4PTMTKRN6Y")
        XCTAssertEqual(KubeProxy.serviceChainName(prefix: "KUBE-SVC-", servicePortName: "kube-system/kube-dns:metrics",
                                                  protocol: "tcp"), "KUBE-SVC-JD5MR3NA4I4DYORP")
        // kernel-ref out/state/chain-names.txt.
        XCTAssertEqual(KubeProxy.serviceChainName(prefix: KubeProxy.clusterPolicyChainPrefix,
                                                  servicePortName: "default/web:http", protocol: "udp"),
                       "KUBE-SVC-PVIUHHP45RD4PRVF")
        XCTAssertEqual(KubeProxy.serviceChainName(prefix: KubeProxy.externalChainPrefix,
                                                  servicePortName: "default/web:http", protocol: "udp"),
                       "KUBE-EXT-PVIUHHP45RD4PRVF")
        XCTAssertEqual(KubeProxy.endpointChainName(servicePortName: "default/web:http", protocol: "udp",
                                                   endpoint: "10.244.0.3:8080"), "KUBE-SEP-53TPW7OPUH5WCUCR")
        XCTAssertEqual(KubeProxy.endpointChainName(servicePortName: "default/web:http", protocol: "udp",
                                                   endpoint: "10.244.1.2:8080"), "KUBE-SEP-GK2X3ZNAHALGOP3S")
    }

    func testBase32IsRFC4648StandardEncoding() {
        // RFC 4648 §10 test vectors.
        let vectors = ["": "", "f": "MY======", "fo": "MZXQ====", "foo": "MZXW6===", "foob": "MZXW6YQ=",
                       "fooba": "MZXW6YTB", "foobar": "MZXW6YTBOI======"]
        for (input, expected) in vectors.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(Base32.encode(Array(input.utf8)), expected, "base32(\(input))")
        }
    }

    func testServicePortNameOmitsAnUnnamedPort() {
        let named = ProxyFixture.web
        let unnamed = ServiceDefinition(name: "db", namespace: "prod", clusterIP: IPv4Address(10, 96, 0, 9),
                                        selector: [Label("app", "db")],
                                        ports: [ServicePort(protocol: 6, port: 5432, targetPort: .number(5432))])
        XCTAssertEqual(KubeProxy.servicePortName(named, named.ports[0]), "default/web:http")
        XCTAssertEqual(KubeProxy.servicePortName(unnamed, unnamed.ports[0]), "prod/db")
    }

    // MARK: The reference nodes

    func testReproducesReferenceNodePi1() throws {
        try assertMatchesReference(node: "pi-1", podCIDR: IPv4Network("10.244.0.0/24")!)
    }

    func testReproducesReferenceNodePi2() throws {
        try assertMatchesReference(node: "pi-2", podCIDR: IPv4Network("10.244.1.0/24")!)
    }

    /// kube-proxy, then flanneld (restarted last: FLANNEL-FWD and FLANNEL-POSTRTG jumps on
    /// top, as in the after-state, case i2), compared chain by chain with iptables-save.
    private func assertMatchesReference(node: String, podCIDR: IPv4Network,
                                        file: StaticString = #filePath, line: UInt = #line) throws {
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: ProxyFixture.referenceServices(), nodeName: node,
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        FlannelMasquerade.program(&ruleset, clusterCIDR: ProxyFixture.clusterCIDR, podCIDR: podCIDR)

        let reference = try ReferenceIPTablesSave.load(node: node)
        // Intentional differences between our rules and the reference: none. (The one place
        // where we depart from proxier.go — "externally visible" without the hyphen in the
        // KUBE-EXTERNAL-SERVICES jump comments — is a departure *towards* the reference.)
        let intentionalDifferences: [(table: String, chain: String, reason: String)] = []

        for table in NetfilterTableName.allCases {
            guard let expected = reference.tables[table.rawValue] else {
                return XCTFail("\(node): no *\(table.rawValue) in the reference", file: file, line: line)
            }
            let ours = ruleset[table]
            XCTAssertEqual(Set(ours.chains.map(\.name)), Set(expected.chainNames),
                           "\(node) *\(table.rawValue): chain set", file: file, line: line)
            for chain in ours.chains where !intentionalDifferences.contains(where: {
                $0.table == table.rawValue && $0.chain == chain.name
            }) {
                let rendered = chain.rules.map { SaveLinePrinter.line(chain: chain.name, rule: $0) }
                XCTAssertEqual(rendered, expected.rules[chain.name] ?? [],
                               "\(node) *\(table.rawValue) \(chain.name)", file: file, line: line)
            }
        }
    }

    func testFlannelProgrammedFirstLeavesKubeProxyJumpsOnTop() {
        // REFERENCE.md §5.9 case i1 (the harness's initial restore file): kube-proxy's
        // prepended jumps come before FLANNEL-FWD when kube-proxy programs last.
        var ruleset = NetfilterRuleset()
        FlannelMasquerade.program(&ruleset, clusterCIDR: ProxyFixture.clusterCIDR, podCIDR: IPv4Network("10.244.0.0/24")!)
        KubeProxy.program(&ruleset, services: ProxyFixture.referenceServices(), nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        XCTAssertEqual(jumpTargets(ruleset.filter, "FORWARD"),
                       ["KUBE-PROXY-FIREWALL", "KUBE-FORWARD", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "FLANNEL-FWD"])
        XCTAssertEqual(jumpTargets(ruleset.nat, "POSTROUTING"), ["KUBE-POSTROUTING", "FLANNEL-POSTRTG"])

        // A flanneld restart moves its jumps back on top (delete, then -I) …
        FlannelMasquerade.program(&ruleset, clusterCIDR: ProxyFixture.clusterCIDR, podCIDR: IPv4Network("10.244.0.0/24")!)
        XCTAssertEqual(jumpTargets(ruleset.filter, "FORWARD").first, "FLANNEL-FWD")
        XCTAssertEqual(jumpTargets(ruleset.nat, "POSTROUTING"), ["FLANNEL-POSTRTG", "KUBE-POSTROUTING"])
        XCTAssertEqual(ruleset.filter.chain(named: "FLANNEL-FWD")?.rules.count, 2, "flushed, not doubled")
        XCTAssertEqual(ruleset.nat.chain(named: "FLANNEL-POSTRTG")?.rules.count, 5, "flushed, not doubled")
        // … unless it appends (the newer trafficmngr code).
        FlannelMasquerade.program(&ruleset, clusterCIDR: ProxyFixture.clusterCIDR, podCIDR: IPv4Network("10.244.0.0/24")!,
                                  insertAtTop: false)
        XCTAssertEqual(jumpTargets(ruleset.filter, "FORWARD").last, "FLANNEL-FWD")
        XCTAssertEqual(jumpTargets(ruleset.filter, "FORWARD").filter { $0 == "FLANNEL-FWD" }.count, 1)
    }

    func testFlannelWithoutRandomFully() {
        var ruleset = NetfilterRuleset()
        FlannelMasquerade.program(&ruleset, clusterCIDR: ProxyFixture.clusterCIDR, podCIDR: IPv4Network("10.244.0.0/24")!,
                                  randomFully: false)
        let targets = ruleset.nat.chain(named: "FLANNEL-POSTRTG")!.rules.map(\.target)
        XCTAssertEqual(targets.filter { $0 == .masquerade(ports: nil, randomFully: false) }.count, 2)
        XCTAssertFalse(targets.contains(.masquerade(ports: nil, randomFully: true)))
    }

    func testProgramIsIdempotentAndDeletesStaleServiceChains() {
        let configuration = KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR)
        var once = NetfilterRuleset()
        KubeProxy.program(&once, services: ProxyFixture.referenceServices(), nodeName: "pi-1", configuration: configuration)
        var twice = once
        KubeProxy.program(&twice, services: ProxyFixture.referenceServices(), nodeName: "pi-1", configuration: configuration)
        XCTAssertEqual(twice, once)

        // web loses web-1: its SEP goes, probabilities are recomputed.
        var shrunk = ProxyFixture.referenceServices()
        shrunk[0].endpoints[0].removeAll { $0.address == IPv4Address(10, 244, 1, 2) }
        KubeProxy.program(&twice, services: shrunk, nodeName: "pi-1", configuration: configuration)
        XCTAssertNil(twice.nat.chain(named: "KUBE-SEP-GK2X3ZNAHALGOP3S"))
        XCTAssertEqual(twice.nat.chain(named: "KUBE-SVC-PVIUHHP45RD4PRVF")?.rules.count, 2)
        // No services at all: every KUBE-SVC/EXT/SEP chain is deleted, the fixed chains stay.
        KubeProxy.program(&twice, services: [], nodeName: "pi-1", configuration: configuration)
        XCTAssertFalse(twice.nat.chains.contains { $0.name.hasPrefix("KUBE-SVC-") || $0.name.hasPrefix("KUBE-SEP-")
            || $0.name.hasPrefix("KUBE-EXT-") })
        XCTAssertEqual(twice.nat.chain(named: "KUBE-SERVICES")?.rules.count, 1, "only the NodePorts rule")
        XCTAssertEqual(twice.filter.chain(named: "KUBE-SERVICES")?.rules, [])
    }

    // MARK: Endpoint dispatch

    func testThreeEndpointsGetProbabilitiesOneThirdOneHalfThenUnconditional() {
        let service = ProxyFixture.clusterIPService(endpoints: [
            ProxyFixture.endpoint(10, 244, 0, 5), ProxyFixture.endpoint(10, 244, 1, 7), ProxyFixture.endpoint(10, 244, 2, 9),
        ])
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [service], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        let svc = ruleset.nat.chain(named: ProxyFixture.chain("KUBE-SVC-", "default/api:grpc", "udp"))!
        XCTAssertEqual(svc.rules.count, 4, "masquerade rule + 3 endpoints")
        XCTAssertEqual(svc.rules.dropFirst().map(statisticProbability), [0.3333333333, 0.5, nil])
        XCTAssertEqual(svc.rules.dropFirst().map(\.target), [
            .jump(ProxyFixture.sep("default/api:grpc", "10.244.0.5:8080")),
            .jump(ProxyFixture.sep("default/api:grpc", "10.244.1.7:8080")),
            .jump(ProxyFixture.sep("default/api:grpc", "10.244.2.9:8080")),
        ])
        // iptables-save re-prints the kernel's fixed-point value.
        XCTAssertEqual(SaveLinePrinter.line(chain: svc.name, rule: svc.rules[1]),
                       "-A \(svc.name) -m comment --comment \"default/api:grpc -> 10.244.0.5:8080\" "
                       + "-m statistic --mode random --probability 0.33333333349 -j \(ProxyFixture.sep("default/api:grpc", "10.244.0.5:8080"))")
        XCTAssertEqual(KubeProxy.probability(4), 0.25)
        XCTAssertEqual(KubeProxy.probability(7), 0.1428571429)
        XCTAssertEqual(KubeProxy.probability(2048), 0.0004882812, "Go's %0.10f rounds the exact tie to even")
    }

    func testOneEndpointHasNoStatisticMatch() {
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [ProxyFixture.clusterIPService(endpoints: [ProxyFixture.endpoint(10, 244, 0, 5)])],
                          nodeName: "pi-1", configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        let svc = ruleset.nat.chain(named: ProxyFixture.chain("KUBE-SVC-", "default/api:grpc", "udp"))!
        XCTAssertEqual(svc.rules.last, NetfilterRule(matches: [.comment("default/api:grpc -> 10.244.0.5:8080")],
                                                     target: .jump(ProxyFixture.sep("default/api:grpc", "10.244.0.5:8080"))))
        XCTAssertFalse(svc.rules.flatMap(\.matches).contains { if case .statisticRandom = $0 { true } else { false } })
    }

    func testEndpointsAreOrderedByTheirTextNotNumerically() {
        // proxy/endpointslicecache.go byEndpoint: "10.244.0.10:8080" < "10.244.0.3:8080".
        let service = ProxyFixture.clusterIPService(endpoints: [ProxyFixture.endpoint(10, 244, 0, 3), ProxyFixture.endpoint(10, 244, 0, 10)])
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [service], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        let svc = ruleset.nat.chain(named: ProxyFixture.chain("KUBE-SVC-", "default/api:grpc", "udp"))!
        XCTAssertEqual(svc.rules.dropFirst().map(\.target), [
            .jump(ProxyFixture.sep("default/api:grpc", "10.244.0.10:8080")),
            .jump(ProxyFixture.sep("default/api:grpc", "10.244.0.3:8080")),
        ])
    }

    func testClientIPAffinityChecksBeforeProbabilitiesAndSetsOnDNAT() {
        var service = ProxyFixture.clusterIPService(endpoints: [ProxyFixture.endpoint(10, 244, 0, 5), ProxyFixture.endpoint(10, 244, 1, 7)])
        service.service.sessionAffinity = .clientIP(timeoutSeconds: 10800)
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [service], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        let name = "default/api:grpc"
        let sepA = ProxyFixture.sep(name, "10.244.0.5:8080"), sepB = ProxyFixture.sep(name, "10.244.1.7:8080")
        let svc = ruleset.nat.chain(named: ProxyFixture.chain("KUBE-SVC-", name, "udp"))!
        XCTAssertEqual(Array(svc.rules.dropFirst()), [
            NetfilterRule(matches: [.comment("\(name) -> 10.244.0.5:8080"),
                                    .recent(.check(name: sepA, seconds: 10800, reap: true))], target: .jump(sepA)),
            NetfilterRule(matches: [.comment("\(name) -> 10.244.1.7:8080"),
                                    .recent(.check(name: sepB, seconds: 10800, reap: true))], target: .jump(sepB)),
            NetfilterRule(matches: [.comment("\(name) -> 10.244.0.5:8080"), .statisticRandom(probability: 0.5)],
                          target: .jump(sepA)),
            NetfilterRule(matches: [.comment("\(name) -> 10.244.1.7:8080")], target: .jump(sepB)),
        ])
        XCTAssertEqual(ruleset.nat.chain(named: sepA)?.rules, [
            NetfilterRule(source: AddressMatch(IPv4Network("10.244.0.5/32")!), matches: [.comment(name)],
                          target: .jump("KUBE-MARK-MASQ")),
            NetfilterRule(protocol: ProtocolMatch(17),
                          matches: [.comment(name), .recent(.set(name: sepA)),
                                    .ports(protocol: 17, source: nil, destination: nil)],
                          target: .dnat(IPv4Address(10, 244, 0, 5), port: 8080)),
        ])
    }

    func testNotReadyEndpointsAreSkipped() {
        var notReady = ProxyFixture.endpoint(10, 244, 1, 7)
        notReady.ready = false
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [ProxyFixture.clusterIPService(endpoints: [ProxyFixture.endpoint(10, 244, 0, 5), notReady])],
                          nodeName: "pi-1", configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        XCTAssertNil(ruleset.nat.chain(named: ProxyFixture.sep("default/api:grpc", "10.244.1.7:8080")))
        XCTAssertNotNil(ruleset.nat.chain(named: ProxyFixture.sep("default/api:grpc", "10.244.0.5:8080")))
        XCTAssertEqual(ruleset.nat.chain(named: ProxyFixture.chain("KUBE-SVC-", "default/api:grpc", "udp"))?.rules.count, 2)

        // Nothing ready at all: the Service has no endpoints → filter REJECT, no nat chains.
        var allDown = NetfilterRuleset()
        KubeProxy.program(&allDown, services: [ProxyFixture.clusterIPService(endpoints: [notReady])], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        XCTAssertEqual(allDown.filter.chain(named: "KUBE-SERVICES")?.rules.map(\.target), [.reject(.icmpPortUnreachable)])
        XCTAssertNil(allDown.nat.chain(named: ProxyFixture.chain("KUBE-SVC-", "default/api:grpc", "udp")))
    }

    // MARK: externalTrafficPolicy

    func testLocalPolicyWithoutLocalEndpointDropsExternalTrafficAndHasNoSVL() {
        // proxier.go: no local endpoint → usesLocalPolicyChain false (no KUBE-SVL), the EXT
        // chain keeps only its short-circuits, filter KUBE-EXTERNAL-SERVICES DROPs the rest
        // ("has no local endpoints"); ClusterIP traffic still uses every endpoint.
        let service = ProxyFixture.nodePortService(policy: .local, endpoints: [ProxyFixture.endpoint(10, 244, 1, 2, node: "pi-2")])
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [service], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        let name = "default/web:http"
        XCTAssertNil(ruleset.nat.chain(named: ProxyFixture.chain("KUBE-SVL-", name, "udp")))
        XCTAssertEqual(ruleset.filter.chain(named: "KUBE-EXTERNAL-SERVICES")?.rules, [
            NetfilterRule(protocol: ProtocolMatch(17),
                          matches: [.comment("\(name) has no local endpoints"), .destinationAddressType(.local, negated: false),
                                    .ports(protocol: 17, source: nil, destination: PortMatch(30080))],
                          target: .drop),
        ])
        let ext = ruleset.nat.chain(named: "KUBE-EXT-PVIUHHP45RD4PRVF")!
        XCTAssertEqual(ext.rules.map(\.target), [.jump("KUBE-SVC-PVIUHHP45RD4PRVF"), .jump("KUBE-MARK-MASQ"),
                                                 .jump("KUBE-SVC-PVIUHHP45RD4PRVF")])
        XCTAssertEqual(ext.rules[0].source, AddressMatch(ProxyFixture.clusterCIDR))
        XCTAssertEqual(ruleset.nat.chain(named: "KUBE-SERVICES")?.rules.first?.target, .jump("KUBE-SVC-PVIUHHP45RD4PRVF"))
        XCTAssertEqual(ruleset.nat.chain(named: "KUBE-NODEPORTS")?.rules.map(\.target), [.jump("KUBE-EXT-PVIUHHP45RD4PRVF")])
    }

    func testLocalPolicyWithLocalEndpointPreservesSourceThroughSVL() {
        let service = ProxyFixture.nodePortService(policy: .local, endpoints: [
            ProxyFixture.endpoint(10, 244, 0, 3, node: "pi-1"), ProxyFixture.endpoint(10, 244, 1, 2, node: "pi-2"),
        ])
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [service], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        let name = "default/web:http"
        let svl = ProxyFixture.chain("KUBE-SVL-", name, "udp")
        let ext = ruleset.nat.chain(named: "KUBE-EXT-PVIUHHP45RD4PRVF")!
        XCTAssertEqual(ext.rules, [
            NetfilterRule(source: AddressMatch(ProxyFixture.clusterCIDR),
                          matches: [.comment("pod traffic for \(name) external destinations")],
                          target: .jump("KUBE-SVC-PVIUHHP45RD4PRVF")),
            NetfilterRule(matches: [.comment("masquerade LOCAL traffic for \(name) external destinations"),
                                    .sourceAddressType(.local, negated: false)], target: .jump("KUBE-MARK-MASQ")),
            NetfilterRule(matches: [.comment("route LOCAL traffic for \(name) external destinations"),
                                    .sourceAddressType(.local, negated: false)], target: .jump("KUBE-SVC-PVIUHHP45RD4PRVF")),
            NetfilterRule(target: .jump(svl)),
        ])
        // Only the local endpoint, unconditionally, and no masquerade on the way.
        XCTAssertEqual(ruleset.nat.chain(named: svl)?.rules, [
            NetfilterRule(matches: [.comment("\(name) -> 10.244.0.3:8080")], target: .jump("KUBE-SEP-53TPW7OPUH5WCUCR")),
        ])
        XCTAssertEqual(ruleset.filter.chain(named: "KUBE-EXTERNAL-SERVICES")?.rules, [])
        // Both SEPs exist: ClusterIP traffic (KUBE-SVC) still balances over both.
        XCTAssertNotNil(ruleset.nat.chain(named: "KUBE-SEP-GK2X3ZNAHALGOP3S"))
    }

    func testClusterPolicyMasqueradesExternalTraffic() {
        var ruleset = NetfilterRuleset()
        let service = ProxyFixture.nodePortService(policy: .cluster, endpoints: [ProxyFixture.endpoint(10, 244, 1, 2, node: "pi-2")])
        KubeProxy.program(&ruleset, services: [service], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        XCTAssertEqual(ruleset.nat.chain(named: "KUBE-EXT-PVIUHHP45RD4PRVF")?.rules.map(\.target),
                       [.jump("KUBE-MARK-MASQ"), .jump("KUBE-SVC-PVIUHHP45RD4PRVF")])
        XCTAssertNil(ruleset.nat.chain(named: ProxyFixture.chain("KUBE-SVL-", "default/web:http", "udp")))
    }

    func testNodePortWithoutEndpointsIsRejectedInExternalServices() {
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [ProxyFixture.nodePortService(policy: .cluster, endpoints: [])], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        XCTAssertEqual(ruleset.filter.chain(named: "KUBE-EXTERNAL-SERVICES")?.rules.map {
            SaveLinePrinter.line(chain: "KUBE-EXTERNAL-SERVICES", rule: $0)
        }, ["-A KUBE-EXTERNAL-SERVICES -p udp -m comment --comment \"default/web:http has no endpoints\" "
            + "-m addrtype --dst-type LOCAL -m udp --dport 30080 -j REJECT --reject-with icmp-port-unreachable"])
        XCTAssertEqual(ruleset.nat.chain(named: "KUBE-NODEPORTS")?.rules, [])
        XCTAssertNil(ruleset.nat.chain(named: "KUBE-EXT-PVIUHHP45RD4PRVF"))
    }

    // MARK: Configuration

    func testMasqueradeAllMarksEveryClusterIPConnection() {
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [ProxyFixture.clusterIPService(endpoints: [ProxyFixture.endpoint(10, 244, 0, 5)])],
                          nodeName: "pi-1", configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR,
                                                                                  masqueradeAll: true))
        let first = ruleset.nat.chain(named: ProxyFixture.chain("KUBE-SVC-", "default/api:grpc", "udp"))!.rules[0]
        XCTAssertNil(first.source)
        XCTAssertEqual(first.target, .jump("KUBE-MARK-MASQ"))

        // Without a cluster CIDR (no local-traffic detector) there is no masquerade rule.
        var noDetector = NetfilterRuleset()
        KubeProxy.program(&noDetector, services: [ProxyFixture.clusterIPService(endpoints: [ProxyFixture.endpoint(10, 244, 0, 5)])],
                          nodeName: "pi-1", configuration: KubeProxyConfiguration())
        XCTAssertEqual(noDetector.nat.chain(named: ProxyFixture.chain("KUBE-SVC-", "default/api:grpc", "udp"))?.rules.map(\.target),
                       [.jump(ProxyFixture.sep("default/api:grpc", "10.244.0.5:8080"))])
    }

    func testMasqueradeBitSetsTheMark() {
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [], nodeName: "pi-1", configuration: KubeProxyConfiguration(masqueradeBit: 15))
        XCTAssertEqual(ruleset.nat.chain(named: "KUBE-MARK-MASQ")?.rules.map(\.target), [.mark(value: 0x8000, mask: 0x8000)])
        let postrouting = ruleset.nat.chain(named: "KUBE-POSTROUTING")?.rules ?? []
        XCTAssertEqual(postrouting.map { SaveLinePrinter.line(chain: "KUBE-POSTROUTING", rule: $0) }, [
            "-A KUBE-POSTROUTING -m mark ! --mark 0x8000/0x8000 -j RETURN",
            "-A KUBE-POSTROUTING -j MARK --set-xmark 0x8000/0x0",
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
        ])
    }

    func testNodePortAddressesGiveOneRulePerNodeIPAndDropLocalhostNodePorts() {
        var ruleset = NetfilterRuleset()
        let configuration = KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR,
                                                   nodePortAddresses: [IPv4Network("192.168.50.0/24")!],
                                                   nodeIPs: [IPv4Address(192, 168, 50, 11), IPv4Address(10, 244, 0, 1),
                                                             IPv4Address(127, 0, 0, 1)])
        KubeProxy.program(&ruleset, services: [], nodeName: "pi-1", configuration: configuration)
        XCTAssertEqual(ruleset.nat.chain(named: "KUBE-SERVICES")?.rules, [
            NetfilterRule(destination: AddressMatch(IPv4Network("192.168.50.11/32")!),
                          matches: [.comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")],
                          target: .jump("KUBE-NODEPORTS")),
        ])
        // localhostNodePorts is off (the addresses exclude loopback): kube-proxy does not
        // write its copy of the localnet rule; the kubelet's stays.
        XCTAssertEqual(ruleset.filter.chain(named: "KUBE-FIREWALL")?.rules.count, 1)
    }

    func testLargeClusterModeLeavesOutEndpointComments() {
        let service = ProxyFixture.clusterIPService(endpoints: [ProxyFixture.endpoint(10, 244, 0, 5), ProxyFixture.endpoint(10, 244, 1, 7)])
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [service], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR,
                                                                largeClusterEndpointsThreshold: 1))
        let svc = ruleset.nat.chain(named: ProxyFixture.chain("KUBE-SVC-", "default/api:grpc", "udp"))!
        XCTAssertEqual(svc.rules[0].matches.first, .comment("default/api:grpc cluster IP"), "kept on the ClusterIP rule")
        XCTAssertEqual(svc.rules[1].matches, [.statisticRandom(probability: 0.5)])
        XCTAssertEqual(svc.rules[2].matches, [])
        let sep = ruleset.nat.chain(named: ProxyFixture.sep("default/api:grpc", "10.244.0.5:8080"))!
        XCTAssertEqual(sep.rules.map(\.matches), [[], [.ports(protocol: 17, source: nil, destination: nil)]])
    }

    // MARK: Endpoints.resolve

    func testTargetPortByNameResolvesPerPod() {
        let service = ServiceDefinition(name: "web", clusterIP: IPv4Address(10, 96, 0, 20), selector: [Label("app", "web")],
                                        ports: [ServicePort(name: "http", protocol: 17, port: 80, targetPort: .name("http"))])
        let pods = [
            ProxyFixture.pod("a", ip: IPv4Address(10, 244, 0, 3), ports: [ContainerPort(name: "http", containerPort: 8080, protocol: "UDP")]),
            ProxyFixture.pod("b", ip: IPv4Address(10, 244, 1, 2), ports: [ContainerPort(name: "http", containerPort: 9090, protocol: "UDP")]),
            // Same name, wrong protocol: not an endpoint of a UDP port (FindPort).
            ProxyFixture.pod("c", ip: IPv4Address(10, 244, 1, 3), ports: [ContainerPort(name: "http", containerPort: 8080, protocol: "TCP")]),
            // No such port.
            ProxyFixture.pod("d", ip: IPv4Address(10, 244, 1, 4), ports: []),
        ]
        let resolved = Endpoints.resolve(service, pods: pods)
        XCTAssertEqual(resolved.endpoints[0].map { "\($0.address):\($0.port)" }, ["10.244.0.3:8080", "10.244.1.2:9090"])

        var numbered = service
        numbered.ports[0].targetPort = .number(7000)
        XCTAssertEqual(Endpoints.resolve(numbered, pods: pods).endpoints[0].map(\.port), [7000, 7000, 7000, 7000])
    }

    func testResolveMatchesEverySelectorLabelInTheNamespaceAndKeepsReadiness() {
        let service = ServiceDefinition(name: "web", clusterIP: IPv4Address(10, 96, 0, 20),
                                        selector: [Label("app", "web"), Label("tier", "front")],
                                        ports: [ServicePort(name: "http", protocol: 17, port: 80, targetPort: .number(8080))])
        var other = ProxyFixture.pod("x", ip: IPv4Address(10, 244, 0, 9), labels: [Label("app", "web"), Label("tier", "front")])
        other.definition.namespace = "prod"
        let pods = [
            ProxyFixture.pod("a", ip: IPv4Address(10, 244, 0, 3), labels: [Label("app", "web"), Label("tier", "front"), Label("x", "y")]),
            ProxyFixture.pod("b", ip: IPv4Address(10, 244, 0, 4), labels: [Label("app", "web")]),
            ProxyFixture.pod("c", ip: IPv4Address(10, 244, 0, 5), labels: [Label("app", "web"), Label("tier", "front")], ready: false),
            other,
        ]
        let endpoints = Endpoints.resolve(service, pods: pods).endpoints[0]
        XCTAssertEqual(endpoints.map(\.address), [IPv4Address(10, 244, 0, 3), IPv4Address(10, 244, 0, 5)])
        XCTAssertEqual(endpoints.map(\.ready), [true, false])
        XCTAssertEqual(endpoints.map(\.nodeName), ["pi-1", "pi-1"])
    }

    func testEmptySelectorGivesNoEndpointsAndARejectRule() {
        let service = ServiceDefinition(name: "manual", clusterIP: IPv4Address(10, 96, 0, 30), selector: [],
                                        ports: [ServicePort(name: "http", protocol: 17, port: 80, targetPort: .number(8080))])
        let resolved = Endpoints.resolve(service, pods: [ProxyFixture.pod("a", ip: IPv4Address(10, 244, 0, 3))])
        XCTAssertEqual(resolved.endpoints, [[]])
        var ruleset = NetfilterRuleset()
        KubeProxy.program(&ruleset, services: [resolved], nodeName: "pi-1",
                          configuration: KubeProxyConfiguration(clusterCIDR: ProxyFixture.clusterCIDR))
        XCTAssertEqual(ruleset.filter.chain(named: "KUBE-SERVICES")?.rules.map { SaveLinePrinter.line(chain: "KUBE-SERVICES", rule: $0) },
                       ["-A KUBE-SERVICES -d 10.96.0.30/32 -p udp -m comment --comment \"default/manual:http has no endpoints\" "
                        + "-m udp --dport 80 -j REJECT --reject-with icmp-port-unreachable"])
        XCTAssertEqual(ruleset.nat.chain(named: "KUBE-SERVICES")?.rules.count, 1, "only the NodePorts rule")
    }

    // MARK: Helpers

    private func jumpTargets(_ table: NetfilterTable, _ chain: String) -> [String] {
        (table.chain(named: chain)?.rules ?? []).compactMap { if case .jump(let c) = $0.target { c } else { nil } }
    }

    private func statisticProbability(_ rule: NetfilterRule) -> Double? {
        for match in rule.matches { if case .statisticRandom(let p) = match { return p } }
        return nil
    }
}

// MARK: - Fixtures

private enum ProxyFixture {
    static let clusterCIDR = IPv4Network("10.244.0.0/16")!

    /// The reference run's Service `web`: UDP 80 named http → container port http (8080), NodePort 30080.
    static let web = ServiceDefinition(name: "web", type: .nodePort, clusterIP: IPv4Address(10, 96, 0, 20),
                                       selector: [Label("app", "web")],
                                       ports: [ServicePort(name: "http", protocol: 17, port: 80, targetPort: .name("http"),
                                                           nodePort: 30080)])
    /// The reference's second Service, whose selector matches nothing.
    static let empty = ServiceDefinition(name: "empty", clusterIP: IPv4Address(10, 96, 0, 21),
                                         selector: [Label("app", "nothing")],
                                         ports: [ServicePort(name: "http", protocol: 17, port: 80, targetPort: .number(8080))])

    /// Both reference Services, endpoints resolved from the reference's pods.
    static func referenceServices() -> [ServiceEndpoints] {
        let http = [ContainerPort(name: "http", containerPort: 8080, protocol: "UDP")]
        let pods = [
            pod("client", ip: IPv4Address(10, 244, 0, 2), labels: [Label("app", "client")]),
            pod("web-0", ip: IPv4Address(10, 244, 0, 3), labels: [Label("app", "web")], ports: http),
            pod("web-1", ip: IPv4Address(10, 244, 1, 2), node: "pi-2", labels: [Label("app", "web")], ports: http),
        ]
        return [Endpoints.resolve(web, pods: pods), Endpoints.resolve(empty, pods: pods)]
    }

    static func pod(_ name: String, ip: IPv4Address, node: String = "pi-1", labels: [Label] = [Label("app", "web")],
                    ports: [ContainerPort] = [], ready: Bool = true)
        -> (definition: PodDefinition, ip: IPv4Address, nodeName: String, ready: Bool) {
        (PodDefinition(name: name, labels: labels, nodeName: node,
                       containers: [Container(name: "c", image: "busybox", ports: ports)]), ip, node, ready)
    }

    static func endpoint(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, node: String = "pi-1") -> Endpoint {
        Endpoint(address: IPv4Address(a, b, c, d), port: 8080, nodeName: node)
    }

    /// `default/api:grpc`, UDP 9000 → 8080 on the given endpoints.
    static func clusterIPService(endpoints: [Endpoint]) -> ServiceEndpoints {
        ServiceEndpoints(service: ServiceDefinition(name: "api", clusterIP: IPv4Address(10, 96, 0, 40),
                                                    selector: [Label("app", "api")],
                                                    ports: [ServicePort(name: "grpc", protocol: 17, port: 9000,
                                                                        targetPort: .number(8080))]),
                         endpoints: [endpoints])
    }

    /// The reference's `web` with the given policy and endpoints.
    static func nodePortService(policy: ExternalTrafficPolicy, endpoints: [Endpoint]) -> ServiceEndpoints {
        var service = web
        service.externalTrafficPolicy = policy
        return ServiceEndpoints(service: service, endpoints: [endpoints])
    }

    static func chain(_ prefix: String, _ name: String, _ proto: String) -> String {
        KubeProxy.serviceChainName(prefix: prefix, servicePortName: name, protocol: proto)
    }

    static func sep(_ name: String, _ endpoint: String) -> String {
        KubeProxy.endpointChainName(servicePortName: name, protocol: "udp", endpoint: endpoint)
    }
}

// MARK: - Reference file

/// `pi-N.iptables-save.after.txt`: per table, the chains (`:NAME …`) and each chain's `-A`
/// lines with the `[packets:bytes] ` counters stripped.
private struct ReferenceIPTablesSave {
    struct Table {
        var chainNames: [String] = []
        var rules: [String: [String]] = [:]
    }
    var tables: [String: Table] = [:]

    /// shared/reference/kernel-ref/out/state, found from $PODWIRE_SHARED, next to the
    /// repository (…/main/../shared), or at /work/shared.
    static func stateDirectory() throws -> URL {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var candidates = [repo.deletingLastPathComponent().appendingPathComponent("shared"),
                          URL(fileURLWithPath: "/work/shared")]
        if let env = ProcessInfo.processInfo.environment["PODWIRE_SHARED"] {
            candidates.insert(URL(fileURLWithPath: env), at: 0)
        }
        for base in candidates {
            let dir = base.appendingPathComponent("reference/kernel-ref/out/state")
            if FileManager.default.fileExists(atPath: dir.path) { return dir }
        }
        throw NSError(domain: "KubeProxyTests", code: 1, userInfo: [
            NSLocalizedDescriptionKey: "kernel reference state not found in \(candidates.map(\.path)); set PODWIRE_SHARED",
        ])
    }

    static func load(node: String) throws -> ReferenceIPTablesSave {
        let url = try stateDirectory().appendingPathComponent("\(node).iptables-save.after.txt")
        return parse(try String(contentsOf: url, encoding: .utf8))
    }

    static func parse(_ text: String) -> ReferenceIPTablesSave {
        var save = ReferenceIPTablesSave()
        var current: String?
        for raw in text.split(separator: "\n") {
            let line = String(raw)
            if line.hasPrefix("*") {
                current = String(line.dropFirst())
                save.tables[current!] = Table()
            } else if let table = current, line.hasPrefix(":") {
                save.tables[table]!.chainNames.append(String(line.dropFirst().prefix { $0 != " " }))
            } else if let table = current, let dash = line.range(of: "-A ") {
                // "[21:6180] -A INPUT …" → "-A INPUT …"
                let rule = String(line[dash.lowerBound...])
                let chain = String(rule.dropFirst(3).prefix { $0 != " " })
                save.tables[table]!.rules[chain, default: []].append(rule)
            }
        }
        return save
    }
}

// MARK: - A test-only iptables-save printer

/// Renders a rule the way `iptables-save` (1.8.9) prints it, for exactly the options the
/// generators use: IP part (`-s -d -i -o -p`), the `-m` modules in order, then the target.
private enum SaveLinePrinter {
    static func line(chain: String, rule: NetfilterRule) -> String {
        var parts = ["-A", chain]
        func not(_ negated: Bool) { if negated { parts.append("!") } }
        if let s = rule.source { not(s.negated); parts += ["-s", s.network.description] }
        if let d = rule.destination { not(d.negated); parts += ["-d", d.network.description] }
        if let i = rule.inInterface { not(i.negated); parts += ["-i", i.name] }
        if let o = rule.outInterface { not(o.negated); parts += ["-o", o.name] }
        if let p = rule.protocol { not(p.negated); parts += ["-p", protocolName(p.number)] }
        for match in rule.matches { parts += self.match(match) }
        parts += target(rule.target)
        return parts.joined(separator: " ")
    }

    static func protocolName(_ number: UInt8) -> String {
        switch number {
        case 1: "icmp"
        case 6: "tcp"
        case 17: "udp"
        case 132: "sctp"
        default: String(number)
        }
    }

    static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    static func match(_ m: NetfilterMatch) -> [String] {
        switch m {
        case .comment(let text):
            let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return ["-m", "comment", "--comment", "\"\(escaped)\""]
        case .ports(let proto, let source, let destination):
            var out = ["-m", protocolName(proto)]
            func port(_ flag: String, _ p: PortMatch) {
                if p.negated { out.append("!") }
                out += [flag, p.low == p.high ? "\(p.low)" : "\(p.low):\(p.high)"]
            }
            if let source { port("--sport", source) }
            if let destination { port("--dport", destination) }
            return out
        case .mark(let value, let mask, let negated):
            return ["-m", "mark"] + (negated ? ["!"] : [])
                + ["--mark", mask == 0xFFFF_FFFF ? hex(value) : "\(hex(value))/\(hex(mask))"]
        case .conntrackState(let states, let negated):
            let names = ConntrackStateSet.printOrder.filter { states.contains($0.0) }.map(\.1)
            return ["-m", "conntrack"] + (negated ? ["!"] : []) + ["--ctstate", names.joined(separator: ",")]
        case .statisticRandom(let p):
            // xt_statistic stores lround(p × 2³¹); libxt_statistic prints it back with %.11f.
            let stored = (p * 2_147_483_648).rounded()
            return ["-m", "statistic", "--mode", "random", "--probability",
                    String(format: "%.11f", stored / 2_147_483_648)]
        case .sourceAddressType(let type, let negated):
            return ["-m", "addrtype"] + (negated ? ["!"] : []) + ["--src-type", type.rawValue]
        case .destinationAddressType(let type, let negated):
            return ["-m", "addrtype"] + (negated ? ["!"] : []) + ["--dst-type", type.rawValue]
        case .recent(.set(let name)):
            return ["-m", "recent", "--set", "--name", name, "--mask", "255.255.255.255", "--rsource"]
        case .recent(.check(let name, let seconds, let reap)):
            return ["-m", "recent", "--rcheck", "--seconds", "\(seconds)"] + (reap ? ["--reap"] : [])
                + ["--name", name, "--mask", "255.255.255.255", "--rsource"]
        }
    }

    static func target(_ t: NetfilterTarget) -> [String] {
        switch t {
        case .accept: return ["-j", "ACCEPT"]
        case .drop: return ["-j", "DROP"]
        case .returnFromChain: return ["-j", "RETURN"]
        case .jump(let chain): return ["-j", chain]
        case .reject(let with): return ["-j", "REJECT", "--reject-with", with.rawValue]
        case .dnat(let address, let port):
            return ["-j", "DNAT", "--to-destination", port.map { "\(address):\($0)" } ?? "\(address)"]
        case .snat(let address, let ports, let randomFully):
            let to = ports.map { "\(address):\($0.lowerBound)-\($0.upperBound)" } ?? "\(address)"
            return ["-j", "SNAT", "--to-source", to] + (randomFully ? ["--random-fully"] : [])
        case .masquerade(let ports, let randomFully):
            return ["-j", "MASQUERADE"] + (ports.map { ["--to-ports", "\($0.lowerBound)-\($0.upperBound)"] } ?? [])
                + (randomFully ? ["--random-fully"] : [])
        case .mark(let value, let mask):
            return ["-j", "MARK", "--set-xmark", "\(hex(value))/\(hex(mask))"]
        }
    }
}
