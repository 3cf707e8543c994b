/// Services across documents (names, ClusterIPs, node ports) and the scenario targets that
/// name them: `svc/NAME:PORT` and `node/NAME:NODEPORT`.

import Testing
import Wire
@testable import Topology

/// Two nodes and a host (lines 1-8), `scenario:` on line 9 and the given steps from line 10,
/// then Pods client and web-0 and the Services web (NodePort; 80/UDP "http" with node port
/// 30080, 9090/TCP "admin") and dns (53/UDP).
func targetFile(_ steps: String) -> String {
    Fixtures.header + """
          nodes:
            - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
            - {name: pi-2, profile: raspberry-pi-4b, address: 192.168.50.12/24}
          hosts: [{name: ext, address: 192.168.50.100/24}]
          scenario:

        """ + steps + """

        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: client}
        spec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: web-0, labels: {app: web}}
        spec: {nodeName: pi-1, containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 8080, protocol: UDP}]}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          type: NodePort
          selector: {app: web}
          ports:
            - {name: http, protocol: UDP, port: 80, targetPort: http, nodePort: 30080}
            - {name: admin, port: 9090}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: dns}
        spec: {selector: {app: web}, ports: [{port: 53, protocol: UDP}]}

        """
}

@Suite struct ServiceTargetTests {
    /// (Step 2 sends without an echo server: with one, step 4's iperf3 server would want the
    /// same port of web-0, which ServerPortTests shows is refused.)
    @Test func serviceAndNodePortTargetsResolve() throws {
        let t = try Fixtures.parse(targetFile("""
                - {at: 0s, udp: {client: pod/client, server: svc/web:80}}
                - {at: 0s, udp: {client: pod/client, server: service/web:http, count: 1}}
                - {at: 0s, udp: {client: pod/web-0, server: services/dns, echo: false}}
                - {at: 0s, udp: {client: host/ext, server: node/pi-2:30080, port: 30080}}
                - {at: 0s, iperf3: {client: node/pi-1, server: svc/dns:53, udp: true}}
                - {at: 0s, udp: {client: pod/client, server: svc/web:80, port: 80}}
            """))
        let servers: [(Target, UInt16)] = t.scenario.compactMap {
            switch $0.action {
            case .udp(let s): (s.server, s.port)
            case .iperf3(let s): (s.server, s.port)
            case .ping: nil
            }
        }
        #expect(servers.map(\.0) == [.service(name: "web", port: 80), .service(name: "web", port: 80), .service(name: "dns", port: 53),
                                     .nodePort(node: "pi-2", port: 30080), .service(name: "dns", port: 53), .service(name: "web", port: 80)])
        #expect(servers.map(\.1) == [80, 80, 53, 30080, 53, 80])
        #expect(servers.map(\.0.description) == ["svc/web:80", "svc/web:80", "svc/dns:53", "node/pi-2:30080", "svc/dns:53", "svc/web:80"])
        #expect(t.services.map(\.name) == ["web", "dns"])
        #expect(t.services[0].ports.map(\.nodePort?.description) == ["30080", t.services[0].ports[1].nodePort?.description])
        #expect(t.services[1].ports[0].nodePort == nil)
    }

    @Test func aServiceWithSeveralPortsNeedsOneNamed() {
        expectError(targetFile("    - {at: 0s, udp: {client: pod/client, server: svc/web}}"),
                    line: 10, column: 50, path: "spec.scenario[0].udp.server",
                    ["Service web has 2 ports (80/UDP (http), 9090/TCP (admin))", "must say which", "`svc/web:http`"])
    }

    @Test func unknownServicePorts() {
        let yaml = targetFile("""
                - {at: 0s, udp: {client: pod/client, server: svc/web:81}}
                - {at: 0s, udp: {client: pod/client, server: svc/web:htp}}
                - {at: 0s, udp: {client: pod/client, server: svc/web:8080}}
            """)
        expectError(yaml, line: 10, column: 50, path: "spec.scenario[0].udp.server", ["Service web has no port 81; its ports: 80/UDP (http), 9090/TCP (admin)"])
        expectError(yaml, line: 11, column: 50, path: "spec.scenario[1].udp.server", ["no port named \"htp\"", "did you mean `http`?"])
        expectError(yaml, line: 12, column: 50, path: "spec.scenario[2].udp.server", ["no port 8080", "not its targetPort or nodePort"])
    }

    @Test func tcpServicePortsAreRefused() {
        expectError(targetFile("    - {at: 0s, udp: {client: pod/client, server: svc/web:admin}}"),
                    line: 10, column: 50, path: "spec.scenario[0].udp.server",
                    ["Service web port 9090 is TCP", "send UDP", "set `protocol: UDP` on that port of Service web (line 22)"])
    }

    @Test func unknownServices() {
        let yaml = targetFile("""
                - {at: 0s, udp: {client: pod/client, server: svc/wbe:80}}
                - {at: 0s, udp: {client: pod/client, server: svc/web-0:80}}
            """)
        expectError(yaml, line: 10, column: 50, path: "spec.scenario[0].udp.server",
                    ["target svc/wbe names no Service in the file; services: web, dns", "did you mean `web`?"])
        expectError(yaml, line: 11, column: 50, path: "spec.scenario[1].udp.server",
                    ["svc/web-0 names no Service", "web-0 is a Pod: write `pod/web-0` and set the step's `port:`"])
    }

    @Test func aServiceTargetCarriesItsPort() {
        expectError(targetFile("    - {at: 0s, udp: {client: pod/client, server: svc/web:80, port: 8080}}"),
                    line: 10, column: 68, path: "spec.scenario[0].udp.port",
                    ["port 8080 contradicts the server svc/web:80", "remove `port:`; the client sends to port 80"])
        expectError(targetFile("    - {at: 0s, iperf3: {client: host/ext, server: node/pi-2:30080, port: 5201, udp: true}}"),
                    line: 10, column: 74, path: "spec.scenario[0].iperf3.port", ["contradicts the server node/pi-2:30080"])
    }

    @Test func servicesDoNotAnswerPing() {
        expectError(targetFile("    - {at: 0s, ping: {from: pod/client, to: svc/web}}"),
                    line: 10, column: 45, path: "spec.scenario[0].ping.to",
                    ["a ClusterIP does not answer ping in kube-proxy's iptables mode (nothing DNATs ICMP); ping a pod instead"])
        expectError(targetFile("    - {at: 0s, ping: {from: pod/client, to: node/pi-2:30080}}"),
                    line: 10, column: 45, path: "spec.scenario[0].ping.to", ["ping has no ports", "write `to: node/pi-2`"])
    }

    @Test func servicesAndNodePortsAreNotClients() {
        let yaml = targetFile("""
                - {at: 0s, udp: {client: svc/web:80, server: pod/web-0}}
                - {at: 0s, ping: {from: svc/web, to: pod/web-0}}
                - {at: 0s, udp: {client: node/pi-1:30080, server: pod/web-0}}
            """)
        expectError(yaml, line: 10, column: 30, path: "spec.scenario[0].udp.client", ["a Service cannot be a client", "no sockets", "send from a pod, node or host"])
        expectError(yaml, line: 11, column: 29, path: "spec.scenario[1].ping.from", ["a Service cannot be a ping source"])
        expectError(yaml, line: 12, column: 30, path: "spec.scenario[2].udp.client", ["a node port cannot be a client", "write `node/pi-1`"])
    }

    @Test func nodePortTargets() {
        let yaml = targetFile("""
                - {at: 0s, udp: {client: host/ext, server: node/pi-2:30081}}
                - {at: 0s, udp: {client: host/ext, server: node/pi-3:30080}}
                - {at: 0s, udp: {client: host/ext, server: node/pi-2:http}}
            """)
        expectError(yaml, line: 10, column: 48, path: "spec.scenario[0].udp.server",
                    ["30081 is not a node port of any Service; node ports: 30080 (Service web port http)", "add `nodePort: 30081`"])
        expectError(yaml, line: 11, column: 48, path: "spec.scenario[1].udp.server", ["target node/pi-3:30080 names no node", "did you mean `pi-1`?"])
        expectError(yaml, line: 12, column: 48, path: "spec.scenario[2].udp.server", ["expected a node port number after `node/pi-2:`"])
    }

    @Test func aTCPNodePortIsRefused() throws {
        let t = try Fixtures.parse(targetFile(""))
        let admin = try #require(t.services[0].ports[1].nodePort)
        #expect((30086...32767).contains(admin))
        expectError(targetFile("    - {at: 0s, udp: {client: host/ext, server: node/pi-2:\(admin)}}"),
                    line: 10, column: 48, path: "spec.scenario[0].udp.server", ["node port \(admin) belongs to Service web port 9090, which is TCP"])
    }

    @Test func nodePortsNeedANodePortService() {
        expectError(Fixtures.header + Fixtures.oneNode + "  scenario:\n    - {at: 0s, udp: {client: node/pi-1, server: node/pi-1:30080}}\n",
                    line: 8, column: 49, path: "spec.scenario[0].udp.server", ["30080 is not a node port: the file has no Service of type NodePort", "add `type: NodePort`"])
    }

    @Test func anInvalidServiceGivesNoKnockOnTargetErrors() {
        let yaml = targetFile("""
                - {at: 0s, udp: {client: pod/client, server: svc/web:80}}
                - {at: 0s, udp: {client: host/ext, server: node/pi-2:30080}}
            """).replacingOccurrences(of: "  type: NodePort\n", with: "  type: LoadBalancer\n")
        let errors = Fixtures.errors(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.path == "spec.type")
    }

    @Test func malformedPortsInTargets() {
        let yaml = targetFile("""
                - {at: 0s, udp: {client: pod/client, server: "svc/web:"}}
                - {at: 0s, udp: {client: pod/client, server: "svc/:80"}}
                - {at: 0s, udp: {client: pod/client, server: svc/web:70000}}
                - {at: 0s, udp: {client: pod/client, server: pod/web-0:8080}}
                - {at: 0s, ping: {from: pod/client, to: pod/web-0:8080}}
            """)
        expectError(yaml, line: 10, column: 50, path: "spec.scenario[0].udp.server", ["expected a port number or name after `svc/web:`"])
        expectError(yaml, line: 11, column: 50, path: "spec.scenario[1].udp.server", ["expected a name after `svc/`"])
        expectError(yaml, line: 12, column: 50, path: "spec.scenario[2].udp.server", ["from 1 to 65535"])
        expectError(yaml, line: 13, column: 50, path: "spec.scenario[3].udp.server", ["a pod target takes no port", "set the step's `port:`"])
        expectError(yaml, line: 14, column: 45, path: "spec.scenario[4].ping.to", ["a pod target takes no port", "ping has no ports: write `pod/web-0`"])
    }
}

@Suite struct ServiceCrossDocumentTests {
    private func twoServices(_ first: String, _ second: String, cluster: String = "") -> String {
        Fixtures.header + cluster + Fixtures.oneNode
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: \(first)\n"
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: \(second)\n"
    }

    @Test func serviceNamesAreUniquePerNamespace() throws {
        let service = "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"
        expectError(Fixtures.header + Fixtures.oneNode + service + service,
                    line: 15, column: 18, path: "metadata.name", ["duplicate Service name \"web\" in namespace default", "line 10"])
        // Another namespace, or a Pod of the same name, is fine.
        let other = "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n"
        let pod = "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: a, image: busybox}]}\n"
        let t = try Fixtures.parse(Fixtures.header + Fixtures.oneNode + service + other + pod)
        #expect(t.services.map(\.namespace) == ["default", "shop"])
    }

    @Test func writtenClusterIPs() {
        // Service a starts on line 8 (its spec on line 11), b on line 13 (spec on line 16).
        expectError(twoServices("{clusterIP: 10.200.0.5, ports: [{port: 80}]}", "{ports: [{port: 80}]}"),
                    line: 11, column: 19, path: "spec.clusterIP", ["clusterIP 10.200.0.5 is outside serviceSubnet 10.96.0.0/12", "provided IP is not in the valid range"])
        expectError(twoServices("{clusterIP: 10.96.0.0, ports: [{port: 80}]}", "{ports: [{port: 80}]}"),
                    line: 11, column: 19, path: "spec.clusterIP", ["network address of serviceSubnet 10.96.0.0/12", "10.96.0.20"])
        expectError(twoServices("{clusterIP: 10.111.255.255, ports: [{port: 80}]}", "{ports: [{port: 80}]}"),
                    line: 11, column: 19, path: "spec.clusterIP", ["broadcast address"])
        expectError(twoServices("{clusterIP: 10.96.0.20, ports: [{port: 80}]}", "{clusterIP: 10.96.0.20, ports: [{port: 80}]}"),
                    line: 16, column: 19, path: "spec.clusterIP", ["clusterIP 10.96.0.20 is already used by Service a (line 8)", "already allocated"])
    }

    @Test func kubernetesAndKubeDNSAddressesMayBeWritten() throws {
        let t = try Fixtures.parse(twoServices("{clusterIP: 10.96.0.1, ports: [{port: 443}]}", "{clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}"))
        #expect(t.services.map(\.clusterIP.description) == ["10.96.0.1", "10.96.0.10"])
    }

    @Test func writtenNodePorts() {
        expectError(twoServices("{type: NodePort, ports: [{port: 80, nodePort: 8080}]}", "{ports: [{port: 80}]}"),
                    line: 11, column: 53, path: "spec.ports[0].nodePort", ["nodePort 8080 is outside the node port range 30000-32767", "spec.cluster.serviceNodePortRange"])
        expectError(twoServices("{type: NodePort, ports: [{port: 80, nodePort: 30080}]}", "{type: NodePort, ports: [{port: 81, nodePort: 30080}]}"),
                    line: 16, column: 53, path: "spec.ports[0].nodePort", ["nodePort 30080 is already used by Service a (line 8)", "unique across the cluster"])
        expectError(twoServices("{type: NodePort, ports: [{port: 80, nodePort: 30080}]}", "{ports: [{port: 80}]}", cluster: "  cluster: {serviceNodePortRange: 31000-31999}\n"),
                    line: 12, column: 53, path: "spec.ports[0].nodePort", ["outside the node port range 31000-31999"])
    }

    @Test func nodePortRangeSyntax() throws {
        let t = try Fixtures.parse(Fixtures.header + "  cluster: {serviceNodePortRange: 30000+99}\n" + Fixtures.oneNode)
        #expect(t.cluster.serviceNodePortRange == 30000...30099)
        expectError(Fixtures.header + "  cluster: {serviceNodePortRange: 32767-30000}\n" + Fixtures.oneNode,
                    line: 5, column: 35, path: "spec.cluster.serviceNodePortRange", ["FIRST-LAST", "got \"32767-30000\"", "30000-32767"])
        expectError(Fixtures.header + "  cluster: {serviceNodePortRange: 30000:32767}\n" + Fixtures.oneNode,
                    line: 5, column: 35, path: "spec.cluster.serviceNodePortRange", ["expected a port range"])
    }
}
