// The same scenarios as `podwire bench --json` (PodwireKit/BenchScenarios.swift), measured by
// ordo-one/benchmark with its malloc interposer, so allocation counts are real counts.
import Benchmark
import Engine
import PodwireKit

/// Datagrams pushed through the bridged path per benchmark iteration.
let packetsPerIteration = 1_000

/// One warmed-up world per bridged benchmark, built once in `setup` (not per iteration), so
/// every measured iteration is steady state: ARP resolved, pool, queues and files at size.
nonisolated(unsafe) var bridged: [UDPPathScenario?] = [nil, nil, nil]

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
            let scenario = bridged[2]!
            for _ in benchmark.scaledIterations {
                blackHole(scenario.deliver(packets: packetsPerIteration))
            }
        },
        setup: {
            let scenario = UDPPathScenario(.crossNodeVXLAN, capture: false)
            scenario.deliver(packets: 20_000)
            bridged[2] = scenario
        },
        teardown: { bridged[2] = nil }
    )

    for capture in [false, true] {
        let slot = capture ? 1 : 0
        Benchmark(
            "Bridged UDP 1400 B, capture \(capture ? "on" : "off") (\(packetsPerIteration) datagrams)",
            // Capture on writes ~5.9 KB per datagram to /dev/shm: bound the iterations so a
            // run stays under ~1.5 GB there.
            configuration: .init(maxIterations: capture ? 250 : 1_000),
            closure: { benchmark in
                let scenario = bridged[slot]!
                for _ in benchmark.scaledIterations {
                    blackHole(scenario.deliver(packets: packetsPerIteration))
                }
            },
            setup: {
                let scenario = UDPPathScenario(.bridged, capture: capture)
                scenario.deliver(packets: 20_000)
                bridged[slot] = scenario
            },
            teardown: {
                bridged[slot]?.tearDown()
                bridged[slot] = nil
            }
        )
    }
}
