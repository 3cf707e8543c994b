// The same scenarios as `podwire bench --json` (PodwireKit/BenchScenarios.swift), measured by
// ordo-one/benchmark with its malloc interposer, so allocation counts are real counts.
import Benchmark
import Engine
import PodwireKit

/// Datagrams pushed through a UDP path per benchmark iteration.
let packetsPerIteration = 1_000

/// One warmed-up world per UDP path benchmark, built once in `setup` (not per iteration), so
/// every measured iteration is steady state: ARP resolved, pool, queues and files at size,
/// and for ClusterIP the flow's conntrack entry made. Slots: 0/1 bridged capture off/on,
/// 2 cross-node VXLAN, 3/4 ClusterIP capture off/on.
nonisolated(unsafe) var scenarios: [UDPPathScenario?] = [nil, nil, nil, nil, nil]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        maxDuration: .seconds(5),
        maxIterations: 1_000
    )

    // ns-3's bench-scheduler model: 100,000 pending events; each pop schedules one more.
    // One scaled iteration = one event, so throughput reads as events/s.
    Benchmark("Engine hold model, 100k pending (events)",
              configuration: .init(scalingFactor: .mega)) { benchmark in
        var model = HoldModel(pendingEvents: 100_000, seed: 1)
        _ = model.run(events: 200_000)  // warm up: the heap is at its working size
        benchmark.startMeasurement()
        blackHole(model.run(events: benchmark.scaledIterations.count))
    }

    // client → cni0 → server, 1400-byte UDP payloads, every hop through veth and bridge.
    // One iteration = `packetsPerIteration` datagrams delivered: throughput × 1000 is
    // delivered packets/s, and Malloc (total) ÷ 1000 is mallocs per packet.
    // pod → pod across nodes over flannel VXLAN (encapsulation into headroom, LAN switch,
    // decapsulation), capture off: the path must allocate nothing either.
    Benchmark(
        "Cross-node VXLAN UDP 1400 B, capture off (\(packetsPerIteration) datagrams)",
        configuration: .init(maxIterations: 500),
        closure: { benchmark in
            let scenario = scenarios[2]!
            for _ in benchmark.scaledIterations {
                blackHole(scenario.deliver(packets: packetsPerIteration))
            }
        },
        setup: {
            let scenario = UDPPathScenario(.crossNodeVXLAN, capture: false)
            scenario.deliver(packets: 20_000)
            scenarios[2] = scenario
        },
        teardown: { scenarios[2] = nil }
    )

    for capture in [false, true] {
        let slot = capture ? 1 : 0
        Benchmark(
            "Bridged UDP 1400 B, capture \(capture ? "on" : "off") (\(packetsPerIteration) datagrams)",
            // Capture on writes ~5.9 KB per datagram to /dev/shm: bound the iterations so a
            // run stays under ~1.5 GB there.
            configuration: .init(maxIterations: capture ? 250 : 1_000),
            closure: { benchmark in
                let scenario = scenarios[slot]!
                for _ in benchmark.scaledIterations {
                    blackHole(scenario.deliver(packets: packetsPerIteration))
                }
            },
            setup: {
                let scenario = UDPPathScenario(.bridged, capture: capture)
                scenario.deliver(packets: 20_000)
                scenarios[slot] = scenario
            },
            teardown: {
                scenarios[slot]?.tearDown()
                scenarios[slot] = nil
            }
        )
    }

    // pod → Service (ClusterIP 10.96.0.20:80) → pod on another node over flannel VXLAN, with
    // kube-proxy's and flannel's rules and conntrack on both nodes (the bridged and VXLAN
    // benchmarks run without netfilter). One client socket: after setup every datagram is a
    // conntrack hit, the DNAT rewrite on pi-1 and the filter/nat hooks on both nodes; no
    // new entries. Capture off must allocate nothing per datagram.
    for capture in [false, true] {
        let slot = capture ? 4 : 3
        Benchmark(
            "ClusterIP UDP 1400 B, capture \(capture ? "on" : "off") (\(packetsPerIteration) datagrams)",
            // Capture on writes 13 capture points, ~19 KB per datagram, to /dev/shm: bound
            // the iterations so a run stays under ~1.5 GB there.
            configuration: .init(maxIterations: capture ? 80 : 500),
            closure: { benchmark in
                let scenario = scenarios[slot]!
                for _ in benchmark.scaledIterations {
                    blackHole(scenario.deliver(packets: packetsPerIteration))
                }
            },
            setup: {
                let scenario = UDPPathScenario(.clusterIP, capture: capture)
                scenario.deliver(packets: 20_000)
                precondition(scenario.serviceDNATVerified, "ClusterIP scenario: no DNATed conntrack entry after warm-up")
                scenarios[slot] = scenario
            },
            teardown: {
                if let scenario = scenarios[slot] {
                    precondition(scenario.conservationHolds && scenario.serviceDNATVerified,
                                 "ClusterIP scenario: packets lost or the flow no longer DNATed")
                    scenario.tearDown()
                }
                scenarios[slot] = nil
            }
        )
    }
}
