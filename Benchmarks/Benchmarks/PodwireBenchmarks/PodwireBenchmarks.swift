// The same scenarios as `podwire bench --json` (PodwireKit/BenchScenarios.swift), measured by
// ordo-one/benchmark with its malloc interposer, so allocation counts are real counts.
import Benchmark
import Engine
import PodwireKit

/// Datagrams pushed through the bridged path per benchmark iteration.
let packetsPerIteration = 1_000

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .instructions],
        maxDuration: .seconds(5),
        maxIterations: 1_000
    )

    // ns-3's bench-scheduler model: 100,000 pending events; each pop schedules one more.
    // One scaled iteration = one event, so throughput reads as events/s.
    Benchmark("Engine hold model, 100k pending (events)",
              configuration: .init(scalingFactor: .mega,
                                   thresholds: [.mallocCountTotal: .init(absolute: [.p90: 0])])) { benchmark in
        var model = HoldModel(pendingEvents: 100_000, seed: 1)
        _ = model.run(events: 200_000)  // warm up: the heap is at its working size
        benchmark.startMeasurement()
        blackHole(model.run(events: benchmark.scaledIterations.count))
    }

    // client → cni0 → server, 1400-byte UDP payloads, every hop through veth and bridge.
    // One iteration = `packetsPerIteration` datagrams delivered; mallocs are per iteration.
    for capture in [false, true] {
        let name = "Bridged UDP 1400 B, capture \(capture ? "on" : "off") (\(packetsPerIteration) datagrams)"
        Benchmark(name, configuration: .init(
            thresholds: capture ? [:] : [.mallocCountTotal: .init(absolute: [.p90: 0])]
        )) { benchmark in
            let scenario = BridgedUDPScenario(capture: capture)
            scenario.deliver(packets: 20_000)  // warm up: ARP resolved, pool and queues at size
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(scenario.deliver(packets: packetsPerIteration))
            }
        }
    }
}
