/// The default topology file, defaults, Deployments, and `TopologyFile.load`'s file errors.

import Engine
import Foundation
import Testing
import Wire
@testable import Topology

@Suite struct TopologyFileTests {
    @Test func defaultFileParsesToTheExpectedValues() throws {
        let t = try TopologyFile.load(path: Fixtures.defaultFilePath)
        #expect(t.name == "single-node")
        #expect(t.seed == 1)
        #expect(t.duration == SimDuration(nanoseconds: 2_000_000_000))
        #expect(t.fileName == Fixtures.defaultFilePath)
        #expect(t.cluster.podSubnet == IPv4Network("10.244.0.0/16"))
        #expect(t.cluster.nodeCIDRMaskSize == 24)
        #expect(t.cluster.serviceSubnet == IPv4Network("10.96.0.0/12"))
        #expect(t.cluster.cni == .bridge)
        #expect(t.cluster.mtu == 1500)

        #expect(t.nodes.count == 1)
        let node = try #require(t.nodes.first)
        #expect(node.name == "pi-1")
        #expect(node.profile == "raspberry-pi-4b")
        #expect(node.address == IPv4Interface("192.168.50.11/24"))
        #expect(node.podCIDR == IPv4Network("10.244.0.0/24"))
        #expect(node.labels.map(\.key) == ["kubernetes.io/hostname"])
        #expect(node.labels.map(\.value) == ["pi-1"])

        #expect(t.scenario.count == 4)
        guard case .udp(let echo) = t.scenario[0].action,
              case .ping(let ping) = t.scenario[1].action,
              case .iperf3(let big) = t.scenario[2].action,
              case .iperf3(let small) = t.scenario[3].action else {
            Issue.record("unexpected actions: \(t.scenario.map(\.action))")
            return
        }
        // Step 0 mirrors the kernel reference's case (a).
        #expect(t.scenario[0].at == .zero)
        #expect(echo.client == .pod("client") && echo.server == .pod("web-0"))
        #expect(echo.port == 8080 && echo.count == 3 && echo.length == 64 && echo.echo)
        #expect(echo.interval == .milliseconds(50))

        #expect(t.scenario[1].at == .milliseconds(200))
        #expect(ping.from == .pod("client"))
        #expect(ping.to == .pod("web-0"))
        #expect(ping.count == 3)
        #expect(ping.interval == .milliseconds(200))
        #expect(ping.size == 56)

        #expect(t.scenario[2].at == .milliseconds(500))
        #expect(big.client == .pod("client"))
        #expect(big.server == .pod("web-0"))
        #expect(big.port == 5201)
        #expect(big.bitrate == 100_000_000)
        #expect(big.length == 1400)
        #expect(big.time == SimDuration(nanoseconds: 1_000_000_000))

        #expect(t.scenario[3].at == .milliseconds(700))
        #expect(small.server == .pod("web-1"))
        #expect(small.bitrate == 10_000_000)
        #expect(small.length == 512)
        #expect(small.time == .milliseconds(500))
        #expect(t.scenario.map(\.end) == [.milliseconds(150), .milliseconds(800), .milliseconds(1500), .milliseconds(1200)])

        #expect(t.capture.interfaces == ["*"])
        #expect(t.capture.snaplen == 262_144)
        #expect(t.capture.filter == "")

        #expect(t.pods.map(\.name) == ["client", "web-0", "web-1"])
        #expect(t.pods.allSatisfy { $0.namespace == "default" && $0.template.nodeName == "pi-1" })
        #expect(t.pods.map { $0.template.labels.first?.value } == ["client", "web", "web"])
        let web = t.pods[1].template.containers
        #expect(web.count == 1)
        #expect(web.first?.ports.first?.name == "http")
        #expect(web.first?.ports.first?.containerPort == 8080)
        #expect(web.first?.ports.first?.protocol == "TCP")
        #expect(t.pods[0].location.line > t.scenario[3].location.line)
        #expect(t.pods[0].location.file == Fixtures.defaultFilePath)
        #expect(t.deployments.isEmpty)
    }

    @Test func defaultsAreApplied() throws {
        let t = try Fixtures.parse(Fixtures.header + """
              nodes:
                - {name: a, profile: raspberry-pi-5, address: 192.168.1.2/24}
                - {name: b, profile: raspberry-pi-3b, address: 192.168.1.3/24, labels: {disk: ssd}}
                - {name: c, profile: raspberry-pi-zero-2w, address: 192.168.1.4/24, podCIDR: 10.244.9.0/24, maxPods: 16}
              scenario:
                - {at: 1s, iperf3: {client: node/a, server: node/b, udp: true}}
                - {at: 2s, ping: {from: node/b, to: node/c}}
            """)
        #expect(t.nodes.map(\.maxPods) == [nil, nil, 16])   // nil: the kubelet's default
        #expect(t.seed == 1)
        #expect(t.cluster.podSubnet.description == "10.244.0.0/16")
        #expect(t.cluster.serviceSubnet.description == "10.96.0.0/12")
        #expect(t.cluster.nodeCIDRMaskSize == 24)
        #expect(t.cluster.cni == .flannelVXLAN)   // the default for several nodes
        #expect(t.cluster.mtu == 1500)
        #expect(t.nodes.map(\.podCIDR.description) == ["10.244.0.0/24", "10.244.1.0/24", "10.244.9.0/24"])
        #expect(t.nodes[1].labels.map(\.key) == ["disk", "kubernetes.io/hostname"])
        guard case .iperf3(let i) = t.scenario[0].action, case .ping(let p) = t.scenario[1].action else {
            Issue.record("unexpected actions")
            return
        }
        #expect(i.port == 5201)
        #expect(i.bitrate == 1_000_000)
        #expect(i.length == 1460)
        #expect(i.time == SimDuration(nanoseconds: 10_000_000_000))
        #expect(p.count == 3)
        #expect(p.interval == SimDuration(nanoseconds: 1_000_000_000))
        #expect(p.size == 56)
        // Latest end: iperf3 at 1s + 10s = 11s (ping ends at 2s + 3 × 1s = 5s), plus 1s.
        #expect(t.duration == SimDuration(nanoseconds: 12_000_000_000))
        #expect(t.capture.interfaces == ["*"])
        #expect(t.capture.snaplen == 262_144)
        #expect(t.capture.filter == "")
        #expect(t.pods.isEmpty)
    }

    @Test func durationDefaultsToOneSecondWithoutScenario() throws {
        let t = try Fixtures.parse(Fixtures.header + Fixtures.oneNode)
        #expect(t.duration == SimDuration(nanoseconds: 1_000_000_000))
        #expect(t.scenario.isEmpty)
    }

    @Test func deploymentsAndTheirTargetsParse() throws {
        let t = try Fixtures.parse(Fixtures.header + Fixtures.oneNode + """
              scenario:
                - {at: 0s, ping: {from: deploy/client, to: deployment/web, count: 1, interval: 1ms, size: 0}}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: shop, labels: {app: web}, annotations: {a: b}}
            spec:
              replicas: 3
              strategy: {type: RollingUpdate}
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web, tier: front}}
                spec:
                  nodeSelector: {kubernetes.io/hostname: pi-1}
                  containers:
                    - name: web
                      image: nginx
                      imagePullPolicy: IfNotPresent
                      resources: {limits: {cpu: 500m}}
                      env: [{name: A, value: "1"}]
                      readinessProbe: {httpGet: {path: /, port: 80}}
                      ports: [{containerPort: 5201, protocol: UDP, name: iperf}]
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: client}
            spec:
              selector: {matchLabels: {app: client}}
              template:
                metadata: {labels: {app: client}}
                spec: {containers: [{name: c, image: busybox, command: [sleep, "3600"]}]}
            """)
        #expect(t.deployments.map(\.name) == ["web", "client"])
        let web = t.deployments[0]
        #expect(web.namespace == "shop")
        #expect(web.replicas == 3)
        #expect(web.template.labels.map(\.key) == ["app", "tier"])
        #expect(web.template.nodeSelector.map(\.value) == ["pi-1"])
        #expect(web.template.containers[0].ports[0].protocol == "UDP")
        #expect(web.location.line == 10)  // its `apiVersion:` line
        #expect(t.deployments[1].replicas == 1)
        guard case .ping(let p) = t.scenario[0].action else { Issue.record("not a ping"); return }
        #expect(p.from == .deployment("client"))
        #expect(p.to == .deployment("web"))
        #expect(p.interval == .milliseconds(1))
        #expect(p.size == 0)
    }

    /// topologies/NAME, next to the default file.
    static func topologyPath(_ name: String) -> String {
        URL(fileURLWithPath: Fixtures.defaultFilePath).deletingLastPathComponent().appendingPathComponent(name).path
    }

    @Test func everyTopologyInTheRepositoryValidates() throws {
        let directory = URL(fileURLWithPath: Fixtures.defaultFilePath).deletingLastPathComponent().path
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.contains("two-node-service.yaml"))
        #expect(files.count >= 4)
        for file in files {
            do {
                _ = try TopologyFile.load(path: Self.topologyPath(file))
            } catch {
                Issue.record("\(file) does not validate:\n\(error)")
            }
        }
    }

    @Test func twoNodeServiceMirrorsTheKernelReference() throws {
        let t = try TopologyFile.load(path: Self.topologyPath("two-node-service.yaml"))
        #expect(t.name == "two-node-service")
        #expect(t.cluster.cni == .flannelVXLAN)
        #expect(t.nodes.map(\.name) == ["pi-1", "pi-2"])
        #expect(t.hosts.map(\.name) == ["ext"])
        #expect(t.pods.map(\.name) == ["client", "web-0", "web-1"])
        #expect(t.switches.isEmpty && t.links.isEmpty)

        #expect(t.services.map(\.name) == ["web", "empty"])
        let web = t.services[0], empty = t.services[1]
        #expect(web.type == .nodePort)
        #expect(web.clusterIP == IPv4Address("10.96.0.20"))
        #expect(web.selector.map(\.key) == ["app"] && web.selector.map(\.value) == ["web"])
        #expect(web.ports == [ServicePortSpec(name: "http", protocol: "UDP", port: 80, targetPort: .name("http"), nodePort: 30080)])
        #expect(web.externalTrafficPolicy == "Cluster" && web.sessionAffinity == "None")
        #expect(empty.type == .clusterIP)
        #expect(empty.clusterIP == IPv4Address("10.96.0.21"))
        #expect(empty.ports == [ServicePortSpec(name: "http", protocol: "UDP", port: 80, targetPort: .number(80), nodePort: nil)])
        // The Service's named targetPort matches the pods' UDP container port named http.
        let podPorts = t.pods.filter { $0.template.labels.contains { $0.key == "app" && $0.value == "web" } }
            .flatMap { $0.template.containers.flatMap(\.ports) }
        #expect(podPorts.count == 2 && podPorts.allSatisfy { $0.name == "http" && $0.containerPort == 8080 && $0.protocol == "UDP" })
        #expect(!t.pods.contains { $0.template.labels.contains { $0.key == "app" && $0.value == "empty" } })

        // The reference's cases in order: a, b (3 datagrams on one socket each), c1 (6 sockets),
        // c2 (one socket, 3 datagrams), d (7), e (ping), f0/f1/f2 (1422 B DF, 1423 B DF, 2000 B),
        // f3 (1472 B, DF, 2 tries), g, h (6), i1, j (6).
        let steps: [(Target, Target, UInt16, Int, Int, Bool)?] = t.scenario.map {
            guard case .udp(let u) = $0.action else { return nil }
            return (u.client, u.server, u.port, u.count, u.length, u.dontFragment)
        }
        #expect(steps.count == 35)
        guard steps.count == 35 else { return }
        let svc = Target.service(name: "web", port: 80), nodePort = Target.nodePort(node: "pi-2", port: 30080)
        let client = Target.pod("client"), ext = Target.host("ext"), web1 = Target.pod("web-1")
        func run(_ range: Range<Int>) -> [(Target, Target, UInt16, Int, Int, Bool)] { steps[range].compactMap { $0 } }
        #expect(steps[0]?.1 == .pod("web-0") && steps[0]?.3 == 3 && steps[1]?.1 == web1 && steps[1]?.3 == 3)  // a, b
        #expect(run(2..<8).count == 6 && run(2..<8).allSatisfy { $0.0 == client && $0.1 == svc && $0.2 == 80 && $0.3 == 1 })  // c1
        #expect(steps[8]?.0 == client && steps[8]?.1 == svc && steps[8]?.3 == 3)                               // c2
        #expect(run(9..<16).count == 7 && run(9..<16).allSatisfy { $0.0 == ext && $0.1 == nodePort && $0.2 == 30080 && $0.3 == 1 })  // d
        if case .ping(let p) = t.scenario[16].action { #expect(p.from == client && p.count == 3) } else { Issue.record("step 16 is not case e's ping") }
        #expect(run(17..<20).map(\.4) == [1422, 1423, 2000] && run(17..<20).map(\.5) == [true, true, false])   // f0, f1, f2
        #expect(steps[20]?.1 == nodePort && steps[20]?.3 == 2 && steps[20]?.4 == 1472 && steps[20]?.5 == true)    // f3
        #expect(steps[21]?.0 == client && steps[21]?.1 == ext && steps[21]?.2 == 9000 && steps[21]?.3 == 2)       // g
        #expect(run(22..<28).count == 6 && run(22..<28).allSatisfy { $0.0 == .pod("web-0") && $0.1 == svc && $0.3 == 1 })  // h
        #expect(steps[28]?.1 == .service(name: "empty", port: 80) && steps[28]?.3 == 1)                         // i1
        #expect(run(29..<35).count == 6 && run(29..<35).allSatisfy { $0.0 == client && $0.1 == svc && $0.3 == 1 })  // j
        let starts = t.scenario.map(\.at)
        #expect(starts == starts.sorted())
        #expect(t.scenario.allSatisfy { $0.end < t.duration })
    }

    @Test func unreadableFileIsAnError() {
        do {
            _ = try TopologyFile.load(path: "/nonexistent/podwire.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.errors.count == 1)
            #expect(error.description.hasPrefix("/nonexistent/podwire.yaml: cannot read the topology file"))
        }
    }

    @Test func errorsPrintOneBlockEach() {
        let e = TopologyErrors([
            TopologyError(file: "x.yaml", line: 7, column: 34, path: "spec.nodes[0].address",
                          message: "expected an IPv4 address with a prefix length, like 192.168.50.11/24; got \"192.168.50.11\"",
                          hint: "add the prefix length"),
            TopologyError(file: "x.yaml", line: 9, column: 1, path: "", message: "invalid YAML: x"),
        ])
        #expect(e.description == """
            x.yaml:7:34: spec.nodes[0].address: expected an IPv4 address with a prefix length, like 192.168.50.11/24; got "192.168.50.11"
              hint: add the prefix length
            x.yaml:9:1: invalid YAML: x
            """)
    }
}
