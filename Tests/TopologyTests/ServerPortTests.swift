/// A udp step's echo server and an iperf3 step's server cannot share a UDP port of one
/// namespace. The clash used to show only after the run, as a "not started" flow with
/// exit 0; it is a mistake in the file, reported at the later step's server.

import Testing
@testable import Topology

@Suite struct ServerPortTests {
    @Test func anIperf3ServerCannotTakeAnEchoServersPort() {
        let yaml = targetFile("""
                - {at: 0s, udp: {client: pod/client, server: pod/web-0, port: 8080}}
                - {at: 1s, iperf3: {client: pod/client, server: svc/web:80, udp: true}}
            """)
        // svc/web:80 has targetPort `http`, web-0's container port 8080.
        expectError(yaml, line: 11, column: 53, path: "spec.scenario[1].iperf3.server",
                    ["UDP port 8080 of pod/web-0 is taken by the echo server of the udp step spec.scenario[0] (line 10), "
                     + "so this iperf3 step's iperf3 server cannot listen there (EADDRINUSE)", "another port"])
        #expect(Fixtures.errors(yaml).count == 1)
    }

    @Test func anEchoServerCannotTakeAnIperf3ServersPortThroughANodePort() {
        expectError(targetFile("""
                - {at: 0s, iperf3: {client: pod/client, server: pod/web-0, port: 8080, udp: true}}
                - {at: 2s, udp: {client: host/ext, server: node/pi-2:30080}}
            """), line: 11, column: 48, path: "spec.scenario[1].udp.server",
                    ["UDP port 8080 of pod/web-0 is taken by the iperf3 server of the iperf3 step spec.scenario[0] (line 10)"])
        // A numeric targetPort: Service dns sends port 53 to 53.
        expectError(targetFile("""
                - {at: 0s, udp: {client: pod/client, server: svc/dns}}
                - {at: 1s, iperf3: {client: pod/client, server: pod/web-0, port: 53, udp: true}}
            """), line: 11, column: 53, path: "spec.scenario[1].iperf3.server", ["UDP port 53 of pod/web-0 is taken by the echo server"])
    }

    @Test func stepsOfOneKindShareAServerAndOtherPortsAreFree() throws {
        _ = try Fixtures.parse(targetFile("""
                - {at: 0s, udp: {client: pod/client, server: svc/web:80}}
                - {at: 1s, udp: {client: host/ext, server: node/pi-1:30080}}
                - {at: 2s, udp: {client: pod/client, server: pod/web-0, port: 8080}}
                - {at: 3s, iperf3: {client: pod/client, server: pod/web-0, port: 5201, udp: true}}
                - {at: 4s, iperf3: {client: pod/client, server: pod/web-0, port: 5201, udp: true}}
                - {at: 5s, iperf3: {client: pod/client, server: node/pi-1, port: 8080, udp: true}}
                - {at: 6s, udp: {client: pod/client, server: pod/client, port: 5201}}
            """))
        // A udp step without echo starts no server.
        _ = try Fixtures.parse(targetFile("""
                - {at: 0s, udp: {client: pod/client, server: pod/web-0, port: 8080, echo: false}}
                - {at: 1s, iperf3: {client: pod/client, server: svc/web:80, udp: true}}
            """))
    }

    @Test func aDeploymentsReplicasAreOneServerSide() {
        let yaml = Fixtures.header + """
              nodes: [{name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}]
              scenario:
                - {at: 0s, iperf3: {client: pod/client, server: svc/web:80, udp: true}}
                - {at: 1s, udp: {client: pod/client, server: deploy/web, port: 9000}}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: client}
            spec: {containers: [{name: c, image: busybox}]}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              replicas: 3
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: web, image: nginx}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec: {selector: {app: web}, ports: [{port: 80, targetPort: 9000, protocol: UDP}]}

            """
        expectError(yaml, line: 8, column: 50, path: "spec.scenario[1].udp.server",
                    ["UDP port 9000 of deploy/web is taken by the iperf3 server of the iperf3 step spec.scenario[0] (line 7)"])
    }
}
